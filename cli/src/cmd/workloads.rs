//! deploy, ls, status, stop, start, restart, rm — and waiting for a
//! workload to settle, driven by the server's Watch stream (no polling).

use lattice_proto::state::Status;
use lattice_proto::v1;
use lattice_proto::validate;
use serde_json::{Value, json};

use crate::api::{Api, Ctx};
use crate::args::{DeployArgs, LifecycleArgs, NameArg, RmArgs, WaitArgs};
use crate::error::CliError;
use crate::output::{self, rfc3339, when};
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
    name_ok(&a.name)?;
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
    };
    let mut api = Api::connect(&mut ctx).await?;
    let host = api.host().to_string();
    let mut w = api.deploy(req).await?;
    if a.wait.wait
        && let Some(done) = wait(&mut api, &a.name, Target::Running, a.wait.timeout).await?
    {
        w = done;
    }
    // The first thing a user sees after `running` is how to connect.
    let access = if a.wait.wait && ctx.global.output == crate::args::Output::Table {
        api.get_access(v1::GetAccessRequest {
            name: w.name.clone(),
            rotate: false,
        })
        .await
        .ok()
    } else {
        None
    };
    output::emit(ctx.global.output, &workload_json(&w, &host), || {
        if a.wait.wait {
            output::line(format!("{} is running on node {}.", w.name, w.node))?;
            match &access {
                Some(acc) => output::key_values(&access_rows(acc, false, &host)),
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
    let mut value = workload_json(&w, &host);
    value["events"] = d
        .events
        .iter()
        .map(|e| json!({"at": e.at.as_ref().and_then(|t| rfc3339(t.unix_millis)), "status": status_name(e.status), "message": e.message}))
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
    let host = api.host().to_string();
    let req = v1::WorkloadRef {
        name: a.name.clone(),
    };
    let mut w = match action {
        Action::Stop => api.stop(req).await?,
        Action::Start => api.start(req).await?,
        Action::Restart => api.restart(req).await?,
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
    output::emit(ctx.global.output, &workload_json(&w, &host), || {
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
    let host = api.host().to_string();
    let req = v1::DeleteRequest {
        name: a.name.clone(),
        purge: a.purge,
    };
    let w = api.delete(req).await?;
    let mut gone = Status::from_wire(w.status) == Status::Deleted;
    if a.wait.wait && !gone {
        wait(&mut api, &a.name, Target::Gone, a.wait.timeout).await?;
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
    value["purge"] = json!(a.purge);
    output::emit(ctx.global.output, &value, || {
        output::line(if gone {
            format!("{} deleted", a.name)
        } else {
            format!("{} is being deleted", a.name)
        })
    })
}
