//! deploy, ls, status, stop, start, restart, rm — and waiting for a
//! workload to settle, driven by the server's Watch stream (no polling).

use lattice_proto::state::Status;
use lattice_proto::v1;
use lattice_proto::validate;
use serde_json::{Value, json};

use crate::api::{Api, Ctx};
use crate::args::{DeployArgs, LifecycleArgs, NameArg, RmArgs, WaitArgs};
use crate::error::CliError;
use crate::output::{self, when};
use crate::view::access::access_rows;
use crate::view::{
    self, endpoint_line, restarts_text, status_name, workload_json, workloads_table,
};
use crate::wait::{Target, wait};

fn name_ok(name: &str) -> anyhow::Result<()> {
    validate::name("name", name).map_err(|e| CliError::from(e).into())
}

/// `lattice deploy`.
pub async fn deploy(mut ctx: Ctx, a: DeployArgs) -> anyhow::Result<()> {
    // Everything the input alone can tell is said before a server is needed.
    let kind = validate::kind(&a.kind).map_err(CliError::from)?;
    validate::kind_needs(kind, a.image.as_deref().unwrap_or_default()).map_err(CliError::from)?;
    name_ok(&a.name)?;
    for p in &a.ports {
        validate::port(*p).map_err(CliError::from)?;
    }
    if let Some(v) = &a.volume {
        validate::volume_path(v).map_err(CliError::from)?;
    }
    validate::command(&a.command).map_err(CliError::from)?;
    let cpu_millis = a
        .cpu
        .as_deref()
        .map(validate::parse_cpu)
        .transpose()
        .map_err(CliError::from)?
        .unwrap_or(0);
    let memory_bytes = a
        .memory
        .as_deref()
        .map(validate::parse_memory)
        .transpose()
        .map_err(CliError::from)?
        .unwrap_or(0);
    let mut env = Vec::new();
    for e in &a.env {
        let (key, value) = validate::parse_env_pair(e).map_err(CliError::from)?;
        env.push(v1::EnvVar { key, value });
    }
    if let Some(i) = &a.image {
        validate::image(i).map_err(CliError::from)?;
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
            validate::stop_timeout(secs).map_err(CliError::from)?;
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
        reuse_volume: a.reuse_volume,
    };
    let mut api = Api::connect(&mut ctx).await?;
    let host = api.host().to_string();
    let r = api.deploy(req).await?;
    let outcome = r.outcome.clone();
    let mut w = r.workload.unwrap_or_default();
    let waited = a.wait.wait && outcome != "unchanged";
    if waited && let Some(done) = wait(&mut api, &a.name, Target::Running, a.wait.timeout).await? {
        w = done;
    }
    if ctx.global.quiet {
        return output::line(&w.name);
    }
    // The first thing a user sees after `running` is how to connect.
    let access = if waited && ctx.global.output == crate::args::Output::Table {
        api.get_access(v1::GetAccessRequest {
            name: w.name.clone(),
            rotate: false,
        })
        .await
        .ok()
    } else {
        None
    };
    let mut value = workload_json(&w, &host);
    value["outcome"] = json!(outcome);
    output::emit(ctx.global.output, &value, || {
        let what = match outcome.as_str() {
            "unchanged" => format!(
                "{} is unchanged (version {}): the spec is what already runs.",
                w.name, w.version
            ),
            "updated" if waited => {
                format!("{} runs version {} on node {}.", w.name, w.version, w.node)
            }
            "updated" => format!(
                "{} is rolling out version {} on node {}. Follow it with `lattice status {}` (or deploy with --wait).",
                w.name, w.version, w.node, w.name
            ),
            _ if waited => format!("{} is running on node {}.", w.name, w.node),
            _ if w.node.is_empty() => format!(
                "{} is accepted and waits for a node: {}. It starts as soon as one can take it; \
                 follow it with `lattice status {}` (or deploy with --wait).",
                w.name,
                w.status_message
                    .strip_prefix("waiting for a node")
                    .map_or(w.status_message.as_str(), |rest| rest
                        .trim_start_matches([':', ' '])),
                w.name
            ),
            _ if w.status == v1::WorkloadStatus::Pending as i32 => format!(
                "{} is accepted and {} (node {}). It starts as soon as it can; \
                 follow it with `lattice status {}` (or deploy with --wait).",
                w.name, w.status_message, w.node, w.name
            ),
            _ => format!(
                "{} is {} on node {}. Follow it with `lattice status {}` (or deploy with --wait).",
                w.name,
                status_name(w.status),
                w.node,
                w.name
            ),
        };
        output::line(what)?;
        match &access {
            Some(acc) => output::key_values(&access_rows(acc, false, &host)),
            None => match w.endpoints.first() {
                Some(e) => output::line(format!(
                    "Endpoint: {}  (credentials: lattice access {})",
                    endpoint_line(e, &host),
                    w.name
                )),
                None => output::line("Endpoint: none (no port)"),
            },
        }
    })
}

