//! The state store's schema, one file per migration. Names are the file stems
//! (`mYYYYMMDD_NNNNNN_what`), which is what sea-orm-migration records in its
//! `seaql_migrations` table; controld compares that table with
//! [`Migrator::migrations`] to refuse a database newer than itself.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_accounts;
mod m20261126_000002_workloads;
mod m20261126_000003_edge_ports;
mod m20261126_000004_restarts;
mod m20261201_000005_audit;
mod m20261201_000006_login_per_address;
mod m20261201_000007_edge_quarantine;
mod m20261201_000008_invites;
mod m20261201_000009_pending_credentials;
mod m20261202_000010_node_secret_rotation;
mod m20261202_000011_feedback;
mod m20261202_000012_versions_and_volumes;
mod m20261203_000013_placement;

/// Every migration this build knows, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_accounts::Migration),
            Box::new(m20261126_000002_workloads::Migration),
            Box::new(m20261126_000003_edge_ports::Migration),
            Box::new(m20261126_000004_restarts::Migration),
            Box::new(m20261201_000005_audit::Migration),
            Box::new(m20261201_000006_login_per_address::Migration),
            Box::new(m20261201_000007_edge_quarantine::Migration),
            Box::new(m20261201_000008_invites::Migration),
            Box::new(m20261201_000009_pending_credentials::Migration),
            Box::new(m20261202_000010_node_secret_rotation::Migration),
            Box::new(m20261202_000011_feedback::Migration),
            Box::new(m20261202_000012_versions_and_volumes::Migration),
            Box::new(m20261203_000013_placement::Migration),
        ]
    }
}
