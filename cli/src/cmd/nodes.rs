//! `lattice nodes`, `lattice nodes join-token`.

use lattice_proto::v1;
use serde_json::json;

use crate::api::{Api, Ctx};
use crate::args::{NodesAction, NodesArgs};
use crate::output::{self, rfc3339, when};
use crate::view::bytes;

fn status_name(s: i32) -> &'static str {
    lattice_proto::state::NodeState::from_wire(s).as_str()
}

/// `lattice nodes …`.
pub async fn run(mut ctx: Ctx, a: NodesArgs) -> anyhow::Result<()> {
    let action = a.action.unwrap_or(NodesAction::Ls);
    // A bad name is said before a server is needed.
    if let NodesAction::Rm { name, .. }
    | NodesAction::Drain { name }
    | NodesAction::RotateSecret { name } = &action
    {
        lattice_proto::validate::name("name", name).map_err(crate::error::CliError::from)?;
    }
    let mut api = Api::connect(&mut ctx).await?;
    match action {
        NodesAction::Ls => {
            let r = api.list_nodes(v1::ListNodesRequest {}).await?;
            let rows: Vec<_> = r
                .nodes
                .iter()
                .map(|n| {
                    json!({
                        "name": n.name, "id": n.id, "status": status_name(n.status), "message": n.status_message,
                        "cpu_millis_capacity": n.cpu_millis_capacity, "cpu_millis_used": n.cpu_millis_used,
                        "memory_bytes_capacity": n.memory_bytes_capacity, "memory_bytes_used": n.memory_bytes_used,
                        "workloads": n.workloads, "address": n.address, "agent_version": n.agent_version,
                        "last_seen": n.last_seen.as_ref().and_then(|t| rfc3339(t.unix_millis)),
                        "host": n.host.map(|h| json!({
                            "cpu_busy_millis": h.cpu_busy_millis,
                            "memory_used_bytes": h.memory_used_bytes,
                            "containers": h.containers,
                        })),
                    })
                })
                .collect();
            output::emit(ctx.global.output, &rows, || {
                if r.nodes.is_empty() {
                    return output::line(
                        "No nodes yet. Create a token with `lattice nodes join-token` and start lattice-agentd.",
                    );
                }
                let mut t = output::table();
                output::header(
                    &mut t,
                    &[
                        "NAME",
                        "STATUS",
                        "CPU (used/total)",
                        "MEMORY (used/total)",
                        "WORKLOADS",
                        "HOST LOAD",
                        "LAST SEEN",
                        "ADDRESS",
                    ],
                );
                for n in &r.nodes {
                    let status = if n.status_message.is_empty() {
                        status_name(n.status).to_string()
                    } else {
                        format!("{} ({})", status_name(n.status), n.status_message)
                    };
                    t.add_row(vec![
                        n.name.clone(),
                        status,
                        format!(
                            "{:.2}/{:.2}",
                            f64::from(n.cpu_millis_used) / 1000.0,
                            f64::from(n.cpu_millis_capacity) / 1000.0
                        ),
                        format!(
                            "{}/{}",
                            bytes(n.memory_bytes_used),
                            bytes(n.memory_bytes_capacity)
                        ),
                        n.workloads.to_string(),
                        n.host.map_or_else(
                            || "-".into(),
                            |h| {
                                format!(
                                    "{:.2} cpu, {}",
                                    f64::from(h.cpu_busy_millis) / 1000.0,
                                    bytes(h.memory_used_bytes)
                                )
                            },
                        ),
                        n.last_seen
                            .as_ref()
                            .map_or_else(|| "never".into(), |t| when(t.unix_millis)),
                        n.address.clone(),
                    ]);
                }
                output::line(t)
            })
        }
        NodesAction::Rm { name, force } => {
            if !ctx.global.yes {
                crate::confirm::ask(
                    &format!("Remove node {name}? Its agent is cut off at once."),
                    "--yes",
                )?;
            }
            let r = api
                .remove_node(v1::RemoveNodeRequest {
                    name: name.clone(),
                    force,
                })
                .await?;
            output::emit(
                ctx.global.output,
                &json!({"name": name, "removed": true, "workloads_lost": r.workloads_lost}),
                || {
                    output::line(format!(
                        "Removed node {name}; {} workload(s) that ran there are lost.",
                        r.workloads_lost
                    ))
                },
            )
        }
        NodesAction::Drain { name } => {
            let n = api
                .drain_node(v1::DrainRequest { name: name.clone() })
                .await?;
            output::emit(
                ctx.global.output,
                &json!({"name": n.name, "status": status_name(n.status)}),
                || {
                    output::line(format!(
                        "Node {} is draining: no new workloads are placed there; the {} already there keep running.",
                        n.name, n.workloads
                    ))
                },
            )
        }
        NodesAction::RotateSecret { name } => {
            api.rotate_node_secret(v1::RotateNodeSecretRequest { name: name.clone() })
                .await?;
            output::emit(
                ctx.global.output,
                &json!({"name": name, "rotated": true}),
                || {
                    output::line(format!(
                        "Node {name} has a new secret; its agent saved it and the old one no longer works."
                    ))
                },
            )
        }
        NodesAction::JoinToken { expires } => {
            let req = v1::CreateJoinTokenRequest {
                expires_in_seconds: i64::try_from(expires.as_secs()).unwrap_or(i64::MAX),
            };
            let t = api.create_join_token(req).await?;
            let exp = t.expires_at.as_ref().map_or(0, |t| t.unix_millis);
            let value =
                json!({"token": t.token, "expires_at": rfc3339(exp), "control": api.addr.url});
            output::emit(ctx.global.output, &value, || {
                output::line(&t.token)?;
                eprintln!(
                    "One-time token, valid until {}. On the new node run:\n  lattice-agentd --control {} --join-token <token>",
                    when(exp),
                    api.addr.url
                );
                Ok(())
            })
        }
    }
}
