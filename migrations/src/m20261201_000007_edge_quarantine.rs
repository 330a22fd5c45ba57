//! Edge ports let go by a deleted workload, with whose they were and when:
//! another owner gets one only after a quarantine (a client that still has
//! the old address must not reach a stranger's workload), least recently
//! released first.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EdgePortReleases {
    Table,
    Port,
    OwnerId,
    ReleasedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EdgePortReleases::Table)
                    .col(
                        ColumnDef::new(EdgePortReleases::Port)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(EdgePortReleases::OwnerId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(EdgePortReleases::ReleasedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EdgePortReleases::Table).to_owned())
            .await
    }
}
