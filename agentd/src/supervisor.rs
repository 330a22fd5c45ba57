//! Keeps one worker per workload in the desired state, and removes
//! containers of this node that the control plane no longer knows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use lattice_proto::v1;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::Ctx;

type Workers = Arc<Mutex<HashMap<String, Worker>>>;

struct Worker {
    desired: watch::Sender<v1::DesiredWorkload>,
    wake: mpsc::Sender<()>,
    task: JoinHandle<()>,
}

/// The set of workers.
pub struct Supervisor {
    ctx: Arc<Ctx>,
    workers: Workers,
    /// A full desired state arrived: the workers are the whole wanted set.
    synced: std::sync::atomic::AtomicBool,
}

/// How often containers no worker converges are looked for, besides after
/// every full desired state.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

impl Supervisor {
    /// A supervisor with no workloads yet.
    pub fn new(ctx: Arc<Ctx>) -> Arc<Self> {
        Arc::new(Self {
            ctx,
            workers: Arc::new(Mutex::new(HashMap::new())),
            synced: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Applies a full desired state: every workload the node should have.
    /// Workers of workloads not in it stop, and their containers are
    /// collected as orphans.
    pub fn apply(&self, workloads: Vec<v1::DesiredWorkload>) {
        let Ok(mut workers) = self.workers.lock() else {
            return;
        };
        workers.retain(|_, w| !w.task.is_finished());
        let mut wanted = std::collections::HashSet::new();
        for d in workloads {
            if let Some(id) = self.upsert(&mut workers, d) {
                wanted.insert(id);
            }
        }
        // Workers for workloads the control plane forgot: stop converging them;
        // their containers are collected as orphans below.
        workers.retain(|id, w| {
            let keep = wanted.contains(id);
            if !keep {
                w.task.abort();
            }
            keep
        });
        drop(workers);
        self.synced.store(true, std::sync::atomic::Ordering::SeqCst);
        let (ctx, workers) = (self.ctx.clone(), self.workers.clone());
        tokio::spawn(async move { collect_orphans(ctx, workers).await });
    }

    /// Removes, every [`SWEEP_EVERY`], containers of this node that no
    /// worker converges. The sweep after a full desired state can race a
    /// worker it aborts that was creating its container (found by the
    /// hollow-node chaos test: a deleted workload's container stayed).
    pub async fn sweep_orphans(self: Arc<Self>) {
        loop {
            tokio::time::sleep(SWEEP_EVERY).await;
            if self.synced.load(std::sync::atomic::Ordering::SeqCst) {
                collect_orphans(self.ctx.clone(), self.workers.clone()).await;
            }
        }
    }

    /// Whether a worker still converges this workload.
    pub fn has(&self, workload_id: &str) -> bool {
        self.workers
            .lock()
            .map(|w| w.get(workload_id).is_some_and(|w| !w.task.is_finished()))
            .unwrap_or(true)
    }

    /// Applies a change to some workloads; the others are left as they are.
    pub fn update(&self, workloads: Vec<v1::DesiredWorkload>) {
        let Ok(mut workers) = self.workers.lock() else {
            return;
        };
        workers.retain(|_, w| !w.task.is_finished());
        for d in workloads {
            self.upsert(&mut workers, d);
        }
    }

    /// Hands one workload's desired state to its worker (started if it has
    /// none); its id, or None for a spec the agent refuses.
    fn upsert(
        &self,
        workers: &mut HashMap<String, Worker>,
        d: v1::DesiredWorkload,
    ) -> Option<String> {
        let spec = d.spec.as_ref()?;
        let id = spec.workload_id.clone();
        if let Err(e) = crate::validate_spec(spec) {
            warn!(workload = %id, error = %e, "refusing an invalid spec");
            self.ctx.reports.set(v1::WorkloadReport {
                workload_id: id.clone(),
                status: v1::WorkloadStatus::Failed as i32,
                message: format!("the agent refused the spec: {e}"),
                spec_hash: spec.spec_hash.clone(),
                ..Default::default()
            });
            return None;
        }
        match workers.get(&id) {
            Some(w) => {
                w.desired.send_if_modified(|cur| {
                    if *cur == d {
                        false
                    } else {
                        *cur = d;
                        true
                    }
                });
            }
            None => {
                let (dtx, drx) = watch::channel(d);
                let (wtx, wrx) = mpsc::channel(1);
                let task = tokio::spawn(crate::worker::run(self.ctx.clone(), drx, wrx));
                workers.insert(
                    id.clone(),
                    Worker {
                        desired: dtx,
                        wake: wtx,
                        task,
                    },
                );
            }
        }
        Some(id)
    }

    /// Nudges a workload's worker (a Docker event concerned it).
    pub fn wake(&self, workload_id: &str) {
        if let Ok(w) = self.workers.lock()
            && let Some(w) = w.get(workload_id)
        {
            let _ = w.wake.try_send(());
        }
    }

    /// Follows the engine's events for this node's containers: records
    /// exit codes and wakes the workers concerned.
    pub async fn watch_docker(self: Arc<Self>) {
        let mut backoff = crate::backoff::Backoff::default();
        loop {
            if let Some(rt) = self.ctx.runtime().await {
                let mut events = rt.events(&self.ctx.node_id);
                backoff.reset();
                while let Some(e) = events.next().await {
                    if let Some(code) = e.exit_code {
                        self.ctx.record_exit(&e.workload_id, code);
                    }
                    self.wake(&e.workload_id);
                }
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }
}

/// Removes containers labelled for this node whose workload no worker
/// converges (deleted while the node was away, or left by a worker that
/// was stopped mid-create). Volumes are kept. The containers are listed
/// before the workers are read, so a worker started meanwhile keeps its
/// container.
async fn collect_orphans(ctx: Arc<Ctx>, workers: Workers) {
    let Some(rt) = ctx.runtime().await else {
        return;
    };
    let Ok(containers) = rt.workloads(&ctx.node_id).await else {
        return;
    };
    let Ok(live) = workers.lock().map(|w| {
        w.iter()
            .filter(|(_, w)| !w.task.is_finished())
            .map(|(id, _)| id.clone())
            .collect::<std::collections::HashSet<_>>()
    }) else {
        return;
    };
    // By the name listed with this node's label: never a same-named
    // container of another node.
    for (id, name) in containers {
        if !live.contains(&id) {
            info!(workload = %id, container = %name, "removing a container the control plane no longer knows (volume kept)");
            if let Err(e) = rt.remove(&name).await {
                warn!(workload = %id, error = %e, "could not remove orphan container");
            }
        }
    }
}
