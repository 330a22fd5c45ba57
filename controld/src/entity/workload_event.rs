//! One status change of a workload, for `lattice status`.
use lattice_proto::state::Status;
use sea_orm::entity::prelude::*;

/// `workload_events` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "workload_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = true)]
    pub id: i64,
    pub workload_id: String,
    pub at: i64,
    pub status: Status,
    pub message: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
