//! The user-facing workload API and how workloads look on the wire.

pub mod service;
pub mod template;

use std::collections::{BTreeMap, HashMap};

use lattice_proto::v1;

use crate::catalog::is_http_port;
use crate::entity::{edge_port, node, workload};

/// What showing a workload needs besides its row: node names and addresses
/// (direct endpoints) and edge ports (public endpoints).
pub struct Views {
    /// Nodes by id.
    pub nodes: HashMap<String, node::Model>,
    /// Edge ports by workload id.
    pub edge: HashMap<String, Vec<edge_port::Model>>,
    /// Host put in public endpoints ("" = the host the client reached controld at).
    pub public_host: String,
    /// Edge ports not listening yet, with why.
    pub edge_problems: HashMap<u16, String>,
}

/// A workload row as the API shows it.
pub fn to_proto(w: &workload::Model, v: &Views) -> v1::Workload {
    let node = w.node_id.as_ref().and_then(|id| v.nodes.get(id));
    v1::Workload {
        id: w.id.clone(),
        name: w.name.clone(),
        kind: w.kind.to_string(),
        image: w.image.clone(),
        status: w.status.to_wire() as i32,
        status_message: w.status_message.clone(),
        node: node.map(|n| n.name.clone()).unwrap_or_default(),
        endpoints: endpoints(w, v),
        resources: Some(v1::Resources {
            cpu_millis: u32::try_from(w.cpu_millis).unwrap_or(0),
            memory_bytes: u64::try_from(w.memory_bytes).unwrap_or(0),
        }),
        limits: Some(crate::quota::limits_of(w)),
        created_at: Some(v1::Timestamp::from_millis(w.created_at)),
        updated_at: Some(v1::Timestamp::from_millis(w.updated_at)),
        progress_percent: u32::try_from(w.progress_percent).unwrap_or(0),
        restart_count: u32::try_from(w.restart_count).unwrap_or(0),
        last_exit_code: w.last_exit_code,
        version: w.version,
        desired: w.desired.to_string(),
        has_volume: crate::catalog::declares_volume(&w.spec),
    }
}

/// Public endpoints (through the edge) first, then direct ones.
pub fn endpoints(w: &workload::Model, v: &Views) -> Vec<v1::Endpoint> {
    let mut out: Vec<v1::Endpoint> = v
        .edge
        .get(&w.id)
        .map(|ports| {
            ports
                .iter()
                .map(|p| {
                    let container_port = u32::try_from(p.container_port).unwrap_or(0);
                    v1::Endpoint {
                        scheme: if is_http_port(w.kind, container_port) {
                            "http"
                        } else {
                            "tcp"
                        }
                        .into(),
                        host: v.public_host.clone(),
                        port: u32::try_from(p.port).unwrap_or(0),
                        container_port,
                        via: "public".into(),
                        problem: u16::try_from(p.port)
                            .ok()
                            .and_then(|port| v.edge_problems.get(&port).cloned())
                            .unwrap_or_default(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_by_key(|e| e.container_port);
    let node = w.node_id.as_ref().and_then(|id| v.nodes.get(id));
    out.extend(direct_endpoints(w, node));
    out
}

/// Endpoints on the node's own address and Docker-published ports.
pub fn direct_endpoints(w: &workload::Model, node: Option<&node::Model>) -> Vec<v1::Endpoint> {
    let Some(host) = node.and_then(|n| n.address.clone()) else {
        return Vec::new();
    };
    let ports: BTreeMap<u32, u32> = serde_json::from_str(&w.published_ports).unwrap_or_default();
    ports
        .into_iter()
        .map(|(container_port, port)| v1::Endpoint {
            scheme: if is_http_port(w.kind, container_port) {
                "http"
            } else {
                "tcp"
            }
            .into(),
            host: host.clone(),
            port,
            container_port,
            via: "direct".into(),
            problem: String::new(),
        })
        .collect()
}

/// The closest name, for "did you mean".
pub fn closest<'a>(wanted: &str, names: &'a [String]) -> Option<&'a str> {
    names
        .iter()
        .map(|n| (strsim::damerau_levenshtein(wanted, n), n))
        .filter(|(d, n)| *d > 0 && *d <= 2.max(n.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean() {
        let names = vec!["mydb".to_string(), "media".to_string(), "web".to_string()];
        assert_eq!(closest("mydbb", &names), Some("mydb"));
        assert_eq!(closest("wbe", &names), Some("web"));
        assert_eq!(closest("something-else", &names), None);
    }
}
