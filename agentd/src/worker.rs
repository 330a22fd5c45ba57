//! One task per workload: converge the container to the desired state, then
//! wait for a change (new desired state, a Docker event, or a periodic
//! check) and converge again. Every step is idempotent, so a restart of the
//! agent at any point resumes where it was and never makes a second
//! container (the container name is derived from the workload id).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lattice_proto::v1;
use lattice_proto::v1::WorkloadStatus as S;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::Ctx;
use crate::docker::{self, Docker, container_ip, container_name, label, published_ports};

/// How long a workload without a probe must stay up to count as started.
const STABLE_FOR: Duration = Duration::from_secs(2);

/// Lines of output attached to a failure.
const FAILURE_LINES: usize = 20;

/// How a convergence pass ended.
enum Pass {
    /// Nothing more to do until something changes.
    Settled,
    /// The workload is gone; the task ends.
    Deleted,
    /// The desired state changed mid-way: converge again now.
    Superseded,
}

/// Runs the workload's task until it is deleted.
pub async fn run(
    ctx: Arc<Ctx>,
    mut desired: watch::Receiver<v1::DesiredWorkload>,
    mut wake: mpsc::Receiver<()>,
) {
    let mut failed_hash: Option<String> = None;
    loop {
        let d = desired.borrow_and_update().clone();
        let pass = converge(&ctx, &d, &mut desired, &mut failed_hash).await;
        match pass {
            Pass::Deleted => return,
            Pass::Superseded => continue,
            Pass::Settled => {}
        }
        tokio::select! {
            r = desired.changed() => if r.is_err() { return },
            _ = wake.recv() => {}
            _ = tokio::time::sleep(Duration::from_secs(10)) => {}
        }
    }
}

struct Reporter<'a> {
    ctx: &'a Ctx,
    spec: &'a v1::ContainerSpec,
}

