//! A workload's row and its public edge ports are stored (and removed)
//! together. Ports are handed out least recently released first, and a port
//! another owner let go is not handed out until its quarantine has passed:
//! a client still holding the old address must not land on a stranger's
//! workload (as cloud providers hold a released address before reuse).

use std::collections::HashSet;
use std::time::Duration;

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};

use super::Repo;
use crate::clock;
use crate::entity::{edge_port, edge_port_release, kept_volume, workload};
use crate::error::{Error, Result};
use crate::store::{is_unique_violation, retry};

/// The edge's ports and how long a released one rests before another owner
/// may have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgePool {
    /// First and last port.
    pub range: (u16, u16),
    /// Quarantine of a port another owner let go.
    pub quarantine: Duration,
}

/// `n` ports for `owner`: free ones never released first, then released ones
/// least recently released first; another owner's inside its quarantine
/// never. None when not enough are left.
pub fn pick_ports(
    pool: EdgePool,
    used: &HashSet<u16>,
    released: &[edge_port_release::Model],
    owner: &str,
    now: i64,
    n: usize,
) -> Option<Vec<u16>> {
    let q = clock::ms(pool.quarantine);
    let rested = |r: &edge_port_release::Model| r.owner_id == owner || now - r.released_at >= q;
    let mut last_released: Vec<(i64, u16)> = Vec::new();
    let mut blocked = HashSet::new();
    for r in released {
        let Ok(p) = u16::try_from(r.port) else {
            continue;
        };
        if rested(r) {
            last_released.push((r.released_at, p));
        } else {
            blocked.insert(p);
        }
    }
    let in_released: HashSet<u16> = released
        .iter()
        .filter_map(|r| u16::try_from(r.port).ok())
        .collect();
    last_released.sort_unstable();
    let fresh = (pool.range.0..=pool.range.1).filter(|p| !in_released.contains(p));
    let picked: Vec<u16> = fresh
        .chain(last_released.into_iter().map(|(_, p)| p))
        .filter(|p| (pool.range.0..=pool.range.1).contains(p))
        .filter(|p| !used.contains(p) && !blocked.contains(p))
        .take(n)
        .collect();
    (picked.len() == n).then_some(picked)
}

