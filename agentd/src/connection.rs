//! The agent's one outbound connection: a control stream to controld, kept
//! up with gRPC-style backoff. Containers keep running whatever happens to
//! it; on every (re)connect the agent says hello, receives the node's full
//! desired state (in chunks) and re-sends every workload's latest report;
//! in between, changes arrive one workload at a time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lattice_proto::v1;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tracing::{info, warn};

use crate::backoff::Backoff;
use crate::identity::{Shared, channel};
use crate::supervisor::Supervisor;
use crate::{Ctx, VERSION};

/// How long a command in a container may run (controld gives up at 30 s).
const EXEC_DEADLINE: Duration = Duration::from_secs(25);

/// What the connection needs besides the identity.
pub struct Settings {
    /// Heartbeat interval.
    pub heartbeat: Duration,
    /// `Hello.advertise_host`.
    pub advertise_host: String,
}

/// Keeps the control stream up until `shutdown` resolves.
pub async fn run(
    id: Shared,
    ctx: Arc<Ctx>,
    sup: Arc<Supervisor>,
    settings: Settings,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut backoff = Backoff::default();
    loop {
        let started = Instant::now();
        let res = tokio::select! {
            r = session(&id, &ctx, &sup, &settings) => r,
            _ = &mut shutdown => return,
        };
        match res {
            Ok(()) => info!("control plane closed the connection"),
            Err(e) => warn!(error = %format!("{e:#}"), "control connection failed"),
        }
        if started.elapsed() > Duration::from_secs(30) {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        info!(retry_in = ?delay, "reconnecting to the control plane");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = &mut shutdown => return,
        }
    }
}

async fn session(
    shared: &Shared,
    ctx: &Arc<Ctx>,
    sup: &Arc<Supervisor>,
    settings: &Settings,
) -> anyhow::Result<()> {
    let id = &shared.get();
    let ch = channel(&id.control, &id.ca_pem).await?;
    let (docker_ok, docker_error) = ctx.refresh_docker().await;
    let (cpu, mem) = match ctx.runtime().await {
        Some(rt) => rt.capacity().await,
        None => (0, 0),
    };
    let (tx, rx) = mpsc::channel::<v1::AgentMessage>(64);
    let hello = v1::Hello {
        agent_version: VERSION.into(),
        cpu_millis_capacity: cpu,
        memory_bytes_capacity: mem,
        docker_ok,
        docker_error,
        advertise_host: settings.advertise_host.clone(),
    };
    tx.send(v1::AgentMessage {
        msg: Some(v1::agent_message::Msg::Hello(hello)),
    })
    .await?;
    let mut req = tonic::Request::new(ReceiverStream::new(rx));
    req.metadata_mut()
        .insert("authorization", id.authorization().parse()?);
    // Log reads and relayed connections each get a connection of their own.
    let dialer = crate::stream::Dialer::new(shared);
    let mut inbound = crate::identity::client(ch)
        .connect(req)
        .await
        .map_err(|s| anyhow::anyhow!("controld refused the connection: {}", s.message()))?
        .into_inner();
    info!(node = %id.node_name, "connected to the control plane");
    ctx.reports.mark_all_dirty();
    // A full state in chunks, per connection: a reconnect starts over.
    let mut assembly = crate::desired::Assembly::default();
    let mut beat = tokio::time::interval(settings.heartbeat);
    let mut full = tokio::time::interval_at(tokio::time::Instant::now() + FULL_RESYNC, FULL_RESYNC);
    loop {
        tokio::select! {
            msg = inbound.message() => {
                let Some(msg) = msg? else { return Ok(()) };
                match msg.cmd {
                    Some(v1::control_message::Cmd::Desired(d)) if d.partial => sup.update(d.workloads),
                    Some(v1::control_message::Cmd::Desired(d)) => match assembly.add(d) {
                        Ok(Some(all)) => sup.apply(all),
                        Ok(None) => {}
                        Err(e) => warn!(error = %e, "dropped the desired state"),
                    },
                    Some(v1::control_message::Cmd::OpenLogs(o)) => {
                        let engine = ctx.engine().await;
                        tokio::spawn(crate::logs::serve(dialer.clone(), engine, o));
                    }
                    Some(v1::control_message::Cmd::Exec(e)) => {
                        // Off the loop, with a deadline: a command that hangs
                        // must never hold up heartbeats or other workloads.
                        let (ctx, tx, id) = (ctx.clone(), tx.clone(), msg.correlation_id);
                        tokio::spawn(async move {
                            let result = match tokio::time::timeout(EXEC_DEADLINE, exec(&ctx, &id, e)).await {
                                Ok(r) => r,
                                Err(_) => failed(&id, format!("the command did not finish within {}s", EXEC_DEADLINE.as_secs())),
                            };
                            let _ = tx.send(v1::AgentMessage { msg: Some(v1::agent_message::Msg::Result(result)) }).await;
                        });
                    }
                    Some(v1::control_message::Cmd::OpenExec(o)) => {
                        let engine = ctx.engine().await;
                        tokio::spawn(crate::exec::serve(dialer.clone(), engine, o));
                    }
                    Some(v1::control_message::Cmd::OpenBackup(o)) => {
                        let engine = ctx.engine().await;
                        tokio::spawn(crate::backup::serve_backup(dialer.clone(), engine, o));
                    }
                    Some(v1::control_message::Cmd::OpenRestore(o)) => {
                        let engine = ctx.engine().await;
                        tokio::spawn(crate::backup::serve_restore(dialer.clone(), engine, o));
                    }
                    Some(v1::control_message::Cmd::OpenTcp(o)) => {
                        let engine = ctx.engine().await;
                        tokio::spawn(crate::tcp::serve(dialer.clone(), engine, o));
                    }
                    Some(v1::control_message::Cmd::Resync(_)) => ctx.reports.mark_all_dirty(),
                    Some(v1::control_message::Cmd::RemoveVolume(r)) => {
                        let (ctx, sup, tx, id) = (ctx.clone(), sup.clone(), tx.clone(), msg.correlation_id);
                        tokio::spawn(async move {
                            let result = match crate::volumes::remove(&ctx, &sup, &r.workload_id).await {
                                Ok(()) => v1::CommandResult { correlation_id: id, ok: true, ..Default::default() },
                                Err(e) => failed(&id, e),
                            };
                            let _ = tx.send(v1::AgentMessage { msg: Some(v1::agent_message::Msg::Result(result)) }).await;
                        });
                    }
                    Some(v1::control_message::Cmd::RotateSecret(r)) => {
                        // On disk before it is acknowledged: controld drops the
                        // old secret once it hears back.
                        let (shared, tx, id) = (shared.clone(), tx.clone(), msg.correlation_id);
                        tokio::spawn(async move {
                            let saved = tokio::task::spawn_blocking(move || shared.rotate(&r.node_secret)).await;
                            let result = match saved {
                                Ok(Ok(())) => {
                                    info!("saved the node's new secret");
                                    v1::CommandResult { correlation_id: id, ok: true, ..Default::default() }
                                }
                                Ok(Err(e)) => failed(&id, format!("{e:#}")),
                                Err(e) => failed(&id, e.to_string()),
                            };
                            let _ = tx.send(v1::AgentMessage { msg: Some(v1::agent_message::Msg::Result(result)) }).await;
                        });
                    }
                    None => {}
                }
            }
            _ = full.tick() => {
                // Level-triggered like a kubelet's status sync: every report
                // again now and then, so nothing controld missed stays missed.
                ctx.reports.mark_all_dirty();
            }
            _ = beat.tick() => {
                // The engine's health as last checked (by `watch_engine`):
                // a slow Docker never delays a heartbeat.
                let (docker_ok, docker_error) = ctx.docker_status();
                let hb = v1::Heartbeat { docker_ok, docker_error, usage: ctx.usage.last() };
                tx.send(v1::AgentMessage { msg: Some(v1::agent_message::Msg::Heartbeat(hb)) }).await?;
            }
            _ = ctx.reports.changed.notified() => {
                for r in ctx.reports.take_dirty() {
                    tx.send(v1::AgentMessage { msg: Some(v1::agent_message::Msg::Report(r)) }).await?;
                }
            }
        }
    }
}

