//! `lattice doctor`: checks, in order, everything a deploy needs, printing
//! a line per check with ✓ or ✗ and, for ✗, what to do.

use lattice_proto::v1;
use serde_json::json;

use crate::api::{Api, Ctx};
use crate::error::CliError;
use crate::output::{self, when};

struct Check {
    name: &'static str,
    ok: Option<bool>,
    detail: String,
    fix: String,
}

impl Check {
    fn pass(name: &'static str, detail: String) -> Self {
        Self {
            name,
            ok: Some(true),
            detail,
            fix: String::new(),
        }
    }
    fn fail(name: &'static str, detail: String, fix: &str) -> Self {
        Self {
            name,
            ok: Some(false),
            detail,
            fix: fix.into(),
        }
    }
    fn skip(name: &'static str, detail: &str) -> Self {
        Self {
            name,
            ok: None,
            detail: detail.into(),
            fix: String::new(),
        }
    }
}

/// `lattice doctor`.
pub async fn run(mut ctx: Ctx) -> anyhow::Result<()> {
    let mut checks = Vec::new();
    let api = Api::connect(&mut ctx).await;
    let mut api = match api {
        Ok(a) => {
            let pin = ctx
                .config
                .servers
                .get(&a.addr.url)
                .map(|e| e.fingerprint.clone())
                .unwrap_or_else(|| "--ca-cert".into());
            checks.push(Check::pass(
                "server",
                format!(
                    "{} answers over TLS; certificate trusted ({pin})",
                    a.addr.url
                ),
            ));
            Some(a)
        }
        Err(e) => {
            checks.push(Check::fail(
                "server",
                format!("{e:#}"),
                "check --server / LATTICE_SERVER and that lattice-controld runs",
            ));
            None
        }
    };
    let mut admin = false;
    if let Some(api) = api.as_mut() {
        match api.who_am_i(v1::Empty {}).await {
            Ok(w) => {
                admin = w.role == v1::Role::Admin as i32;
                let exp = w.session_expires_at.or(w.expires_at).map_or_else(
                    || "never expires".into(),
                    |t| format!("expires {}", when(t.unix_millis)),
                );
                checks.push(Check::pass(
                    "credentials",
                    format!("signed in as {} ({}; {exp})", w.email, w.auth_kind),
                ));
            }
            Err(e) => checks.push(Check::fail(
                "credentials",
                format!("{e:#}"),
                "run `lattice login` (or set LATTICE_TOKEN)",
            )),
        }
    }
    match (api.as_mut(), admin) {
        (Some(api), true) => match api.list_nodes(v1::ListNodesRequest {}).await {
            Ok(r) => {
                let ready = r
                    .nodes
                    .iter()
                    .filter(|n| n.status == v1::NodeStatus::Ready as i32)
                    .count();
                if ready > 0 {
                    checks.push(Check::pass(
                        "nodes",
                        format!("{ready} of {} node(s) ready", r.nodes.len()),
                    ));
                } else {
                    checks.push(Check::fail(
                            "nodes",
                            format!("no node is ready ({} known)", r.nodes.len()),
                            "create a token with `lattice nodes join-token` and start lattice-agentd on a machine with Docker",
                        ));
                }
                let broken: Vec<String> = r
                    .nodes
                    .iter()
                    .filter(|n| n.status == v1::NodeStatus::DockerUnavailable as i32)
                    .map(|n| format!("{}: {}", n.name, n.status_message))
                    .collect();
                if broken.is_empty() {
                    checks.push(Check::pass(
                        "docker",
                        "Docker answers on every connected node".into(),
                    ));
                } else {
                    checks.push(Check::fail(
                        "docker",
                        broken.join("; "),
                        "start Docker on that node, or let lattice-agentd read its socket",
                    ));
                }
            }
            Err(e)
                if e.chain()
                    .any(|c| matches!(c.downcast_ref::<CliError>(), Some(CliError::Auth(_)))) =>
            {
                checks.push(Check::skip("nodes", "only admins can see nodes"));
            }
            Err(e) => checks.push(Check::fail(
                "nodes",
                format!("{e:#}"),
                "see the server's log",
            )),
        },
        (Some(_), false) => checks.push(Check::skip(
            "nodes",
            "only admins can see nodes; deploy to find out",
        )),
        (None, _) => {}
    }
    let all_ok = checks.iter().all(|c| c.ok != Some(false));
    let value = json!({
        "ok": all_ok,
        "checks": checks.iter().map(|c| json!({"name": c.name, "ok": c.ok, "detail": c.detail, "fix": c.fix})).collect::<Vec<_>>(),
    });
    output::emit(ctx.global.output, &value, || {
        for c in &checks {
            let mark = match c.ok {
                Some(true) => "✓",
                Some(false) => "✗",
                None => "–",
            };
            output::line(format!("{mark} {:<12} {}", c.name, c.detail))?;
            if !c.fix.is_empty() {
                output::line(format!("  {:<12} → {}", "", c.fix))?;
            }
        }
        Ok(())
    })?;
    if all_ok {
        Ok(())
    } else {
        Err(CliError::Other("some checks failed (see above)".into()).into())
    }
}
