//! A data volume whose workload was removed without `--purge`: still on its
//! node, listed by `lattice volumes ls`, reattached by `deploy
//! --reuse-volume` (its id is the old workload's, so the Docker volume name
//! and the sealed credentials stay valid), removed by `lattice volumes rm`.
use lattice_proto::state::Kind;
use sea_orm::entity::prelude::*;

/// `kept_volumes` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "kept_volumes")]
pub struct Model {
    /// The removed workload's id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub owner_id: String,
    /// The removed workload's name.
    pub name: String,
    pub kind: Kind,
    pub image: String,
    /// Where the volume is (None once that node was removed).
    pub node_id: Option<String>,
    /// The workload's sealed credentials: the data inside was made with them.
    pub credentials: Option<String>,
    /// When the workload was created.
    pub created_at: i64,
    /// When it was removed and its volume kept.
    pub kept_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