/// How often every report is sent again, changed or not.
pub const FULL_RESYNC: Duration = Duration::from_secs(60);

async fn exec(ctx: &Ctx, correlation_id: &str, e: v1::ExecInWorkload) -> v1::CommandResult {
    let res = match ctx.engine().await {
        Some(engine) => match engine.container(&e.workload_id).await {
            Ok((name, _)) => {
                let env: Vec<String> = e
                    .env
                    .iter()
                    .map(|v| format!("{}={}", v.key, v.value))
                    .collect();
                engine.docker.exec_env(&name, &e.command, &env).await
            }
            Err(why) => Err(why),
        },
        None => Err("Docker is unavailable on this node".into()),
    };
    match res {
        Ok((0, out)) => v1::CommandResult {
            correlation_id: correlation_id.into(),
            ok: true,
            error: String::new(),
            output: out,
        },
        Ok((code, out)) => v1::CommandResult {
            correlation_id: correlation_id.into(),
            ok: false,
            error: format!("exited with code {code}"),
            output: out,
        },
        Err(err) => failed(correlation_id, err),
    }
}

fn failed(correlation_id: &str, error: String) -> v1::CommandResult {
    v1::CommandResult {
        correlation_id: correlation_id.into(),
        ok: false,
        error,
        output: Vec::new(),
    }
}

/// Re-checks the engine every `every`, off the control loop.
pub async fn watch_engine(ctx: Arc<Ctx>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        ctx.refresh_docker().await;
        let containers = match ctx.runtime().await {
            Some(rt) => rt
                .workloads(&ctx.node_id)
                .await
                .ok()
                .map(|w| u32::try_from(w.len()).unwrap_or(u32::MAX)),
            None => None,
        };
        ctx.usage.refresh(containers);
    }
}
