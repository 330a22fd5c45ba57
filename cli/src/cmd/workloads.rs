//! deploy, ls, status, stop, start, restart, rm — and waiting for a
//! workload to settle, driven by the server's Watch stream (no polling).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use lattice_proto::v1::{self, workload_service_client::WorkloadServiceClient};
use lattice_proto::validate;
use serde_json::{Value, json};

use crate::api::{Api, Ctx};
use crate::args::{DeployArgs, LifecycleArgs, NameArg, RmArgs, WaitArgs};
use crate::error::CliError;
use crate::output::{self, rfc3339, when};
use crate::view::{endpoint_line, restarts_text, status_name, workload_json, workloads_table};

fn name_ok(name: &str) -> anyhow::Result<()> {
    validate::name("name", name).map_err(|e| CliError::Usage(e.to_string()).into())
}

/// What a wait waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Ready.
    Running,
    /// Stopped.
    Stopped,
    /// Deleted.
    Gone,
}

/// Shows progress: a spinner on a terminal, one line per step otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last: String,
}

impl Progress {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        Self {
            bar,
            last: String::new(),
        }
    }

    fn show(&mut self, w: &v1::Workload) {
        let mut step = status_name(w.status).to_string();
        if w.status == v1::WorkloadStatus::Pulling as i32 && w.progress_percent > 0 {
            step = format!("pulling {}%", w.progress_percent);
        }
        let line = format!("{}: {step}", w.name);
        if line == self.last {
            return;
        }
        match &self.bar {
            Some(b) => b.set_message(line.clone()),
            None => eprintln!("{line}"),
        }
        self.last = line;
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// Waits until `name` reaches `target`, failing fast when it fails.
pub async fn wait(
    api: &mut Api,
    name: &str,
    target: Target,
    timeout: Duration,
) -> anyhow::Result<Option<v1::Workload>> {
    let deadline = Instant::now() + timeout;
    let mut progress = Progress::new();
    let req = v1::WatchRequest {
        name: name.to_string(),
    };
    let mut stream = api
        .call(req, |ch, r| async move {
            WorkloadServiceClient::new(ch).watch(r).await
        })
        .await?;
    let mut last: Option<v1::Workload> = None;
    let result = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let next = match tokio::time::timeout(left, stream.message()).await {
            Err(_) => {
                let st = last.as_ref().map_or("unknown", |w| status_name(w.status));
                break Err(CliError::Timeout(format!(
                    "{name} is still {st} after {}; see `lattice status {name}`",
                    humantime::format_duration(timeout)
                ))
                .into());
            }
            Ok(Err(s)) => break Err(api.status(&s)),
            Ok(Ok(None)) => {
                break Err(
                    CliError::Unavailable("the server ended the watch; try again".into()).into(),
                );
            }
            Ok(Ok(Some(ev))) => ev,
        };
        let Some(w) = next.workload else { continue };
        if next.kind == "deleted" {
            break if target == Target::Gone {
                Ok(None)
            } else {
                Err(CliError::NotFound(format!("{name} was deleted")).into())
            };
        }
        progress.show(&w);
        let st = v1::WorkloadStatus::try_from(w.status).unwrap_or(v1::WorkloadStatus::Unspecified);
        match (target, st) {
            (Target::Running, v1::WorkloadStatus::Running)
            | (Target::Stopped, v1::WorkloadStatus::Stopped) => break Ok(Some(w)),
            (Target::Running, v1::WorkloadStatus::Failed) => {
                let detail = get(api, name).await.ok();
                let logs = detail.map(|d| d.last_log_lines).unwrap_or_default();
                let mut msg = format!("{name} failed: {}", w.status_message);
                if !logs.is_empty() {
                    msg.push_str("\nlast log lines:\n  ");
                    msg.push_str(&logs.join("\n  "));
                }
                break Err(CliError::WorkloadFailed(msg).into());
            }
            _ => {}
        }
        last = Some(w);
    };
    progress.finish();
    result
}

async fn get(api: &mut Api, name: &str) -> anyhow::Result<v1::WorkloadDetail> {
    let req = v1::GetWorkloadRequest {
        name: name.to_string(),
    };
    api.call(req, |ch, r| async move {
        WorkloadServiceClient::new(ch).get(r).await
    })
    .await
}

