//! Versions of a workload's spec (`lattice history`, `rollback`) and the data
//! volumes that outlive their workload (`lattice volumes`, `--reuse-volume`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Workloads {
    Table,
    Version,
}

#[derive(DeriveIden)]
enum WorkloadVersions {
    Table,
    WorkloadId,
    Version,
    Template,
    Summary,
    Cause,
    CreatedAt,
}

#[derive(DeriveIden)]
enum KeptVolumes {
    Table,
    Id,
    OwnerId,
    Name,
    Kind,
    Image,
    NodeId,
    Credentials,
    CreatedAt,
    KeptAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Workloads::Table)
                    .add_column(
                        ColumnDef::new(Workloads::Version)
                            .big_integer()
                            .not_null()
                            .default(1),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WorkloadVersions::Table)
                    .col(
                        ColumnDef::new(WorkloadVersions::WorkloadId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WorkloadVersions::Version)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(WorkloadVersions::Template).text().not_null())
                    .col(ColumnDef::new(WorkloadVersions::Summary).text().not_null())
                    .col(ColumnDef::new(WorkloadVersions::Cause).text().not_null())
                    .col(
                        ColumnDef::new(WorkloadVersions::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(WorkloadVersions::WorkloadId)
                            .col(WorkloadVersions::Version),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(KeptVolumes::Table)
                    .col(
                        ColumnDef::new(KeptVolumes::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(KeptVolumes::OwnerId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(ColumnDef::new(KeptVolumes::Name).string_len(63).not_null())
                    .col(ColumnDef::new(KeptVolumes::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(KeptVolumes::Image).text().not_null())
                    .col(ColumnDef::new(KeptVolumes::NodeId).string_len(36).null())
                    .col(ColumnDef::new(KeptVolumes::Credentials).text().null())
                    .col(
                        ColumnDef::new(KeptVolumes::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(KeptVolumes::KeptAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        // One kept volume per name and owner: a deploy of that name either
        // reuses it or is refused, so a second can never pile up.
        manager
            .create_index(
                Index::create()
                    .name("kept_volumes_owner_name")
                    .table(KeptVolumes::Table)
                    .col(KeptVolumes::OwnerId)
                    .col(KeptVolumes::Name)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(KeptVolumes::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(WorkloadVersions::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Workloads::Table)
                    .drop_column(Workloads::Version)
                    .to_owned(),
            )
            .await
    }
}
