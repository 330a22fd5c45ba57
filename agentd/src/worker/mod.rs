//! One task per workload: converge the container to the desired state, then
//! wait for a change (new desired state, a Docker event, or a periodic
//! check) and converge again. Every step is idempotent, so a restart of the
//! agent at any point resumes where it was and never makes a second
//! container (the container name is derived from the workload id).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lattice_proto::state::Desired;
use lattice_proto::v1;
use lattice_proto::v1::WorkloadStatus as S;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use bollard::models::ContainerInspectResponse;

use crate::Ctx;
use crate::backoff::Backoff;
use crate::docker::{self, label, published_ports};
use crate::owned::{self, LocateError, Located};
use crate::probe::is_running;
use crate::runtime::Runtime;

mod create;

/// How long a workload without a probe must stay up to count as started.
const STABLE_FOR: Duration = Duration::from_secs(2);
/// The first pause between readiness probes, and the longest (each probe
/// is one inspect and one connect: cheap enough for a workload that is starting).
const PROBE_FIRST: Duration = Duration::from_millis(20);
const PROBE_EVERY: Duration = Duration::from_millis(100);

/// Lines of output attached to a failure.
pub const FAILURE_LINES: usize = 20;

/// How long a settled worker waits before it looks again by itself.
const RECHECK: Duration = Duration::from_secs(10);

/// How a convergence pass ended.
pub enum Pass {
    /// Nothing more to do until something changes.
    Settled,
    /// Look again after this long (or sooner, if something changes).
    RecheckIn(Duration),
    /// The workload is gone; the task ends.
    Deleted,
    /// The desired state changed mid-way: converge again now.
    Superseded,
    /// Something that may heal failed (said as retrying): try again after
    /// this long, the pause growing with each failure in a row.
    Retry(Duration),
}

/// The first pause before retrying a transient failure, and the longest.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Runs the workload's task until it is deleted.
pub async fn run(
    ctx: Arc<Ctx>,
    mut desired: watch::Receiver<v1::DesiredWorkload>,
    mut wake: mpsc::Receiver<()>,
) {
    let mut failed_hash: Option<String> = None;
    let mut retry = Backoff::new(RETRY_FIRST, RETRY_MAX);
    loop {
        let d = desired.borrow_and_update().clone();
        let pass = converge(&ctx, &d, &mut desired, &mut failed_hash, &mut retry).await;
        if !matches!(pass, Pass::Retry(_)) {
            retry.reset();
        }
        let recheck = match pass {
            Pass::Deleted => {
                if let Some(spec) = &d.spec {
                    ctx.forget_exits(&spec.workload_id);
                }
                return;
            }
            Pass::Superseded => continue,
            Pass::Settled => RECHECK,
            Pass::RecheckIn(after) => after.min(RECHECK),
            Pass::Retry(after) => after,
        };
        tokio::select! {
            r = desired.changed() => if r.is_err() { return },
            _ = wake.recv() => {}
            _ = tokio::time::sleep(recheck) => {}
        }
    }
}

/// Sends reports about one workload's current spec.
pub struct Reporter<'a> {
    ctx: &'a Ctx,
    spec: &'a v1::ContainerSpec,
    /// What is in the workload's way that is not this node's (see
    /// [`crate::owned`]); carried by every report while it lasts.
    conflict: String,
}

impl Reporter<'_> {
    /// Records a report, filling in which workload and spec it is about.
    pub fn report(&self, mut r: v1::WorkloadReport) {
        r.workload_id.clone_from(&self.spec.workload_id);
        r.spec_hash.clone_from(&self.spec.spec_hash);
        r.conflict.clone_from(&self.conflict);
        self.ctx.reports.set(r);
    }

    /// Says that a step failed in a way that may heal, and when it is tried
    /// again; the workload stays in `status`.
    pub fn retrying(&self, status: S, what: &str, retry: &mut Backoff) -> Pass {
        let after = retry.next_delay();
        let secs = after.as_secs_f64().max(0.1);
        self.status(
            status,
            &format!(
                "{what}; retrying in {secs:.1}s (attempt {})",
                retry.attempts()
            ),
        );
        warn!(workload = %self.spec.workload_id, error = %what, retry_in = ?after, "retrying");
        Pass::Retry(after)
    }

    fn send(
        &self,
        status: S,
        message: &str,
        ports: HashMap<u32, u32>,
        logs: Vec<String>,
        progress: u32,
        cid: &str,
    ) {
        self.report(v1::WorkloadReport {
            status: status as i32,
            message: message.to_string(),
            progress_percent: progress,
            last_log_lines: logs,
            published_ports: ports,
            container_id: cid.to_string(),
            ..Default::default()
        });
    }

    fn status(&self, status: S, message: &str) {
        self.send(status, message, HashMap::new(), Vec::new(), 0, "");
    }
}

