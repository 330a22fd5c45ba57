//! What placement reads and writes, sized for a fleet: what each node's
//! workloads reserve as one grouped sum over an index, the workloads waiting
//! for a node, and a conditional claim that places one of them only if it is
//! still waiting. Also the rows one page of workloads needs to be shown
//! (their nodes and edge ports), never the whole fleet's.

use std::collections::HashMap;

use lattice_proto::state::{Desired, Status};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::Repo;
use crate::clock;
use crate::entity::{edge_port, node, workload};
use crate::error::Result;
use crate::store::retry;

/// What the workloads placed on one node reserve.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reserved {
    /// Millicores.
    pub cpu_millis: i64,
    /// Bytes of memory.
    pub memory_bytes: i64,
    /// Bytes of stored specs.
    pub spec_bytes: i64,
    /// How many workloads.
    pub workloads: i64,
}

/// The most rows one `IN (…)` list carries.
const IN_CHUNK: usize = 500;

impl Repo {
    /// Reservations by node id. `except`: a workload left out (a change
    /// takes its reservation over); `live`: leave out workloads being
    /// deleted (what a node shows), or count them (what the scheduler
    /// must, until their containers are gone).
    pub async fn reservations(
        &self,
        except: Option<&str>,
        live: bool,
    ) -> Result<HashMap<String, Reserved>> {
        let rows = retry(|| {
            let mut q = workload::Entity::find()
                .select_only()
                .column(workload::Column::NodeId)
                .column_as(Expr::cust("CAST(SUM(cpu_millis) AS BIGINT)"), "cpu")
                .column_as(Expr::cust("CAST(SUM(memory_bytes) AS BIGINT)"), "mem")
                .column_as(Expr::cust("CAST(SUM(spec_bytes) AS BIGINT)"), "spec")
                .column_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), "n")
                .filter(workload::Column::NodeId.is_not_null())
                .group_by(workload::Column::NodeId);
            if let Some(id) = except {
                q = q.filter(workload::Column::Id.ne(id));
            }
            if live {
                q = q.filter(workload::Column::Desired.ne(Desired::Deleted));
            }
            q.into_tuple::<(String, i64, i64, i64, i64)>().all(&self.db)
        })
        .await?;
        Ok(rows
            .into_iter()
            .map(|(node, cpu_millis, memory_bytes, spec_bytes, workloads)| {
                (
                    node,
                    Reserved {
                        cpu_millis,
                        memory_bytes,
                        spec_bytes,
                        workloads,
                    },
                )
            })
            .collect())
    }

    /// What each of an owner's workloads reserves (its quota's use), by id.
    pub async fn reservations_of(&self, owner: &str) -> Result<Vec<(String, Reserved)>> {
        let rows = retry(|| {
            workload::Entity::find()
                .select_only()
                .columns([
                    workload::Column::Id,
                    workload::Column::CpuMillis,
                    workload::Column::MemoryBytes,
                    workload::Column::SpecBytes,
                ])
                .filter(workload::Column::OwnerId.eq(owner))
                .into_tuple::<(String, i64, i64, i64)>()
                .all(&self.db)
        })
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, cpu_millis, memory_bytes, spec_bytes)| {
                (
                    id,
                    Reserved {
                        cpu_millis,
                        memory_bytes,
                        spec_bytes,
                        workloads: 1,
                    },
                )
            })
            .collect())
    }

    /// Up to `limit` workloads waiting for a node, oldest first.
    pub async fn waiting(&self, limit: u64) -> Result<Vec<workload::Model>> {
        Ok(retry(|| {
            workload::Entity::find()
                .filter(workload::Column::Status.eq(Status::Pending))
                .filter(workload::Column::NodeId.is_null())
                .filter(workload::Column::Desired.eq(Desired::Running))
                .order_by_asc(workload::Column::CreatedAt)
                .limit(limit)
                .all(&self.db)
        })
        .await?)
    }

    /// Places a waiting workload on `node_id` if it is still waiting (not
    /// stopped, deleted or placed meanwhile); the placed row, or None.
    pub async fn claim(
        &self,
        id: &str,
        node_id: &str,
        message: &str,
    ) -> Result<Option<workload::Model>> {
        let now = clock::now_ms();
        let r = retry(|| {
            workload::Entity::update_many()
                .col_expr(workload::Column::NodeId, Expr::value(node_id))
                .col_expr(workload::Column::Status, Expr::value(Status::Scheduled))
                .col_expr(workload::Column::StatusMessage, Expr::value(message))
                .col_expr(workload::Column::UpdatedAt, Expr::value(now))
                .filter(workload::Column::Id.eq(id))
                .filter(workload::Column::NodeId.is_null())
                .filter(workload::Column::Status.eq(Status::Pending))
                .filter(workload::Column::Desired.eq(Desired::Running))
                .exec(&self.db)
        })
        .await?;
        if r.rows_affected != 1 {
            return Ok(None);
        }
        self.event(id, Status::Scheduled, message).await?;
        self.workload_by_id(id).await
    }

    /// A workload that lost its node and holds no data there: one that
    /// should run waits for another node; one that is stopped stays
    /// stopped, unplaced. Only while it has no node.
    pub async fn requeue(&self, w: &workload::Model, node_name: &str) -> Result<()> {
        let (status, message) = match w.desired {
            Desired::Running => (
                Status::Pending,
                format!("node {node_name} was removed; waiting for another node"),
            ),
            Desired::Stopped => (
                Status::Stopped,
                format!("stopped; node {node_name} was removed, another takes it when it starts"),
            ),
            Desired::Deleted => return Ok(()),
        };
        let now = clock::now_ms();
        let r = retry(|| {
            workload::Entity::update_many()
                .col_expr(workload::Column::Status, Expr::value(status))
                .col_expr(
                    workload::Column::StatusMessage,
                    Expr::value(message.clone()),
                )
                .col_expr(workload::Column::UpdatedAt, Expr::value(now))
                .filter(workload::Column::Id.eq(w.id.clone()))
                .filter(workload::Column::NodeId.is_null())
                .filter(workload::Column::Desired.eq(w.desired))
                .exec(&self.db)
        })
        .await?;
        if r.rows_affected == 1 {
            self.event(&w.id, status, &message).await?;
        }
        Ok(())
    }

    /// Sets a waiting workload's reason (only while it still waits).
    pub async fn still_waiting(&self, id: &str, message: &str) -> Result<()> {
        retry(|| {
            workload::Entity::update_many()
                .col_expr(workload::Column::StatusMessage, Expr::value(message))
                .filter(workload::Column::Id.eq(id))
                .filter(workload::Column::NodeId.is_null())
                .filter(workload::Column::Status.eq(Status::Pending))
                .exec(&self.db)
        })
        .await?;
        Ok(())
    }

    /// The nodes with these ids.
    pub async fn nodes_by_ids(&self, ids: &[String]) -> Result<Vec<node::Model>> {
        let mut out = Vec::new();
        for part in ids.chunks(IN_CHUNK) {
            out.extend(
                retry(|| {
                    node::Entity::find()
                        .filter(node::Column::Id.is_in(part.iter().cloned()))
                        .all(&self.db)
                })
                .await?,
            );
        }
        Ok(out)
    }

    /// The edge ports of these workloads.
    pub async fn edge_ports_for(&self, workload_ids: &[String]) -> Result<Vec<edge_port::Model>> {
        let mut out = Vec::new();
        for part in workload_ids.chunks(IN_CHUNK) {
            out.extend(
                retry(|| {
                    edge_port::Entity::find()
                        .filter(edge_port::Column::WorkloadId.is_in(part.iter().cloned()))
                        .all(&self.db)
                })
                .await?,
            );
        }
        Ok(out)
    }
}
