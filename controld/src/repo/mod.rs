//! SQL for nodes, join tokens and workloads. Each method is one retried unit.

use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use lattice_proto::state::Status;

use crate::clock;
use crate::entity::{edge_port, join_token, node, workload, workload_event};
use crate::error::{Error, Result};
use crate::store::{is_unique_violation, retry};

mod edge_ports;
mod node_secrets;
mod node_view;
mod placement;
mod stats;
mod versions;
mod volumes;
pub use edge_ports::{EdgePool, pick_ports};
pub use placement::Reserved;
pub use versions::{KEPT_VERSIONS, PortChange};

/// Rows a new workload's transaction writes besides its own.
pub struct NewRows {
    /// Its first version.
    pub version: crate::entity::workload_version::ActiveModel,
    /// The kept volume it reattaches (its record goes).
    pub reused_volume: Option<String>,
}

/// Repository over fleet and workload tables.
#[derive(Clone)]
pub struct Repo {
    db: DatabaseConnection,
    node_view: node_view::NodeView,
}

impl Repo {
    /// Wraps a migrated connection.
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            node_view: node_view::NodeView::default(),
        }
    }

    // ---- join tokens -------------------------------------------------

    /// Stores a join token hash.
    pub async fn insert_join_token(&self, hash: &str, by: &str, expires_at: i64) -> Result<()> {
        retry(|| {
            join_token::ActiveModel {
                token_hash: Set(hash.to_string()),
                created_by: Set(by.to_string()),
                created_at: Set(clock::now_ms()),
                expires_at: Set(expires_at),
                used_at: Set(None),
                node_id: Set(None),
            }
            .insert(&self.db)
        })
        .await?;
        Ok(())
    }

    /// Consumes a join token (once) and creates the node it admits.
    pub async fn join(
        &self,
        token_hash: &str,
        node_name_hint: &str,
        secret_hash: &str,
    ) -> Result<node::Model> {
        let now = clock::now_ms();
        let node_id = uuid::Uuid::now_v7().to_string();
        let used = retry(|| {
            join_token::Entity::update_many()
                .col_expr(join_token::Column::UsedAt, Expr::value(now))
                .col_expr(join_token::Column::NodeId, Expr::value(node_id.clone()))
                .filter(join_token::Column::TokenHash.eq(token_hash))
                .filter(join_token::Column::UsedAt.is_null())
                .filter(join_token::Column::ExpiresAt.gt(now))
                .exec(&self.db)
        })
        .await?;
        if used.rows_affected == 0 {
            return Err(Error::Unauthenticated(
                "this join token is unknown, already used or expired; create a new one with `lattice nodes join-token`".into(),
            ));
        }
        for attempt in 0..100 {
            let name = if attempt == 0 {
                node_name_hint.to_string()
            } else {
                format!("{node_name_hint}-{}", attempt + 1)
            };
            let res = retry(|| {
                node::ActiveModel {
                    id: Set(node_id.clone()),
                    name: Set(name.clone()),
                    secret_hash: Set(secret_hash.to_string()),
                    created_at: Set(now),
                    last_seen_at: Set(None),
                    connected: Set(false),
                    docker_ok: Set(false),
                    docker_error: Set(None),
                    draining: Set(false),
                    cpu_millis_capacity: Set(0),
                    memory_bytes_capacity: Set(0),
                    address: Set(None),
                    agent_version: Set(None),
                    pending_secret_hash: Set(None),
                    pending_secret: Set(None),
                }
                .insert(&self.db)
            })
            .await;
            match res {
                Ok(n) => {
                    self.node_view.invalidate();
                    return Ok(n);
                }
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::internal("could not find a free node name"))
    }

    // ---- nodes -------------------------------------------------------

    /// A node by id.
    pub async fn node(&self, id: &str) -> Result<Option<node::Model>> {
        Ok(retry(|| node::Entity::find_by_id(id.to_string()).one(&self.db)).await?)
    }

    /// A node by name.
    pub async fn node_by_name(&self, name: &str) -> Result<Option<node::Model>> {
        Ok(retry(|| {
            node::Entity::find()
                .filter(node::Column::Name.eq(name))
                .one(&self.db)
        })
        .await?)
    }

    /// Every node, by name.
    pub async fn nodes(&self) -> Result<Vec<node::Model>> {
        Ok(retry(|| {
            node::Entity::find()
                .order_by_asc(node::Column::Name)
                .all(&self.db)
        })
        .await?)
    }

    /// Every node as placement reads it: from memory while no node row
    /// changed (see `node_view`). Shared, not copied: a deploy reads 1,000
    /// rows at fleet size.
    pub async fn nodes_for_placement(&self) -> Result<Arc<Vec<node::Model>>> {
        let (generation, cached) = self.node_view.get();
        if let Some(rows) = cached {
            return Ok(rows);
        }
        let rows = Arc::new(self.nodes().await?);
        self.node_view.put(generation, &rows);
        Ok(rows)
    }

    /// Saves a node row.
    pub async fn save_node(&self, m: node::ActiveModel) -> Result<node::Model> {
        let r = retry(|| m.clone().update(&self.db)).await;
        self.node_view.invalidate();
        Ok(r?)
    }

    /// Marks a node disconnected.
    pub async fn node_disconnected(&self, id: &str) -> Result<()> {
        retry(|| {
            node::Entity::update_many()
                .col_expr(node::Column::Connected, Expr::value(false))
                .filter(node::Column::Id.eq(id))
                .exec(&self.db)
        })
        .await?;
        self.node_view.invalidate();
        Ok(())
    }

    /// Marks every node disconnected (at start: connections do not outlive a controld).
    pub async fn all_nodes_disconnected(&self) -> Result<()> {
        retry(|| {
            node::Entity::update_many()
                .col_expr(node::Column::Connected, Expr::value(false))
                .exec(&self.db)
        })
        .await?;
        self.node_view.invalidate();
        Ok(())
    }

    /// Records a heartbeat.
    pub async fn heartbeat(
        &self,
        id: &str,
        docker_ok: bool,
        docker_error: Option<String>,
    ) -> Result<()> {
        retry(|| {
            node::Entity::update_many()
                .col_expr(node::Column::LastSeenAt, Expr::value(clock::now_ms()))
                // Only a live connection beats: it is connected, whatever a
                // lease check wrote meanwhile.
                .col_expr(node::Column::Connected, Expr::value(true))
                .col_expr(node::Column::DockerOk, Expr::value(docker_ok))
                .col_expr(node::Column::DockerError, Expr::value(docker_error.clone()))
                .filter(node::Column::Id.eq(id))
                .exec(&self.db)
        })
        .await?;
        self.node_view
            .heartbeat(id, docker_ok, docker_error.as_deref());
        Ok(())
    }

    /// Forgets a node (its secret with it): its workloads lose their
    /// placement and become lost with `message`. Returns them as they were.
    pub async fn remove_node(&self, id: &str, message: &str) -> Result<Vec<workload::Model>> {
        let now = clock::now_ms();
        let n = retry(|| async {
            let txn = self.db.begin().await?;
            let on = workload::Entity::find()
                .filter(workload::Column::NodeId.eq(id))
                .all(&txn)
                .await?;
            for w in &on {
                workload::Entity::update_many()
                    .col_expr(
                        workload::Column::NodeId,
                        Expr::value(Option::<String>::None),
                    )
                    .col_expr(workload::Column::Status, Expr::value(Status::Lost))
                    .col_expr(workload::Column::StatusMessage, Expr::value(message))
                    .col_expr(workload::Column::UpdatedAt, Expr::value(now))
                    .filter(workload::Column::Id.eq(w.id.clone()))
                    .exec(&txn)
                    .await?;
            }
            node::Entity::delete_by_id(id.to_string())
                .exec(&txn)
                .await?;
            txn.commit().await?;
            Ok::<_, DbErr>(on)
        })
        .await;
        self.node_view.invalidate();
        Ok(n?)
    }

    // ---- workloads ---------------------------------------------------

    /// Edge ports of a workload.
    pub async fn edge_ports_of(&self, workload_id: &str) -> Result<Vec<edge_port::Model>> {
        Ok(retry(|| {
            edge_port::Entity::find()
                .filter(edge_port::Column::WorkloadId.eq(workload_id))
                .all(&self.db)
        })
        .await?)
    }

    /// Every assigned edge port.
    pub async fn all_edge_ports(&self) -> Result<Vec<edge_port::Model>> {
        Ok(retry(|| edge_port::Entity::find().all(&self.db)).await?)
    }

    /// The caller's workload by name (None also for other users' workloads).
    pub async fn workload(&self, owner: &str, name: &str) -> Result<Option<workload::Model>> {
        Ok(retry(|| {
            workload::Entity::find()
                .filter(workload::Column::OwnerId.eq(owner))
                .filter(workload::Column::Name.eq(name))
                .one(&self.db)
        })
        .await?)
    }

    /// A workload by id.
    pub async fn workload_by_id(&self, id: &str) -> Result<Option<workload::Model>> {
        Ok(retry(|| workload::Entity::find_by_id(id.to_string()).one(&self.db)).await?)
    }

    /// The caller's workloads, by name.
    pub async fn workloads_of(&self, owner: &str) -> Result<Vec<workload::Model>> {
        Ok(retry(|| {
            workload::Entity::find()
                .filter(workload::Column::OwnerId.eq(owner))
                .order_by_asc(workload::Column::Name)
                .all(&self.db)
        })
        .await?)
    }

    /// Names of the caller's workloads (for "did you mean").
    pub async fn workload_names(&self, owner: &str) -> Result<Vec<String>> {
        Ok(retry(|| {
            workload::Entity::find()
                .select_only()
                .column(workload::Column::Name)
                .filter(workload::Column::OwnerId.eq(owner))
                .into_tuple::<String>()
                .all(&self.db)
        })
        .await?)
    }

    /// Workloads placed on a node.
    pub async fn workloads_on(&self, node_id: &str) -> Result<Vec<workload::Model>> {
        Ok(retry(|| {
            workload::Entity::find()
                .filter(workload::Column::NodeId.eq(node_id))
                .all(&self.db)
        })
        .await?)
    }

    /// Saves a workload row and, when its status changed, an event.
    pub async fn save_workload(
        &self,
        m: workload::ActiveModel,
        event: Option<(Status, &str)>,
    ) -> Result<workload::Model> {
        let w = retry(|| m.clone().update(&self.db)).await?;
        if let Some((status, message)) = event {
            self.event(&w.id, status, message).await?;
        }
        Ok(w)
    }

    /// Appends a status event.
    pub async fn event(&self, workload_id: &str, status: Status, message: &str) -> Result<()> {
        retry(|| {
            workload_event::ActiveModel {
                workload_id: Set(workload_id.to_string()),
                at: Set(clock::now_ms()),
                status: Set(status),
                message: Set(message.chars().take(2000).collect()),
                ..Default::default()
            }
            .insert(&self.db)
        })
        .await?;
        Ok(())
    }

    /// The latest `n` events of a workload, oldest first.
    pub async fn events(&self, workload_id: &str, n: u64) -> Result<Vec<workload_event::Model>> {
        let mut v = retry(|| {
            workload_event::Entity::find()
                .filter(workload_event::Column::WorkloadId.eq(workload_id))
                .order_by_desc(workload_event::Column::Id)
                .limit(n)
                .all(&self.db)
        })
        .await?;
        v.reverse();
        Ok(v)
    }
}