async fn converge(
    ctx: &Ctx,
    d: &v1::DesiredWorkload,
    desired: &mut watch::Receiver<v1::DesiredWorkload>,
    failed_hash: &mut Option<String>,
    retry: &mut Backoff,
) -> Pass {
    let Some(spec) = d.spec.as_ref() else {
        return Pass::Settled;
    };
    let mut rep = Reporter {
        ctx,
        spec,
        conflict: String::new(),
    };
    let Some(rt) = ctx.runtime().await else {
        rep.status(
            S::Pending,
            &format!("waiting for Docker at {}", docker::socket_description()),
        );
        return Pass::Settled;
    };
    let want = Desired::from_wire(d.run);
    let found = match owned::locate(rt.as_ref(), &spec.workload_id, &ctx.node_id).await {
        Ok(found) => found,
        // Nothing of ours is there: a deletion is done.
        Err(LocateError::Blocked(_)) if want == Desired::Deleted => Located {
            name: docker::container_name(&spec.workload_id),
            container: None,
            conflict: None,
        },
        Err(LocateError::Blocked(e)) => {
            rep.conflict.clone_from(&e);
            return rep.retrying(S::Pending, &e, retry);
        }
        Err(LocateError::Engine(e)) => {
            return rep.retrying(S::Pending, &format!("Docker error: {e}"), retry);
        }
    };
    rep.conflict = found.conflict.clone().unwrap_or_default();
    match want {
        Desired::Deleted => {
            if found.container.is_some()
                && let Err(e) = rt.remove(&found.name).await
            {
                let what = format!("could not remove the container: {e}");
                return rep.retrying(S::Deleting, &what, retry);
            }
            if d.purge
                && let Err(e) = rt
                    .remove_volume(&docker::volume_name(&spec.workload_id))
                    .await
            {
                return rep.retrying(S::Deleting, &e, retry);
            }
            info!(workload = %spec.workload_id, purge = d.purge, "workload removed");
            rep.status(S::Deleted, "removed");
            Pass::Deleted
        }
        Desired::Stopped => {
            match &found.container {
                Some(c) if is_running(c) => {
                    rep.status(S::Stopping, "stopping");
                    if let Err(e) = rt.stop(&found.name).await {
                        return rep.retrying(S::Stopping, &format!("could not stop: {e}"), retry);
                    }
                    rep.status(S::Stopped, "stopped; data kept");
                }
                _ => rep.status(S::Stopped, "stopped; data kept"),
            }
            Pass::Settled
        }
        Desired::Running => {
            let mut a = Attempt {
                ctx,
                rt: rt.as_ref(),
                spec,
                rep: &rep,
                name: found.name,
                desired,
                failed_hash,
                retry,
            };
            run_container(&mut a, found.container).await
        }
    }
}

fn restarts(c: &bollard::models::ContainerInspectResponse) -> i64 {
    c.restart_count.unwrap_or(0)
}

/// One convergence attempt of a running workload: everything the steps share.
pub struct Attempt<'a> {
    /// Agent state.
    pub ctx: &'a Ctx,
    /// The engine.
    pub rt: &'a dyn Runtime,
    /// The spec being converged.
    pub spec: &'a v1::ContainerSpec,
    /// Where reports go.
    pub rep: &'a Reporter<'a>,
    /// The container's name on this node (see [`crate::owned`]).
    pub name: String,
    desired: &'a mut watch::Receiver<v1::DesiredWorkload>,
    failed_hash: &'a mut Option<String>,
    retry: &'a mut Backoff,
}

