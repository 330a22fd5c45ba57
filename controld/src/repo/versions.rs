//! A workload's versions: a change of spec saves the row, its new version
//! and its edge ports in one transaction (a port the new spec drops goes
//! into quarantine, one it adds is reserved; the others stay, so public
//! endpoints survive updates). At most [`KEPT_VERSIONS`] are kept.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use super::edge_ports::{no_free_port, release, reserve};
use super::{EdgePool, Repo};
use crate::clock;
use crate::entity::{edge_port, workload, workload_version};
use crate::error::Result;
use crate::store::retry;

/// Versions kept per workload (older ones are dropped).
pub const KEPT_VERSIONS: u64 = 50;

/// What changed at the edge when a workload's ports changed.
#[derive(Debug, Default)]
pub struct PortChange {
    /// Newly reserved ports, to start listening on.
    pub added: Vec<edge_port::Model>,
    /// Released ports, to stop listening on.
    pub removed: Vec<i32>,
}

impl Repo {
    /// Saves a changed workload with its new version, and makes its edge
    /// ports match `container_ports`.
    pub async fn update_workload(
        &self,
        m: workload::ActiveModel,
        version: workload_version::ActiveModel,
        container_ports: &[u32],
        pool: EdgePool,
    ) -> Result<(workload::Model, PortChange)> {
        let res = retry(|| async {
            let txn = self.db.begin().await?;
            let w = m.clone().update(&txn).await?;
            version.clone().insert(&txn).await?;
            prune(&txn, &w.id).await?;
            let have = edge_port::Entity::find()
                .filter(edge_port::Column::WorkloadId.eq(&w.id))
                .all(&txn)
                .await?;
            let wanted: Vec<i32> = container_ports
                .iter()
                .filter_map(|p| i32::try_from(*p).ok())
                .collect();
            let (kept, dropped): (Vec<_>, Vec<_>) = have
                .into_iter()
                .partition(|p| wanted.contains(&p.container_port));
            release(&txn, &dropped, &w.owner_id, clock::now_ms()).await?;
            for p in &dropped {
                edge_port::Entity::delete_by_id(p.port).exec(&txn).await?;
            }
            let missing: Vec<u32> = container_ports
                .iter()
                .copied()
                .filter(|cp| {
                    !kept
                        .iter()
                        .any(|p| i64::from(p.container_port) == i64::from(*cp))
                })
                .collect();
            let Some(added) = reserve(&txn, pool, &w.owner_id, &w.id, &missing).await? else {
                txn.rollback().await?;
                return Ok(None);
            };
            txn.commit().await?;
            let removed = dropped.iter().map(|p| p.port).collect();
            Ok::<_, DbErr>(Some((w, PortChange { added, removed })))
        })
        .await?;
        res.ok_or_else(|| no_free_port(pool))
    }

    /// A workload's versions, newest first.
    pub async fn versions(&self, workload_id: &str) -> Result<Vec<workload_version::Model>> {
        Ok(retry(|| {
            workload_version::Entity::find()
                .filter(workload_version::Column::WorkloadId.eq(workload_id))
                .order_by_desc(workload_version::Column::Version)
                .limit(KEPT_VERSIONS)
                .all(&self.db)
        })
        .await?)
    }

    /// One version of a workload.
    pub async fn version(
        &self,
        workload_id: &str,
        version: i64,
    ) -> Result<Option<workload_version::Model>> {
        Ok(retry(|| {
            workload_version::Entity::find_by_id((workload_id.to_string(), version)).one(&self.db)
        })
        .await?)
    }
}

/// Drops all but the newest [`KEPT_VERSIONS`] versions of a workload.
async fn prune(txn: &sea_orm::DatabaseTransaction, workload_id: &str) -> Result<(), DbErr> {
    let keep: Vec<i64> = workload_version::Entity::find()
        .select_only()
        .column(workload_version::Column::Version)
        .filter(workload_version::Column::WorkloadId.eq(workload_id))
        .order_by_desc(workload_version::Column::Version)
        .limit(KEPT_VERSIONS)
        .into_tuple::<i64>()
        .all(txn)
        .await?;
    if let Some(oldest) = keep.last()
        && keep.len() as u64 == KEPT_VERSIONS
    {
        workload_version::Entity::delete_many()
            .filter(workload_version::Column::WorkloadId.eq(workload_id))
            .filter(workload_version::Column::Version.lt(*oldest))
            .exec(txn)
            .await?;
    }
    Ok(())
}