impl Repo {
    /// Inserts a workload with one edge port per container port; a taken
    /// name is ALREADY_EXISTS.
    pub async fn insert_workload(
        &self,
        m: workload::ActiveModel,
        owner: &str,
        name: &str,
        container_ports: &[u32],
        pool: EdgePool,
        with: super::NewRows,
    ) -> Result<(workload::Model, Vec<edge_port::Model>)> {
        // Two deploys may race for the same free port: try again a few times.
        for _ in 0..8 {
            let res = retry(|| async {
                let txn = self.db.begin().await?;
                if let Some(id) = &with.reused_volume {
                    kept_volume::Entity::delete_by_id(id.clone())
                        .exec(&txn)
                        .await?;
                }
                let w = m.clone().insert(&txn).await?;
                with.version.clone().insert(&txn).await?;
                let Some(ports) = reserve(&txn, pool, owner, &w.id, container_ports).await? else {
                    txn.rollback().await?;
                    return Ok(None);
                };
                txn.commit().await?;
                Ok::<_, DbErr>(Some((w, ports)))
            })
            .await;
            match res {
                Ok(Some(done)) => return Ok(done),
                Ok(None) => return Err(no_free_port(pool)),
                Err(e) if is_unique_violation(&e) => {
                    if self.workload(owner, name).await?.is_some() {
                        return Err(Error::AlreadyExists(format!(
                            "you already have a workload named {name:?}; pick another name, or remove it with `lattice rm {name}`"
                        )));
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Unavailable(
            "could not reserve an edge port; try again".into(),
        ))
    }
}

/// The refusal when the pool has no port left for an owner.
pub(super) fn no_free_port(pool: EdgePool) -> Error {
    let (lo, hi) = pool.range;
    Error::FailedPrecondition(format!(
        "no free public edge port in {lo}-{hi} (ports other accounts let go rest for {} \
         before reuse); remove workloads you no longer need, or widen controld's --edge-ports",
        humantime::format_duration(pool.quarantine)
    ))
}

/// Reserves one edge port per container port for a workload, inside `txn`;
/// None when the pool has too few left for `owner`.
pub(super) async fn reserve(
    txn: &DatabaseTransaction,
    pool: EdgePool,
    owner: &str,
    workload_id: &str,
    container_ports: &[u32],
) -> Result<Option<Vec<edge_port::Model>>, DbErr> {
    let (lo, hi) = pool.range;
    let used: HashSet<u16> = edge_port::Entity::find()
        .select_only()
        .column(edge_port::Column::Port)
        .filter(edge_port::Column::Port.between(i32::from(lo), i32::from(hi)))
        .into_tuple::<i32>()
        .all(txn)
        .await?
        .into_iter()
        .filter_map(|p| u16::try_from(p).ok())
        .collect();
    let released = edge_port_release::Entity::find()
        .filter(edge_port_release::Column::Port.between(i32::from(lo), i32::from(hi)))
        .all(txn)
        .await?;
    let now = clock::now_ms();
    let Some(picked) = pick_ports(pool, &used, &released, owner, now, container_ports.len()) else {
        return Ok(None);
    };
    let mut ports = Vec::new();
    for (port, cp) in picked.into_iter().zip(container_ports) {
        edge_port_release::Entity::delete_by_id(i32::from(port))
            .exec(txn)
            .await?;
        ports.push(
            edge_port::ActiveModel {
                port: Set(i32::from(port)),
                workload_id: Set(workload_id.to_string()),
                container_port: Set(i32::try_from(*cp).unwrap_or(0)),
            }
            .insert(txn)
            .await?,
        );
    }
    Ok(Some(ports))
}

/// Records a workload's edge ports as released by `owner` at `now`.
pub(super) async fn release_ports(
    c: &impl ConnectionTrait,
    workload_id: &str,
    owner: &str,
    now: i64,
) -> Result<(), DbErr> {
    let ports = edge_port::Entity::find()
        .filter(edge_port::Column::WorkloadId.eq(workload_id))
        .all(c)
        .await?;
    release(c, &ports, owner, now).await
}

/// Records these ports as released by `owner` at `now` (their rows stay:
/// the caller removes them).
pub(super) async fn release(
    c: &impl ConnectionTrait,
    ports: &[edge_port::Model],
    owner: &str,
    now: i64,
) -> Result<(), DbErr> {
    for p in ports {
        edge_port_release::Entity::delete_by_id(p.port)
            .exec(c)
            .await?;
        edge_port_release::ActiveModel {
            port: Set(p.port),
            owner_id: Set(owner.to_string()),
            released_at: Set(now),
        }
        .insert(c)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(port: i32, owner: &str, at: i64) -> edge_port_release::Model {
        edge_port_release::Model {
            port,
            owner_id: owner.into(),
            released_at: at,
        }
    }

    #[test]
    fn fresh_ports_first_then_least_recently_released_and_never_a_strangers_in_quarantine() {
        let pool = EdgePool {
            range: (100, 104),
            quarantine: Duration::from_secs(60),
        };
        let now = 1_000_000;
        let used: HashSet<u16> = [100].into();
        let released = vec![
            rel(101, "bob", now - 10),      // bob's, resting: not for alice
            rel(102, "bob", now - 120_000), // rested long enough
            rel(103, "alice", now - 5),     // her own: hers again at once
        ];
        let pick = |owner, n| pick_ports(pool, &used, &released, owner, now, n);
        assert_eq!(pick("alice", 1), Some(vec![104]), "a never-used port first");
        assert_eq!(
            pick("alice", 3),
            Some(vec![104, 102, 103]),
            "then oldest release first"
        );
        assert_eq!(
            pick("alice", 4),
            None,
            "bob's resting port is never handed to alice"
        );
        assert_eq!(pick("bob", 3), Some(vec![104, 102, 101]));
        assert_eq!(
            pick("bob", 4),
            None,
            "alice's resting port is not bob's either"
        );
        let later = pick_ports(pool, &used, &released, "alice", now + 60_000, 4);
        assert_eq!(
            later,
            Some(vec![104, 102, 101, 103]),
            "after the quarantine"
        );
    }
}
