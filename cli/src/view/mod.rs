//! How workloads look: JSON for scripts (the shapes in docs/schemas), and
//! text and tables for people. Commands fetch; this module only renders,
//! given the host the client reached the server at (endpoints without a
//! host of their own are reached there).

pub mod access;

use comfy_table::Cell;
use lattice_proto::v1;
use serde_json::{Value, json};

use crate::output::{self, rfc3339};

/// A workload status as printed (the one spelling, from lattice-proto).
pub fn status_name(s: i32) -> &'static str {
    lattice_proto::state::Status::name_of(s)
}

/// A workload as JSON (documented in docs/cli.md).
pub fn workload_json(w: &v1::Workload, host: &str) -> Value {
    let r = w.resources.unwrap_or_default();
    json!({
        "name": w.name,
        "id": w.id,
        "kind": w.kind,
        "image": w.image,
        "status": status_name(w.status),
        "desired": w.desired,
        "message": w.status_message,
        "node": w.node,
        "restarts": w.restart_count,
        "last_exit_code": w.last_exit_code,
        "endpoints": w.endpoints.iter().map(|e| endpoint_json(e, host)).collect::<Vec<_>>(),
        "cpu": if r.cpu_millis == 0 { Value::Null } else { json!(f64::from(r.cpu_millis) / 1000.0) },
        "memory_bytes": if r.memory_bytes == 0 { Value::Null } else { json!(r.memory_bytes) },
        "limits": limits_json(w),
        "version": w.version,
        "created_at": w.created_at.as_ref().and_then(|t| rfc3339(t.unix_millis)),
        "updated_at": w.updated_at.as_ref().and_then(|t| rfc3339(t.unix_millis)),
    })
}

/// The limits a workload's container runs with, as JSON.
pub fn limits_json(w: &v1::Workload) -> Value {
    let l = w.limits.unwrap_or_default();
    json!({
        "cpu": if l.cpu_millis == 0 { Value::Null } else { json!(f64::from(l.cpu_millis) / 1000.0) },
        "memory_bytes": if l.memory_bytes == 0 { Value::Null } else { json!(l.memory_bytes) },
    })
}

/// The limits for people: `1 CPU (default), 1.0 GiB`.
pub fn limits_text(w: &v1::Workload) -> String {
    let (r, l) = (
        w.resources.unwrap_or_default(),
        w.limits.unwrap_or_default(),
    );
    let tag = |asked: bool| if asked { "" } else { " (default)" };
    let cpu = match l.cpu_millis {
        0 => "no CPU limit".to_string(),
        m => format!("{} CPU{}", f64::from(m) / 1000.0, tag(r.cpu_millis > 0)),
    };
    let mem = match l.memory_bytes {
        0 => "no memory limit".to_string(),
        b => format!("{}{}", bytes(b), tag(r.memory_bytes > 0)),
    };
    format!("{cpu}, {mem}")
}

/// An endpoint as JSON.
pub fn endpoint_json(e: &v1::Endpoint, host: &str) -> Value {
    json!({
        "scheme": e.scheme, "host": endpoint_host(e, host), "port": e.port, "container_port": e.container_port, "via": e.via,
        "problem": (!e.problem.is_empty()).then_some(&e.problem),
    })
}

/// `scheme://host:port`, followed by why it does not answer when it does not.
pub fn endpoint_line(e: &v1::Endpoint, host: &str) -> String {
    if e.problem.is_empty() {
        endpoint_text(e, host)
    } else {
        format!("{} (not listening: {})", endpoint_text(e, host), e.problem)
    }
}

/// `scheme://host:port`, marked when it does not answer (for tables).
fn endpoint_cell(e: &v1::Endpoint, host: &str) -> String {
    if e.problem.is_empty() {
        endpoint_text(e, host)
    } else {
        format!("{} (not listening)", endpoint_text(e, host))
    }
}

/// The endpoint's host, or the server's when controld left it empty (no
/// `--public-host`: the edge is reached where controld is).
pub fn endpoint_host(e: &v1::Endpoint, server_host: &str) -> String {
    if e.host.is_empty() {
        server_host.to_string()
    } else {
        e.host.clone()
    }
}

/// `scheme://host:port`.
pub fn endpoint_text(e: &v1::Endpoint, server_host: &str) -> String {
    let host = endpoint_host(e, server_host);
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    format!("{}://{host}:{}", e.scheme, e.port)
}

/// `3 (last exit code 2)`, or `0`.
pub fn restarts_text(w: &v1::Workload) -> String {
    match w.last_exit_code {
        Some(code) if w.restart_count > 0 => {
            format!("{} (last exit code {code})", w.restart_count)
        }
        _ => w.restart_count.to_string(),
    }
}

fn age(w: &v1::Workload) -> String {
    w.created_at
        .as_ref()
        .map_or_else(|| "-".into(), |t| output::ago(t.unix_millis))
}

/// The `ls` table.
pub fn workloads_table(workloads: &[v1::Workload], host: &str) -> comfy_table::Table {
    let mut t = output::table();
    output::header(
        &mut t,
        &[
            "NAME", "KIND", "STATUS", "RESTARTS", "NODE", "ENDPOINT", "AGE",
        ],
    );
    for w in workloads {
        t.add_row(vec![
            Cell::new(&w.name),
            Cell::new(&w.kind),
            output::status_cell(status_name(w.status)),
            Cell::new(restarts_text(w)),
            Cell::new(&w.node),
            Cell::new(
                w.endpoints
                    .first()
                    .map(|e| endpoint_cell(e, host))
                    .unwrap_or_else(|| "no port".into()),
            ),
            Cell::new(age(w)),
        ]);
    }
    t
}

/// Bytes as Mi/Gi for tables.
pub fn bytes(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{:.1}Gi", b as f64 / f64::from(1u32 << 30))
    } else {
        format!("{}Mi", b >> 20)
    }
}
