//! What scheduling reads on every placement, kept small: each workload's
//! stored spec size as a column (summed per node in SQL instead of loading
//! every spec), and an index over what a node's reservation sums, so the
//! scheduler reads an index, not the table.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Workloads {
    Table,
    NodeId,
    CpuMillis,
    MemoryBytes,
    SpecBytes,
    Status,
}

const RESERVATIONS: &str = "idx_workloads_node_reservation";
const PENDING: &str = "idx_workloads_status";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Workloads::Table)
                    .add_column(
                        ColumnDef::new(Workloads::SpecBytes)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        // Bytes, as controld counts them (`quota::stored_bytes`).
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        let len = |col: &str| {
            if postgres {
                format!("COALESCE(octet_length({col}), 0)")
            } else {
                format!("COALESCE(length(CAST({col} AS BLOB)), 0)")
            }
        };
        let sum = [
            "name",
            "image",
            "spec",
            "credentials",
            "pending_credentials",
        ]
        .map(len)
        .join(" + ");
        manager
            .get_connection()
            .execute_unprepared(&format!("UPDATE workloads SET spec_bytes = {sum}"))
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(RESERVATIONS)
                    .table(Workloads::Table)
                    .col(Workloads::NodeId)
                    .col(Workloads::CpuMillis)
                    .col(Workloads::MemoryBytes)
                    .col(Workloads::SpecBytes)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(PENDING)
                    .table(Workloads::Table)
                    .col(Workloads::Status)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [RESERVATIONS, PENDING] {
            manager
                .drop_index(Index::drop().name(name).table(Workloads::Table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Workloads::Table)
                    .drop_column(Workloads::SpecBytes)
                    .to_owned(),
            )
            .await
    }
}
