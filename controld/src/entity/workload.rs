//! A workload: desired state from the API, observed state from its agent.
use lattice_proto::state::{Desired, Kind, Status};
use sea_orm::entity::prelude::*;

/// `workloads` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "workloads")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub owner_id: String,
    pub name: String,
    pub kind: Kind,
    pub image: String,
    pub spec: String,
    pub credentials: Option<String>,
    /// A rotation's sealed new credentials, until they are applied.
    pub pending_credentials: Option<String>,
    pub desired: Desired,
    pub purge: bool,
    pub generation: i64,
    /// The spec's version (`lattice history`); a new one per change of spec.
    pub version: i64,
    pub status: Status,
    pub status_message: String,
    pub progress_percent: i32,
    pub node_id: Option<String>,
    pub container_id: Option<String>,
    pub published_ports: String,
    pub last_log_lines: String,
    pub cpu_millis: i64,
    pub memory_bytes: i64,
    /// Bytes of its stored spec (`quota::stored_bytes`), kept by the save
    /// hook below so a node's spec total is a sum in SQL.
    pub spec_bytes: i64,
    /// Restarts of the current container after it exited.
    pub restart_count: i32,
    /// Its last exit code, once it has exited.
    pub last_exit_code: Option<i32>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    /// Keeps `spec_bytes` true to the row on every insert and update that
    /// has the fields it counts (all of them do: rows are updated from a
    /// loaded model).
    async fn before_save<C>(mut self, _db: &C, _insert: bool) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        if let (Some(name), Some(image), Some(spec), Some(credentials), Some(pending)) = (
            self.name.try_as_ref(),
            self.image.try_as_ref(),
            self.spec.try_as_ref(),
            self.credentials.try_as_ref(),
            self.pending_credentials.try_as_ref(),
        ) {
            let n = crate::quota::stored_bytes(
                name,
                image,
                spec,
                credentials.as_deref(),
                pending.as_deref(),
            );
            self.spec_bytes
                .set_if_not_equals(i64::try_from(n).unwrap_or(i64::MAX));
        }
        Ok(self)
    }
}
