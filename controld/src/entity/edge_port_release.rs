//! An edge port a deleted workload let go: whose it was and when.
use sea_orm::entity::prelude::*;

/// `edge_port_releases` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "edge_port_releases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub port: i32,
    pub owner_id: String,
    pub released_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
