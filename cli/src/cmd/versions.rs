//! `lattice env set|unset|ls`, `lattice history`, `lattice rollback`: each
//! change of a workload's spec is a new version, rolled out like a deploy
//! (with `--wait`, until ready or failed).

use lattice_proto::v1;
use lattice_proto::validate;
use serde_json::{Value, json};

use crate::api::{Api, Ctx};
use crate::args::{EnvAction, EnvArgs, NameArg, RollbackArgs, WaitArgs};
use crate::error::CliError;
use crate::output::{self, rfc3339};
use crate::view::{bytes, workload_json};
use crate::wait::{Target, wait};

fn name_ok(name: &str) -> anyhow::Result<()> {
    validate::name("name", name).map_err(|e| CliError::from(e).into())
}

/// Prints what a change did, after waiting for it when asked.
pub async fn rolled_out(
    ctx: &Ctx,
    api: &mut Api,
    r: v1::DeployResponse,
    w: &WaitArgs,
) -> anyhow::Result<()> {
    let host = api.host().to_string();
    let mut wl = r.workload.unwrap_or_default();
    let updated = r.outcome == "updated";
    if updated
        && w.wait
        && let Some(done) = wait(api, &wl.name, Target::Running, w.timeout).await?
    {
        wl = done;
    }
    let mut value = workload_json(&wl, &host);
    value["outcome"] = json!(r.outcome);
    if ctx.global.quiet {
        return output::line(&wl.name);
    }
    output::emit(ctx.global.output, &value, || match r.outcome.as_str() {
        "unchanged" => output::line(format!(
            "{} is unchanged (version {}): the spec is what already runs.",
            wl.name, wl.version
        )),
        _ => output::line(format!(
            "{} is at version {}: {}.",
            wl.name,
            wl.version,
            crate::view::status_name(wl.status)
        )),
    })
}

/// `lattice env …`.
pub async fn env(mut ctx: Ctx, a: EnvArgs) -> anyhow::Result<()> {
    match a.action {
        EnvAction::Set { name, pairs, wait } => {
            name_ok(&name)?;
            let mut set = Vec::new();
            for p in &pairs {
                let (key, value) = validate::parse_env_pair(p).map_err(CliError::from)?;
                set.push(v1::EnvVar { key, value });
            }
            let mut api = Api::connect(&mut ctx).await?;
            let r = api
                .set_env(v1::SetEnvRequest {
                    name,
                    set,
                    unset: Vec::new(),
                })
                .await?;
            rolled_out(&ctx, &mut api, r, &wait).await
        }
        EnvAction::Unset { name, keys, wait } => {
            name_ok(&name)?;
            let mut api = Api::connect(&mut ctx).await?;
            let r = api
                .set_env(v1::SetEnvRequest {
                    name,
                    set: Vec::new(),
                    unset: keys,
                })
                .await?;
            rolled_out(&ctx, &mut api, r, &wait).await
        }
        EnvAction::Ls { name, show_values } => {
            name_ok(&name)?;
            let mut api = Api::connect(&mut ctx).await?;
            let r = api
                .get_env(v1::GetEnvRequest {
                    name: name.clone(),
                    show_values,
                })
                .await?;
            let value: Value = r
                .env
                .iter()
                .map(|e| {
                    (
                        e.key.clone(),
                        if show_values {
                            json!(e.value)
                        } else {
                            Value::Null
                        },
                    )
                })
                .collect::<serde_json::Map<_, _>>()
                .into();
            output::emit(ctx.global.output, &value, || {
                if r.env.is_empty() {
                    return output::line(format!(
                        "{name} has no environment variables of yours. Set one with `lattice env set {name} KEY=value`."
                    ));
                }
                for e in &r.env {
                    if show_values {
                        output::line(format!("{}={}", e.key, e.value))?;
                    } else {
                        output::line(format!("{}=(hidden; --show-values)", e.key))?;
                    }
                }
                Ok(())
            })
        }
    }
}

/// `lattice history NAME`.
pub async fn history(mut ctx: Ctx, a: NameArg) -> anyhow::Result<()> {
    name_ok(&a.name)?;
    let mut api = Api::connect(&mut ctx).await?;
    let r = api
        .history(v1::WorkloadRef {
            name: a.name.clone(),
        })
        .await?;
    let rows: Vec<Value> = r
        .versions
        .iter()
        .map(|v| {
            let res = v.resources.unwrap_or_default();
            json!({
                "version": v.version,
                "current": v.current,
                "cause": v.cause,
                "created_at": v.created_at.as_ref().and_then(|t| rfc3339(t.unix_millis)),
                "image": v.image,
                "ports": v.ports,
                "cpu": if res.cpu_millis == 0 { Value::Null } else { json!(f64::from(res.cpu_millis) / 1000.0) },
                "memory_bytes": if res.memory_bytes == 0 { Value::Null } else { json!(res.memory_bytes) },
                "env_keys": v.env_keys,
                "command": v.command,
            })
        })
        .collect();
    output::emit(ctx.global.output, &rows, || {
        let mut t = output::table();
        output::header(
            &mut t,
            &[
                "VERSION", "WHEN", "CAUSE", "IMAGE", "PORTS", "ENV", "LIMITS",
            ],
        );
        for v in &r.versions {
            let res = v.resources.unwrap_or_default();
            let limits = match (res.cpu_millis, res.memory_bytes) {
                (0, 0) => "defaults".to_string(),
                (c, 0) => format!("{} CPU", f64::from(c) / 1000.0),
                (0, m) => bytes(m),
                (c, m) => format!("{} CPU, {}", f64::from(c) / 1000.0, bytes(m)),
            };
            t.add_row(vec![
                format!(
                    "v{}{}",
                    v.version,
                    if v.current { " (current)" } else { "" }
                ),
                v.created_at
                    .as_ref()
                    .map_or_else(String::new, |t| output::ago(t.unix_millis) + " ago"),
                v.cause.clone(),
                v.image.clone(),
                v.ports
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                v.env_keys.join(","),
                limits,
            ]);
        }
        output::line(t)
    })
}

/// `lattice rollback NAME [VERSION]`.
pub async fn rollback(mut ctx: Ctx, a: RollbackArgs) -> anyhow::Result<()> {
    name_ok(&a.name)?;
    let version = match a.to.as_deref() {
        None => 0,
        Some(v) => v
            .trim_start_matches('v')
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "version must be a number like 3 or v3 (see `lattice history {}`), got {v:?}",
                    a.name
                ))
            })?,
    };
    let mut api = Api::connect(&mut ctx).await?;
    let r = api
        .rollback(v1::RollbackRequest {
            name: a.name.clone(),
            version,
        })
        .await?;
    rolled_out(&ctx, &mut api, r, &a.wait).await
}
