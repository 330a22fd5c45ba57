//! Observed state coming back: workload reports from agents (each new
//! container exit becomes an event of its own), statuses controld sets
//! itself (scheduling, loss), and the lease check that marks silent nodes'
//! workloads lost.

use std::sync::Arc;
use std::time::Duration;

use lattice_proto::state::{Desired, Status};
use lattice_proto::v1;
use sea_orm::ActiveValue::Set;
use sea_orm::IntoActiveModel;
use tracing::{debug, info, warn};

use super::Fleet;
use crate::clock;
use crate::entity::workload;
use crate::error::{Error, Result};

impl Fleet {
    /// Applies one workload report from a node.
    pub async fn apply_report(&self, node_id: &str, r: v1::WorkloadReport) -> Result<()> {
        let Some(w) = self.repo.workload_by_id(&r.workload_id).await? else {
            return Ok(()); // deleted meanwhile; the agent's next desired state drops it
        };
        if w.node_id.as_deref() != Some(node_id) {
            warn!(workload = %w.id, node = %node_id, "report from a node the workload is not placed on");
            return Ok(());
        }
        let reported = Status::from_wire(r.status);
        if reported == Status::Deleted {
            if w.desired == Desired::Deleted {
                self.repo.delete_workload(&w.id, !w.purge).await?;
                info!(workload = %w.id, name = %w.name, "workload deleted");
                self.publish(&w, true);
                self.wake_placer();
            }
            return Ok(());
        }
        let current_hash = self.container_spec(&w)?.spec_hash;
        if !r.spec_hash.is_empty() && r.spec_hash != current_hash {
            debug!(workload = %w.id, "ignoring a report about an older spec");
            return Ok(());
        }
        // While deleting, only the final report matters.
        if w.desired == Desired::Deleted {
            return Ok(());
        }
        if !r.conflict.is_empty() {
            self.note_conflict(&w.id, reported, &r.conflict).await?;
        }
        let restarts = i32::try_from(r.restart_count).unwrap_or(i32::MAX);
        // Every new exit is an event of its own, with its code and last lines,
        // even when the status stays crash-looping.
        let exited = restarts > w.restart_count;
        let changed = w.status != reported || w.status_message != r.message || exited;
        let ports = serde_json::to_string(
            &r.published_ports
                .iter()
                .collect::<std::collections::BTreeMap<_, _>>(),
        )
        .map_err(Error::internal)?;
        let exit_event = exited.then(|| exit_event(&r));
        let logs = if r.last_log_lines.is_empty() && reported != Status::Failed {
            w.last_log_lines.clone()
        } else {
            serde_json::to_string(&r.last_log_lines).map_err(Error::internal)?
        };
        if !changed
            && w.progress_percent == i32::try_from(r.progress_percent).unwrap_or(0)
            && w.published_ports == ports
            && w.last_log_lines == logs
            && w.restart_count == restarts
            && w.last_exit_code == r.last_exit_code
        {
            return Ok(());
        }
        let message = r.message.clone();
        let mut am = w.into_active_model();
        am.status = Set(reported);
        am.status_message = Set(r.message);
        am.progress_percent = Set(i32::try_from(r.progress_percent).unwrap_or(0));
        am.published_ports = Set(ports);
        am.last_log_lines = Set(logs);
        am.restart_count = Set(restarts);
        am.last_exit_code = Set(r.last_exit_code);
        if !r.container_id.is_empty() {
            am.container_id = Set(Some(r.container_id));
        }
        am.updated_at = Set(clock::now_ms());
        let message = exit_event.unwrap_or(message);
        let event = changed.then_some((reported, message.as_str()));
        let w = self.repo.save_workload(am, event).await?;
        self.publish(&w, false);
        Ok(())
    }

    /// Says once, as an event, what the node found in the workload's way
    /// and left alone (reports repeat it while it lasts).
    async fn note_conflict(&self, workload_id: &str, status: Status, conflict: &str) -> Result<()> {
        let recent = self.repo.events(workload_id, 50).await?;
        if recent.iter().any(|e| e.message == conflict) {
            return Ok(());
        }
        warn!(workload = %workload_id, conflict, "a node found something in a workload's way");
        self.repo.event(workload_id, status, conflict).await
    }

    /// Sets a workload's status from controld's side (scheduling, loss).
    pub async fn set_status(
        &self,
        w: workload::Model,
        st: Status,
        message: &str,
    ) -> Result<workload::Model> {
        if w.status == st && w.status_message == message {
            return Ok(w);
        }
        let mut am = w.into_active_model();
        am.status = Set(st);
        am.status_message = Set(message.to_string());
        am.updated_at = Set(clock::now_ms());
        let w = self.repo.save_workload(am, Some((st, message))).await?;
        self.publish(&w, false);
        Ok(w)
    }

    /// Marks nodes silent past their lease unreachable, and their workloads lost.
    pub async fn check_leases(&self) -> Result<()> {
        let now = clock::now_ms();
        let lease = clock::ms(self.lease);
        for n in self.repo.nodes().await? {
            let silent = n.last_seen_at.is_none_or(|t| now - t > lease);
            if !silent {
                continue;
            }
            if n.connected {
                let mut am = n.clone().into_active_model();
                am.connected = Set(false);
                self.repo.save_node(am).await?;
            }
            // Should it still be there on a live stream, it resyncs.
            self.want_resync(&n.id);
            for w in self.repo.workloads_on(&n.id).await? {
                // A workload waiting for this node to come back (its kept
                // volume lives there) keeps saying so.
                let lost = w.status != Status::Lost
                    && w.desired != Desired::Deleted
                    && w.status != Status::Stopped
                    && w.status != Status::Pending;
                if lost {
                    warn!(workload = %w.id, node = %n.name, "node unreachable past its lease; workload lost");
                    let msg = format!(
                        "node {} has not been heard from since {}",
                        n.name,
                        clock::rfc3339(n.last_seen_at.unwrap_or(0))
                    );
                    self.set_status(w, Status::Lost, &msg).await?;
                }
            }
        }
        Ok(())
    }

    /// Runs the lease checker until the task is aborted.
    pub async fn lease_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if let Err(e) = self.check_leases().await {
                warn!(error = %e, "lease check failed");
            }
        }
    }
}

/// The event for a container exit: its code, how many restarts so far,
/// and the last lines it printed.
fn exit_event(r: &v1::WorkloadReport) -> String {
    let code = r
        .last_exit_code
        .map_or_else(|| "an unknown code".to_string(), |c| c.to_string());
    let mut s = format!(
        "the container exited with code {code} (restart {})",
        r.restart_count
    );
    let tail: Vec<&str> = r
        .last_log_lines
        .iter()
        .rev()
        .take(5)
        .rev()
        .map(String::as_str)
        .collect();
    if !tail.is_empty() {
        s.push_str("; last lines: ");
        s.push_str(&tail.join(" | "));
    }
    s
}