/// `lattice ls`.
pub async fn ls(mut ctx: Ctx) -> anyhow::Result<()> {
    let mut api = Api::connect(&mut ctx).await?;
    let host = api.host().to_string();
    let r = api.list_workloads(v1::ListWorkloadsRequest {}).await?;
    if ctx.global.quiet {
        for w in &r.workloads {
            output::line(&w.name)?;
        }
        return Ok(());
    }
    let rows: Vec<Value> = r
        .workloads
        .iter()
        .map(|w| workload_json(w, &host))
        .collect();
    output::emit(ctx.global.output, &rows, || {
        if r.workloads.is_empty() {
            return output::line("No workloads yet. Try: lattice deploy postgres mydb --wait");
        }
        output::line(workloads_table(&r.workloads, &host))
    })
}

/// `lattice status`.
pub async fn status(mut ctx: Ctx, a: NameArg) -> anyhow::Result<()> {
    name_ok(&a.name)?;
    let mut api = Api::connect(&mut ctx).await?;
    let host = api.host().to_string();
    let d = api
        .get_workload(v1::GetWorkloadRequest {
            name: a.name.clone(),
        })
        .await?;
    let w = d.workload.clone().unwrap_or_default();
    if ctx.global.quiet {
        return output::line(&w.name);
    }
    let mut value = workload_json(&w, &host);
    value["events"] = d
        .events
        .iter()
        .map(|e| json!({"at": e.at.as_ref().and_then(|t| output::rfc3339_ms(t.unix_millis)), "status": status_name(e.status), "message": e.message}))
        .collect();
    value["last_log_lines"] = json!(d.last_log_lines);
    value["env"] = d.env.iter().map(|e| json!(e.key)).collect();
    value["command"] = json!(d.command);
    output::emit(ctx.global.output, &value, || {
        let mut rows = vec![
            ("name", w.name.clone()),
            ("kind", w.kind.clone()),
            ("image", w.image.clone()),
            ("status", status_name(w.status).to_string()),
            ("message", w.status_message.clone()),
            ("node", w.node.clone()),
            (
                "version",
                format!("{} (see `lattice history {}`)", w.version, w.name),
            ),
            ("restarts", restarts_text(&w)),
            (
                "endpoints",
                w.endpoints
                    .iter()
                    .map(|e| endpoint_line(e, &host))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        ];
        rows.push(("limits", view::limits_text(&w)));
        rows.push((
            "created",
            w.created_at
                .as_ref()
                .map_or_else(String::new, |t| when(t.unix_millis)),
        ));
        output::key_values(&rows)?;
        if !d.events.is_empty() {
            let mut t = output::table();
            output::header(&mut t, &["WHEN", "STATUS", "MESSAGE"]);
            output::cap_column(&mut t, 2, 100);
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

/// Runs `one` for each name, printing each result; a failure does not stop
/// the others, and the first one decides the exit code. JSON: one object
/// for one name, an array for several.
async fn each<F, Fut>(ctx: &Ctx, names: &[String], mut one: F) -> anyhow::Result<()>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(Value, String)>>,
{
    for n in names {
        name_ok(n)?;
    }
    let mut values = Vec::new();
    let mut first_err = None;
    for n in names {
        match one(n.clone()).await {
            Ok((value, sentence)) => {
                if ctx.global.quiet {
                    output::line(n)?;
                } else if ctx.global.output == crate::args::Output::Table {
                    output::line(sentence)?;
                }
                values.push(value);
            }
            Err(e) if names.len() > 1 => {
                eprintln!("error: {n}: {e:#}");
                first_err.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    if ctx.global.output == crate::args::Output::Json && !ctx.global.quiet {
        match values.as_slice() {
            [one] if names.len() == 1 => output::json(one)?,
            _ => output::json(&values)?,
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `lattice stop|start|restart NAME…`.
pub async fn lifecycle(mut ctx: Ctx, a: LifecycleArgs, action: Action) -> anyhow::Result<()> {
    for n in &a.names {
        name_ok(n)?;
    }
    let mut api = Api::connect(&mut ctx).await?;
    let host = api.host().to_string();
    let WaitArgs {
        wait: do_wait,
        timeout,
    } = a.wait;
    let api = &tokio::sync::Mutex::new(&mut api);
    each(&ctx, &a.names, |name| {
        let host = host.clone();
        async move {
            let mut api = api.lock().await;
            let req = v1::WorkloadRef { name: name.clone() };
            let mut w = match action {
                Action::Stop => api.stop(req).await?,
                Action::Start => api.start(req).await?,
                Action::Restart => api.restart(req).await?,
            };
            if do_wait {
                let target = if matches!(action, Action::Stop) {
                    Target::Stopped
                } else {
                    Target::Running
                };
                if let Some(done) = wait(&mut api, &name, target, timeout).await? {
                    w = done;
                }
            }
            let sentence = format!("{}: {}", w.name, status_name(w.status));
            Ok((workload_json(&w, &host), sentence))
        }
    })
    .await
}

/// `lattice rm NAME…`.
pub async fn rm(mut ctx: Ctx, a: RmArgs) -> anyhow::Result<()> {
    for n in &a.names {
        name_ok(n)?;
    }
    if a.purge && !ctx.global.yes {
        crate::confirm::ask(
            &format!(
                "Delete {} and {} data? This cannot be undone.",
                a.names.join(", "),
                if a.names.len() == 1 { "its" } else { "their" }
            ),
            "--yes",
        )?;
    }
    let mut api = Api::connect(&mut ctx).await?;
    let host = api.host().to_string();
    let api = &tokio::sync::Mutex::new(&mut api);
    let (purge, wait_args) = (a.purge, a.wait);
    each(&ctx, &a.names, |name| {
        let host = host.clone();
        async move {
            let mut api = api.lock().await;
            let w = api
                .delete(v1::DeleteRequest {
                    name: name.clone(),
                    purge,
                })
                .await?;
            let mut gone = Status::from_wire(w.status) == Status::Deleted;
            if wait_args.wait && !gone {
                wait(&mut api, &name, Target::Gone, wait_args.timeout).await?;
                gone = true;
            }
            let mut value = workload_json(&w, &host);
            value["status"] = json!(
                if gone {
                    Status::Deleted
                } else {
                    Status::Deleting
                }
                .as_str()
            );
            value["purge"] = json!(purge);
            let kept = if purge || !w.has_volume {
                ""
            } else {
                "; its data volume is kept (see `lattice volumes ls`)"
            };
            let sentence = if gone {
                format!("{name} deleted{kept}")
            } else {
                format!("{name} is being deleted{kept}")
            };
            Ok((value, sentence))
        }
    })
    .await
}
