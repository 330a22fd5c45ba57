//! Failed sign-ins counted per (account, client address) instead of per
//! account, so nobody can lock another person out from afar: the counters
//! start afresh (they are throttling state, not data).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LoginThrottle {
    Table,
    Email,
    Source,
    Failures,
    WindowStartedAt,
    LockedUntil,
}

fn table(with_source: bool) -> TableCreateStatement {
    let mut t = Table::create();
    t.table(LoginThrottle::Table).col(
        ColumnDef::new(LoginThrottle::Email)
            .string_len(254)
            .not_null(),
    );
    if with_source {
        t.col(
            ColumnDef::new(LoginThrottle::Source)
                .string_len(64)
                .not_null(),
        )
        .primary_key(
            Index::create()
                .col(LoginThrottle::Email)
                .col(LoginThrottle::Source),
        );
    } else {
        t.primary_key(Index::create().col(LoginThrottle::Email));
    }
    t.col(ColumnDef::new(LoginThrottle::Failures).integer().not_null())
        .col(
            ColumnDef::new(LoginThrottle::WindowStartedAt)
                .big_integer()
                .not_null(),
        )
        .col(
            ColumnDef::new(LoginThrottle::LockedUntil)
                .big_integer()
                .null(),
        )
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LoginThrottle::Table).to_owned())
            .await?;
        manager.create_table(table(true)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LoginThrottle::Table).to_owned())
            .await?;
        manager.create_table(table(false)).await
    }
}
