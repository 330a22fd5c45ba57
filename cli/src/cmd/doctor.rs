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
    if let Some(api) = api.as_mut() {
        match api.list_nodes(v1::ListNodesRequest {}).await {
            Ok(r) => node_checks(&mut checks, &r.nodes, admin),
            Err(e) => checks.push(Check::fail(
                "nodes",
                format!("{e:#}"),
                "see the server's log",
            )),
        }
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

/// What the nodes say: which are ready, which are away (restart the agent
/// there), and whether Docker answers — checked only on connected nodes, so
/// no node connected is never a ✓ for Docker.
fn node_checks(checks: &mut Vec<Check>, nodes: &[v1::Node], admin: bool) {
    let is = |n: &v1::Node, s: v1::NodeStatus| n.status == s as i32;
    if nodes.is_empty() {
        let fix = if admin {
            "create a token with `lattice nodes join-token` and start lattice-agentd on a machine with Docker"
        } else {
            "ask an admin to add a machine (`lattice nodes join-token`, then lattice-agentd)"
        };
        checks.push(Check::fail(
            "nodes",
            "no machine has joined yet".into(),
            fix,
        ));
        checks.push(Check::skip("docker", "no node to check Docker on"));
        return;
    }
    let ready = nodes
        .iter()
        .filter(|n| is(n, v1::NodeStatus::Ready))
        .count();
    let away: Vec<&v1::Node> = nodes
        .iter()
        .filter(|n| is(n, v1::NodeStatus::Unreachable))
        .collect();
    let names = |v: &[&v1::Node]| {
        v.iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let restart = format!(
        "restart lattice-agentd on {} (e.g. `systemctl restart lattice-agentd`, or run it again with the same --data-dir); its workloads return with it",
        names(&away)
    );
    match (ready, away.is_empty()) {
        (0, false) => checks.push(Check::fail(
            "nodes",
            format!("no node is ready; not connected: {}", names(&away)),
            &restart,
        )),
        (0, true) => checks.push(Check::fail(
            "nodes",
            format!("no node is ready ({} known, none takes work)", nodes.len()),
            "see `lattice nodes` for each node's state (draining, Docker)",
        )),
        (n, true) => checks.push(Check::pass(
            "nodes",
            format!("{n} of {} node(s) ready", nodes.len()),
        )),
        (n, false) => checks.push(Check::fail(
            "nodes",
            format!(
                "{n} of {} node(s) ready; not connected: {}",
                nodes.len(),
                names(&away)
            ),
            &restart,
        )),
    }
    let connected: Vec<&v1::Node> = nodes
        .iter()
        .filter(|n| !is(n, v1::NodeStatus::Unreachable))
        .collect();
    let broken: Vec<String> = connected
        .iter()
        .filter(|n| is(n, v1::NodeStatus::DockerUnavailable))
        .map(|n| format!("{}: {}", n.name, n.status_message))
        .collect();
    if connected.is_empty() {
        checks.push(Check::skip(
            "docker",
            "no node is connected, so Docker could not be checked",
        ));
    } else if broken.is_empty() {
        checks.push(Check::pass(
            "docker",
            format!("Docker answers on {} connected node(s)", connected.len()),
        ));
    } else {
        checks.push(Check::fail(
            "docker",
            broken.join("; "),
            "start Docker on that node, or let lattice-agentd read its socket",
        ));
    }
}
