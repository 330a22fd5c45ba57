//! Keeps one worker per workload in the desired state, and removes
//! containers of this node that the control plane no longer knows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::StreamExt;
use lattice_proto::v1;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::Ctx;
use crate::docker::label;

struct Worker {
    desired: watch::Sender<v1::DesiredWorkload>,
    wake: mpsc::Sender<()>,
    task: JoinHandle<()>,
}

/// The set of workers.
pub struct Supervisor {
    ctx: Arc<Ctx>,
    workers: Mutex<HashMap<String, Worker>>,
}

impl Supervisor {
    /// A supervisor with no workloads yet.
    pub fn new(ctx: Arc<Ctx>) -> Arc<Self> {
        Arc::new(Self {
            ctx,
            workers: Mutex::new(HashMap::new()),
        })
    }

    /// Applies a full desired state from the control plane.
    pub fn apply(&self, state: v1::DesiredState) {
        let Ok(mut workers) = self.workers.lock() else {
            return;
        };
        workers.retain(|_, w| !w.task.is_finished());
        let mut wanted = std::collections::HashSet::new();
        for d in state.workloads {
            let Some(id) = d.spec.as_ref().map(|s| s.workload_id.clone()) else {
                continue;
            };
            if let Some(spec) = &d.spec
                && let Err(e) = crate::validate_spec(spec)
            {
                warn!(workload = %id, error = %e, "refusing an invalid spec");
                self.ctx.reports.set(v1::WorkloadReport {
                    workload_id: id.clone(),
                    status: v1::WorkloadStatus::Failed as i32,
                    message: format!("the agent refused the spec: {e}"),
                    spec_hash: spec.spec_hash.clone(),
                    ..Default::default()
                });
                continue;
            }
            wanted.insert(id.clone());
            match workers.get(&id) {
                Some(w) => {
                    w.desired.send_if_modified(|cur| {
                        if *cur == d {
                            false
                        } else {
                            *cur = d.clone();
                            true
                        }
                    });
                }
                None => {
                    let (dtx, drx) = watch::channel(d);
                    let (wtx, wrx) = mpsc::channel(1);
                    let task = tokio::spawn(crate::worker::run(self.ctx.clone(), drx, wrx));
                    workers.insert(
                        id,
                        Worker {
                            desired: dtx,
                            wake: wtx,
                            task,
                        },
                    );
                }
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
        let ctx = self.ctx.clone();
        tokio::spawn(async move { collect_orphans(ctx, wanted).await });
    }

    /// Nudges a workload's worker (a Docker event concerned it).
    pub fn wake(&self, workload_id: &str) {
        if let Ok(w) = self.workers.lock()
            && let Some(w) = w.get(workload_id)
        {
            let _ = w.wake.try_send(());
        }
    }

    /// Follows Docker events for this node's containers and wakes workers.
    pub async fn watch_docker(self: Arc<Self>) {
        let mut backoff = crate::backoff::Backoff::default();
        loop {
            if let Some(docker) = self.ctx.docker().await {
                let filters = std::collections::HashMap::from([
                    ("type".to_string(), vec!["container".to_string()]),
                    (
                        "label".to_string(),
                        vec![format!("{}={}", label::NODE, self.ctx.node_id)],
                    ),
                ]);
                let opts = EventsOptionsBuilder::default().filters(&filters).build();
                let mut events = docker.raw().events(Some(opts));
                backoff.reset();
                while let Some(ev) = events.next().await {
                    match ev {
                        Ok(e) => {
                            let attrs = e.actor.and_then(|a| a.attributes).unwrap_or_default();
                            let Some(id) = attrs.get(label::WORKLOAD) else {
                                continue;
                            };
                            if e.action.as_deref() == Some("die")
                                && let Some(code) =
                                    attrs.get("exitCode").and_then(|c| c.parse::<i32>().ok())
                            {
                                self.ctx.record_exit(id, code);
                            }
                            self.wake(id);
                        }
                        Err(_) => break,
                    }
                }
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }
}

/// Removes containers labelled for this node whose workload is not wanted
/// (deleted while the node was away). Volumes are kept.
async fn collect_orphans(ctx: Arc<Ctx>, wanted: std::collections::HashSet<String>) {
    let Some(rt) = ctx.runtime().await else {
        return;
    };
    let Ok(ids) = rt.workloads(&ctx.node_id).await else {
        return;
    };
    for id in ids {
        if !wanted.contains(&id) {
            info!(workload = %id, "removing a container the control plane no longer knows (volume kept)");
            if let Err(e) = rt.remove(&crate::docker::container_name(&id)).await {
                warn!(workload = %id, error = %e, "could not remove orphan container");
            }
        }
    }
}