/// `lattice deploy`.
pub async fn deploy(mut ctx: Ctx, a: DeployArgs) -> anyhow::Result<()> {
    name_ok(&a.name)?;
    let usage = |e: validate::ValidationError| CliError::Usage(e.to_string());
    let cpu_millis = a
        .cpu
        .as_deref()
        .map(validate::parse_cpu)
        .transpose()
        .map_err(usage)?
        .unwrap_or(0);
    let memory_bytes = a
        .memory
        .as_deref()
        .map(validate::parse_memory)
        .transpose()
        .map_err(usage)?
        .unwrap_or(0);
    let mut env = Vec::new();
    for e in &a.env {
        let (key, value) = validate::parse_env_pair(e).map_err(usage)?;
        env.push(v1::EnvVar { key, value });
    }
    if let Some(i) = &a.image {
        validate::image(i).map_err(usage)?;
    }
    let stop_timeout_seconds = match a.stop_timeout {
        None => 0,
        Some(d) if d.is_zero() => {
            return Err(CliError::Usage(
                "--stop-timeout must be at least 1s (omit it for the default, 10s)".into(),
            )
            .into());
        }
        Some(d) => {
            let secs = u32::try_from(d.as_secs()).unwrap_or(u32::MAX).max(1);
            validate::stop_timeout(secs).map_err(usage)?;
            secs
        }
    };
    let req = v1::DeployRequest {
        name: a.name.clone(),
        kind: a.kind.clone(),
        image: a.image.clone().unwrap_or_default(),
        ports: a.ports.clone(),
        resources: Some(v1::Resources {
            cpu_millis,
            memory_bytes,
        }),
        env,
        command: a.command.clone(),
        volume_path: a.volume.clone().unwrap_or_default(),
        stop_timeout_seconds,
    };
    let mut api = Api::connect(&mut ctx).await?;
    let mut w = api
        .call(req, |ch, r| async move {
            WorkloadServiceClient::new(ch).deploy(r).await
        })
        .await?;
    if a.wait.wait
        && let Some(done) = wait(&mut api, &a.name, Target::Running, a.wait.timeout).await?
    {
        w = done;
    }
    // The first thing a user sees after `running` is how to connect.
    let access = if a.wait.wait && ctx.global.output == crate::args::Output::Table {
        super::access::fetch(&mut api, &w.name).await.ok()
    } else {
        None
    };
    output::emit(ctx.global.output, &workload_json(&w), || {
        if a.wait.wait {
            output::line(format!("{} is running on node {}.", w.name, w.node))?;
            match &access {
                Some(acc) => super::access::print_table(acc, false),
                None => output::line(format!("Connect: lattice access {}", w.name)),
            }
        } else {
            output::line(format!(
                "{} is {} on node {}. Follow it with `lattice status {}` (or deploy with --wait).",
                w.name,
                status_name(w.status),
                w.node,
                w.name
            ))
        }
    })
}

/// `lattice ls`.
pub async fn ls(mut ctx: Ctx, a: crate::args::WatchArg) -> anyhow::Result<()> {
    if a.watch {
        return super::watch::run(ctx, None).await;
    }
    let mut api = Api::connect(&mut ctx).await?;
    let r = api
        .call(v1::ListWorkloadsRequest {}, |ch, r| async move {
            WorkloadServiceClient::new(ch).list(r).await
        })
        .await?;
    if ctx.global.quiet {
        for w in &r.workloads {
            output::line(&w.name)?;
        }
        return Ok(());
    }
    let rows: Vec<Value> = r.workloads.iter().map(workload_json).collect();
    output::emit(ctx.global.output, &rows, || {
        if r.workloads.is_empty() {
            return output::line("No workloads yet. Try: lattice deploy postgres mydb --wait");
        }
        output::line(workloads_table(&r.workloads))
    })
}

