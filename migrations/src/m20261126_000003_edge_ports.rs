//! Public edge ports: one per exposed workload port, kept across restarts
//! of controld and the agent and across stop/start, freed on delete.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EdgePorts {
    Table,
    Port,
    WorkloadId,
    ContainerPort,
}

#[derive(DeriveIden)]
enum Workloads {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EdgePorts::Table)
                    .col(
                        ColumnDef::new(EdgePorts::Port)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(EdgePorts::WorkloadId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(EdgePorts::ContainerPort)
                            .integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(EdgePorts::Table, EdgePorts::WorkloadId)
                            .to(Workloads::Table, Workloads::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_edge_ports_workload")
                    .table(EdgePorts::Table)
                    .col(EdgePorts::WorkloadId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EdgePorts::Table).to_owned())
            .await
    }
}
