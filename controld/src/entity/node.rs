//! A machine lending capacity.
use sea_orm::entity::prelude::*;

/// `nodes` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "nodes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub secret_hash: String,
    pub created_at: i64,
    pub last_seen_at: Option<i64>,
    pub connected: bool,
    pub docker_ok: bool,
    pub docker_error: Option<String>,
    pub draining: bool,
    pub cpu_millis_capacity: i64,
    pub memory_bytes_capacity: i64,
    pub address: Option<String>,
    pub agent_version: Option<String>,
    /// Hash of a rotation's new secret, until the agent confirms it saved it.
    pub pending_secret_hash: Option<String>,
    /// That secret, sealed, so an unconfirmed rotation can be sent again.
    pub pending_secret: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
