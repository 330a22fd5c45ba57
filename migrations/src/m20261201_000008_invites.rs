//! Registration by invite and disabled accounts: one-time invites (stored
//! hashed) and a `disabled_at` time on users.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Invites {
    Table,
    CodeHash,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    DisabledAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Invites::Table)
                    .col(
                        ColumnDef::new(Invites::CodeHash)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Invites::CreatedBy).string_len(36).not_null())
                    .col(ColumnDef::new(Invites::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Invites::ExpiresAt).big_integer().not_null())
                    .col(ColumnDef::new(Invites::UsedAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(ColumnDef::new(Users::DisabledAt).big_integer().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::DisabledAt)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Invites::Table).to_owned())
            .await
    }
}
