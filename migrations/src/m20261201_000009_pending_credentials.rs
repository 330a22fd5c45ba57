//! A rotation's new credentials, stored (sealed) before they are applied
//! inside the workload and promoted once they are: a failure between the two
//! never loses the password that works.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Workloads {
    Table,
    PendingCredentials,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Workloads::Table)
                    .add_column(ColumnDef::new(Workloads::PendingCredentials).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Workloads::Table)
                    .drop_column(Workloads::PendingCredentials)
                    .to_owned(),
            )
            .await
    }
}