async fn run_container(a: &mut Attempt<'_>, existing: Option<ContainerInspectResponse>) -> Pass {
    let name = a.name.clone();
    let existing = match existing {
        Some(c)
            if c.config
                .as_ref()
                .and_then(|c| c.labels.as_ref())
                .and_then(|l| l.get(label::SPEC))
                != Some(&a.spec.spec_hash) =>
        {
            a.rep.status(S::Starting, "applying a new spec (data kept)");
            if let Err(e) = a.rt.remove(&name).await {
                let what = format!("could not replace the old container: {e}");
                return a.rep.retrying(S::Starting, &what, a.retry);
            }
            None
        }
        other => other,
    };
    // A spec that already failed is not retried in a loop; `lattice restart`
    // or `lattice start` make a new generation.
    if a.failed_hash.as_deref() == Some(a.spec.spec_hash.as_str())
        && !existing.as_ref().is_some_and(is_running)
    {
        return Pass::Settled;
    }
    // Ready once in this container: Docker restarts it on exit; watch that.
    if let Some(c) = existing.as_ref().filter(|c| crate::crashloop::was_ready(c))
        && let Some(pass) = crate::crashloop::watch(a, c).await
    {
        return pass;
    }
    if existing.is_none()
        && let Some(pass) = create::make_container(a).await
    {
        return pass;
    }
    a.rep.status(S::Starting, "starting");
    if let Err(e) = a.rt.start(&name).await {
        // Its network went between create and start (another agent on the
        // engine removed the owner's last container and the network with
        // it): make the container again.
        if docker::lost_network(&e) {
            let _ = a.rt.remove(&name).await;
            return a
                .rep
                .retrying(S::Starting, &format!("could not start: {e}"), a.retry);
        }
        *a.failed_hash = Some(a.spec.spec_hash.clone());
        let logs = a.rt.tail(&name, FAILURE_LINES).await;
        a.rep.send(
            S::Failed,
            &format!("could not start: {e}"),
            HashMap::new(),
            logs,
            0,
            "",
        );
        return Pass::Settled;
    }
    wait_ready(a).await
}

/// Polls readiness until ready, failed, superseded or timed out.
async fn wait_ready(a: &mut Attempt<'_>) -> Pass {
    let name = a.name.clone();
    let deadline = Instant::now() + a.ctx.ready_timeout;
    let mut baseline_restarts: Option<i64> = None;
    // With nothing to probe, "ready" means it started and stayed up a moment.
    let mut up_since: Option<Instant> = None;
    // Most workloads are ready within moments of starting: look again soon,
    // then less often (20 ms, doubling up to PROBE_EVERY).
    let mut pause = PROBE_FIRST;
    loop {
        if a.desired.has_changed().unwrap_or(true) {
            return Pass::Superseded;
        }
        let c = match a.rt.inspect(&name).await {
            Ok(Some(c)) => c,
            Ok(None) => return Pass::Superseded, // removed under us: start over
            Err(e) => {
                a.rep.status(S::Starting, &format!("Docker error: {e}"));
                return Pass::Settled;
            }
        };
        let base = *baseline_restarts.get_or_insert(restarts(&c));
        let state = c.state.clone().unwrap_or_default();
        let exited = !state.running.unwrap_or(false) && !state.restarting.unwrap_or(false);
        if exited || restarts(&c) > base || state.restarting.unwrap_or(false) {
            let code = state.exit_code.unwrap_or(0);
            let oom = if state.oom_killed.unwrap_or(false) {
                " (out of memory)"
            } else {
                ""
            };
            let why = state
                .error
                .filter(|e| !e.is_empty())
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            let logs = a.rt.tail(&name, FAILURE_LINES).await;
            // Stop the restart loop; the user decides what happens next.
            let _ = a.rt.stop(&name).await;
            *a.failed_hash = Some(a.spec.spec_hash.clone());
            warn!(workload = %a.spec.workload_id, code, "container exited during start");
            a.rep.send(
                S::Failed,
                &format!("the container exited during start with code {code}{oom}{why}"),
                HashMap::new(),
                logs,
                0,
                "",
            );
            return Pass::Settled;
        }
        let ready = if a.spec.readiness == "none" || a.spec.readiness.is_empty() {
            up_since.get_or_insert_with(Instant::now).elapsed() >= STABLE_FOR
        } else {
            a.rt.ready(a.spec, &c).await
        };
        if ready {
            *a.failed_hash = None;
            info!(workload = %a.spec.workload_id, "ready");
            a.rep.send(
                S::Running,
                "ready",
                published_ports(&c),
                Vec::new(),
                0,
                c.id.as_deref().unwrap_or(""),
            );
            // After the report: the user waits for "running", not for this.
            // An agent killed in between finds the container running without
            // restarts and passes through here again.
            if let Err(e) = a.rt.keep_running(&name).await {
                warn!(workload = %a.spec.workload_id, error = %e, "could not enable restarts");
            }
            return Pass::Settled;
        }
        if Instant::now() > deadline {
            let logs = a.rt.tail(&name, FAILURE_LINES).await;
            let _ = a.rt.stop(&name).await;
            *a.failed_hash = Some(a.spec.spec_hash.clone());
            a.rep.send(
                S::Failed,
                &format!(
                    "not ready after {}",
                    humantime::format_duration(a.ctx.ready_timeout)
                ),
                HashMap::new(),
                logs,
                0,
                "",
            );
            return Pass::Settled;
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = a.desired.changed() => return Pass::Superseded,
        }
        pause = (pause * 2).min(PROBE_EVERY);
    }
}

#[cfg(test)]
mod tests;
