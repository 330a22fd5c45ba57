//! Feedback users send from the console's help page (or `lattice feedback
//! send`), for admins to read with `lattice feedback ls`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Feedback {
    Table,
    Id,
    UserId,
    Email,
    Message,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Feedback::Table)
                    .col(
                        ColumnDef::new(Feedback::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Feedback::UserId).string_len(36).not_null())
                    .col(ColumnDef::new(Feedback::Email).text().not_null())
                    .col(ColumnDef::new(Feedback::Message).text().not_null())
                    .col(ColumnDef::new(Feedback::CreatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Feedback::Table).to_owned())
            .await
    }
}