impl Reporter<'_> {
    fn send(
        &self,
        status: S,
        message: &str,
        ports: HashMap<u32, u32>,
        logs: Vec<String>,
        progress: u32,
        cid: &str,
    ) {
        self.ctx.reports.set(v1::WorkloadReport {
            workload_id: self.spec.workload_id.clone(),
            status: status as i32,
            message: message.to_string(),
            progress_percent: progress,
            last_log_lines: logs,
            published_ports: ports,
            spec_hash: self.spec.spec_hash.clone(),
            container_id: cid.to_string(),
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
) -> Pass {
    let Some(spec) = d.spec.as_ref() else {
        return Pass::Settled;
    };
    let rep = Reporter { ctx, spec };
    let Some(docker) = ctx.docker().await else {
        rep.status(
            S::Pending,
            &format!("waiting for Docker at {}", docker::socket_description()),
        );
        return Pass::Settled;
    };
    let name = container_name(&spec.workload_id);
    match d.state.as_str() {
        "deleted" => {
            if let Err(e) = docker.remove(&name).await {
                rep.status(S::Deleting, &format!("could not remove the container: {e}"));
                return Pass::Settled;
            }
            if d.purge
                && let Err(e) = docker
                    .remove_volume(&docker::volume_name(&spec.workload_id))
                    .await
            {
                rep.status(S::Deleting, &e);
                return Pass::Settled;
            }
            info!(workload = %spec.workload_id, purge = d.purge, "workload removed");
            rep.status(S::Deleted, "removed");
            Pass::Deleted
        }
        "stopped" => {
            match docker.inspect(&name).await {
                Ok(Some(c)) if is_running(&c) => {
                    rep.status(S::Stopping, "stopping");
                    if let Err(e) = docker.stop(&name).await {
                        rep.status(S::Stopping, &format!("could not stop: {e}"));
                        return Pass::Settled;
                    }
                    rep.status(S::Stopped, "stopped; data kept");
                }
                Ok(_) => rep.status(S::Stopped, "stopped; data kept"),
                Err(e) => rep.status(S::Stopping, &format!("Docker error: {e}")),
            }
            Pass::Settled
        }
        _ => {
            let mut a = Attempt {
                ctx,
                docker: &docker,
                spec,
                rep: &rep,
                desired,
                failed_hash,
            };
            run_container(&mut a).await
        }
    }
}

fn is_running(c: &bollard::models::ContainerInspectResponse) -> bool {
    c.state.as_ref().and_then(|s| s.running).unwrap_or(false)
}

fn restarts(c: &bollard::models::ContainerInspectResponse) -> i64 {
    c.restart_count.unwrap_or(0)
}

/// One convergence attempt of a running workload: everything the steps share.
struct Attempt<'a> {
    ctx: &'a Ctx,
    docker: &'a Docker,
    spec: &'a v1::ContainerSpec,
    rep: &'a Reporter<'a>,
    desired: &'a mut watch::Receiver<v1::DesiredWorkload>,
    failed_hash: &'a mut Option<String>,
}

async fn run_container(a: &mut Attempt<'_>) -> Pass {
    let name = container_name(&a.spec.workload_id);
    let existing = match a.docker.inspect(&name).await {
        Ok(c) => c,
        Err(e) => {
            a.rep.status(S::Pending, &format!("Docker error: {e}"));
            return Pass::Settled;
        }
    };
    let existing = match existing {
        Some(c)
            if c.config
                .as_ref()
                .and_then(|c| c.labels.as_ref())
                .and_then(|l| l.get(label::SPEC))
                != Some(&a.spec.spec_hash) =>
        {
            a.rep
                .status(S::Starting, "applying a new a.spec (data kept)");
            if let Err(e) = a.docker.remove(&name).await {
                a.rep.status(
                    S::Failed,
                    &format!("could not replace the old container: {e}"),
                );
                return Pass::Settled;
            }
            None
        }
        other => other,
    };
    // A a.spec that already failed is not retried in a loop; `lattice restart`
    // or `lattice start` make a new generation.
    if a.failed_hash.as_deref() == Some(a.spec.spec_hash.as_str())
        && !existing.as_ref().is_some_and(is_running)
    {
        return Pass::Settled;
    }
    // Already running and ready for this spec: just confirm.
    if let Some(c) = existing.as_ref().filter(|c| is_running(c))
        && a.ctx
            .reports
            .get(&a.spec.workload_id)
            .is_some_and(|r| r.status() == S::Running && r.spec_hash == a.spec.spec_hash)
    {
        let ready = check_ready(a.docker, a.spec, c).await;
        if ready {
            a.rep.send(
                S::Running,
                "ready",
                published_ports(c),
                Vec::new(),
                0,
                c.id.as_deref().unwrap_or(""),
            );
            return Pass::Settled;
        }
    }
    if existing.is_none() {
        match a.docker.has_image(&a.spec.image).await {
            Ok(true) => {}
            Ok(false) => {
                a.rep
                    .status(S::Pulling, &format!("pulling {}", a.spec.image));
                let pulled = a
                    .docker
                    .pull(&a.spec.image, |p| {
                        a.rep.send(
                            S::Pulling,
                            &format!("pulling {}", a.spec.image),
                            HashMap::new(),
                            Vec::new(),
                            p,
                            "",
                        )
                    })
                    .await;
                if let Err(e) = pulled {
                    *a.failed_hash = Some(a.spec.spec_hash.clone());
                    a.rep.status(
                        S::Failed,
                        &format!(
                            "image {} is not on this node and could not be pulled: {e}",
                            a.spec.image
                        ),
                    );
                    return Pass::Settled;
                }
            }
            Err(e) => {
                a.rep.status(S::Pending, &format!("Docker error: {e}"));
                return Pass::Settled;
            }
        }
        if !a.spec.volume_path.is_empty()
            && let Err(e) = a.docker.ensure_volume(a.spec, &a.ctx.node_id).await
        {
            *a.failed_hash = Some(a.spec.spec_hash.clone());
            a.rep.status(S::Failed, &e);
            return Pass::Settled;
        }
        if let Err(e) = a.docker.create(a.spec, &a.ctx.node_id).await {
            *a.failed_hash = Some(a.spec.spec_hash.clone());
            a.rep
                .status(S::Failed, &format!("could not create the container: {e}"));
            return Pass::Settled;
        }
    }
    a.rep.status(S::Starting, "starting");
    if let Err(e) = a.docker.start(&name).await {
        *a.failed_hash = Some(a.spec.spec_hash.clone());
        let logs = a.docker.tail(&name, FAILURE_LINES).await;
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
    let name = container_name(&a.spec.workload_id);
    let deadline = Instant::now() + a.ctx.ready_timeout;
    let mut baseline_restarts: Option<i64> = None;
    // With nothing to probe, "ready" means it started and stayed up a moment.
    let mut up_since: Option<Instant> = None;
    loop {
        if a.desired.has_changed().unwrap_or(true) {
            return Pass::Superseded;
        }
        let c = match a.docker.inspect(&name).await {
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
            let logs = a.docker.tail(&name, FAILURE_LINES).await;
            // Stop the restart loop; the user decides what happens next.
            let _ = a.docker.stop(&name).await;
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
            check_ready(a.docker, a.spec, &c).await
        };
        if ready {
            *a.failed_hash = None;
            if let Err(e) = a.docker.keep_running(&name).await {
                warn!(workload = %a.spec.workload_id, error = %e, "could not enable restarts");
            }
            info!(workload = %a.spec.workload_id, "ready");
            a.rep.send(
                S::Running,
                "ready",
                published_ports(&c),
                Vec::new(),
                0,
                c.id.as_deref().unwrap_or(""),
            );
            return Pass::Settled;
        }
        if Instant::now() > deadline {
            let logs = a.docker.tail(&name, FAILURE_LINES).await;
            let _ = a.docker.stop(&name).await;
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
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = a.desired.changed() => return Pass::Superseded,
        }
    }
}

/// Whether the workload answers as its spec says it should.
async fn check_ready(
    docker: &Docker,
    spec: &v1::ContainerSpec,
    c: &bollard::models::ContainerInspectResponse,
) -> bool {
    if !is_running(c) {
        return false;
    }
    let target = || Some((container_ip(c)?, *spec.ports.first()?));
    match spec.readiness.as_str() {
        "exec" => {
            let name = container_name(&spec.workload_id);
            matches!(docker.exec(&name, &spec.readiness_args).await, Ok((0, _)))
        }
        "tcp" => match target() {
            Some((ip, port)) => tcp_ready(&ip, port).await,
            None => false,
        },
        "http" => match target() {
            Some((ip, port)) => {
                http_ready(
                    &ip,
                    port,
                    spec.readiness_args.first().map_or("/", String::as_str),
                )
                .await
            }
            None => false,
        },
        _ => true,
    }
}

async fn tcp_ready(ip: &str, port: u32) -> bool {
    let Ok(port) = u16::try_from(port) else {
        return false;
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), TcpStream::connect((ip, port))).await,
        Ok(Ok(_))
    )
}

/// Any HTTP answer below 500 means the server is up (an S3 server answers
/// an anonymous request with 403).
async fn http_ready(ip: &str, port: u32, path: &str) -> bool {
    let Ok(port) = u16::try_from(port) else {
        return false;
    };
    let probe = async {
        let mut s = TcpStream::connect((ip, port)).await.ok()?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n").as_bytes())
            .await
            .ok()?;
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).await.ok()?;
        let head = std::str::from_utf8(&buf[..n]).ok()?;
        let code: u16 = head
            .strip_prefix("HTTP/")?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some(code < 500)
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), probe).await,
        Ok(Some(true))
    )
}