/// `lattice status`.
pub async fn status(mut ctx: Ctx, a: NameArg) -> anyhow::Result<()> {
    name_ok(&a.name)?;
    let mut api = Api::connect(&mut ctx).await?;
    let d = get(&mut api, &a.name).await?;
    let w = d.workload.clone().unwrap_or_default();
    let mut value = workload_json(&w);
    value["events"] = d
        .events
        .iter()
        .map(|e| json!({"at": e.at.as_ref().and_then(|t| rfc3339(t.unix_millis)), "status": status_name(e.status), "message": e.message}))
        .collect();
    value["last_log_lines"] = json!(d.last_log_lines);
    value["env"] = d.env.iter().map(|e| json!(e.key)).collect();
    value["command"] = json!(d.command);
    output::emit(ctx.global.output, &value, || {
        let r = w.resources.unwrap_or_default();
        let mut rows = vec![
            ("name", w.name.clone()),
            ("kind", w.kind.clone()),
            ("image", w.image.clone()),
            ("status", status_name(w.status).to_string()),
            ("message", w.status_message.clone()),
            ("node", w.node.clone()),
            ("restarts", restarts_text(&w)),
            (
                "endpoints",
                w.endpoints
                    .iter()
                    .map(endpoint_line)
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        ];
        if r.cpu_millis > 0 {
            rows.push(("cpu", format!("{}", f64::from(r.cpu_millis) / 1000.0)));
        }
        if r.memory_bytes > 0 {
            rows.push(("memory", super::nodes::bytes(r.memory_bytes)));
        }
        rows.push((
            "created",
            w.created_at
                .as_ref()
                .map_or_else(String::new, |t| when(t.unix_millis)),
        ));
        output::key_values(&rows)?;
        if !d.events.is_empty() {
            let mut t = output::table();
            t.set_header(vec!["WHEN", "STATUS", "MESSAGE"]);
            for e in &d.events {
                t.add_row(vec![
                    e.at.as_ref()
                        .map_or_else(String::new, |t| when(t.unix_millis)),
                    status_name(e.status).to_string(),
                    e.message.clone(),
                ]);
            }
            output::line("Recent events:")?;
            output::line(t)?;
        }
        if !d.last_log_lines.is_empty() {
            output::line("Last log lines:")?;
            for l in &d.last_log_lines {
                output::line(format!("  {l}"))?;
            }
        }
        Ok(())
    })
}

/// Which lifecycle action.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    /// Stop.
    Stop,
    /// Start.
    Start,
    /// Restart.
    Restart,
}

/// `lattice stop|start|restart`.
pub async fn lifecycle(mut ctx: Ctx, a: LifecycleArgs, action: Action) -> anyhow::Result<()> {
    name_ok(&a.name)?;
    let mut api = Api::connect(&mut ctx).await?;
    let req = v1::WorkloadRef {
        name: a.name.clone(),
    };
    let mut w = match action {
        Action::Stop => {
            api.call(req, |ch, r| async move {
                WorkloadServiceClient::new(ch).stop(r).await
            })
            .await?
        }
        Action::Start => {
            api.call(req, |ch, r| async move {
                WorkloadServiceClient::new(ch).start(r).await
            })
            .await?
        }
        Action::Restart => {
            api.call(req, |ch, r| async move {
                WorkloadServiceClient::new(ch).restart(r).await
            })
            .await?
        }
    };
    let WaitArgs {
        wait: do_wait,
        timeout,
    } = a.wait;
    if do_wait {
        let target = if matches!(action, Action::Stop) {
            Target::Stopped
        } else {
            Target::Running
        };
        if let Some(done) = wait(&mut api, &a.name, target, timeout).await? {
            w = done;
        }
    }
    output::emit(ctx.global.output, &workload_json(&w), || {
        output::line(format!("{}: {}", w.name, status_name(w.status)))
    })
}

/// `lattice rm`.
pub async fn rm(mut ctx: Ctx, a: RmArgs) -> anyhow::Result<()> {
    name_ok(&a.name)?;
    if a.purge && !ctx.global.yes {
        crate::confirm::ask(
            &format!(
                "Delete {} and its data volume? This cannot be undone.",
                a.name
            ),
            "--yes",
        )?;
    }
    let mut api = Api::connect(&mut ctx).await?;
    let req = v1::DeleteRequest {
        name: a.name.clone(),
        purge: a.purge,
    };
    let w = api
        .call(req, |ch, r| async move {
            WorkloadServiceClient::new(ch).delete(r).await
        })
        .await?;
    let mut gone = w.status == v1::WorkloadStatus::Deleted as i32;
    if a.wait.wait && !gone {
        wait(&mut api, &a.name, Target::Gone, a.wait.timeout).await?;
        gone = true;
    }
    let mut value = workload_json(&w);
    value["status"] = json!(if gone { "deleted" } else { "deleting" });
    value["purge"] = json!(a.purge);
    output::emit(ctx.global.output, &value, || {
        output::line(if gone {
            format!("{} deleted", a.name)
        } else {
            format!("{} is being deleted", a.name)
        })
    })
}
