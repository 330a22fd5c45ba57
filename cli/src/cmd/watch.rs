//! `lattice ls --watch` and `lattice status NAME --watch`: live updates from
//! the server's Watch stream (pushed, not polled). On a terminal the table
//! is redrawn in place; piped, one line per change in the format asked
//! (a text row, or a JSON object with `-o json`, or the name with `-q`).

use std::collections::BTreeMap;
use std::io::IsTerminal;

use lattice_proto::state::ChangeKind;
use lattice_proto::v1;
use serde_json::json;

use crate::api::{Api, Ctx};
use crate::args::Output;
use crate::output;
use crate::view::{workload_json, workloads_table};

/// Follows every workload (None) or one.
pub async fn run(mut ctx: Ctx, name: Option<String>) -> anyhow::Result<()> {
    if let Some(n) = &name {
        lattice_proto::validate::name("name", n).map_err(crate::error::CliError::from)?;
    }
    let mut api = Api::connect(&mut ctx).await?;
    let host = api.host().to_string();
    let req = v1::WatchRequest {
        name: name.clone().unwrap_or_default(),
    };
    let mut stream = api.watch(req).await?;
    let table = ctx.global.output == Output::Table;
    let redraw = table && !ctx.global.quiet && std::io::stdout().is_terminal();
    if table && !redraw && !ctx.global.quiet {
        output::line(row("NAME", "KIND", "STATUS", "MESSAGE"))?;
    }
    let mut current: BTreeMap<String, v1::Workload> = BTreeMap::new();
    loop {
        let ev = match stream.message().await {
            Ok(Some(ev)) => ev,
            Ok(None) => return Ok(()),
            Err(s) => return Err(api.status(&s)),
        };
        let Some(w) = ev.workload else { continue };
        if ev.kind == ChangeKind::Deleted.as_str() {
            current.remove(&w.name);
        } else {
            current.insert(w.name.clone(), w.clone());
        }
        if redraw {
            let list: Vec<v1::Workload> = current.values().cloned().collect();
            // Clear the screen and draw the table from the top.
            output::line(format!("\x1b[2J\x1b[H{}", workloads_table(&list, &host)))?;
        } else if ctx.global.quiet {
            output::line(&w.name)?;
        } else if table {
            let status = if ev.kind == ChangeKind::Deleted.as_str() {
                "deleted"
            } else {
                crate::view::status_name(w.status)
            };
            output::line(row(&w.name, &w.kind, status, &w.status_message))?;
        } else {
            output::line(json!({"event": ev.kind, "workload": workload_json(&w, &host)}))?;
        }
    }
}

/// One change as a text row.
fn row(name: &str, kind: &str, status: &str, message: &str) -> String {
    format!("{name:<24} {kind:<8} {status:<14} {message}")
}
