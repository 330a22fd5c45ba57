//! A public edge port assigned to one exposed port of a workload.
use sea_orm::entity::prelude::*;

/// `edge_ports` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "edge_ports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub port: i32,
    pub workload_id: String,
    pub container_port: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
