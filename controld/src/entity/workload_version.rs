//! One version of a workload's spec, kept for `lattice history` and
//! `lattice rollback`. The template is sealed (env values may be secrets);
//! the summary is what history shows.
use sea_orm::entity::prelude::*;

/// `workload_versions` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "workload_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub workload_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i64,
    /// The sealed `Template` this version runs.
    pub template: String,
    /// Non-secret JSON: image, ports, resources, env keys, command.
    pub summary: String,
    /// What made it ("deploy", "update", "env set A", "rollback to v2").
    pub cause: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
