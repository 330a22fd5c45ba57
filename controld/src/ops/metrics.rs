//! Prometheus metrics of one controld: every RPC by method and code with its
//! latency, the edge's connections and bytes (counted where they happen),
//! and — read from the store and the live agent streams at scrape time —
//! workloads by status, nodes by status, and each node's load as its agent
//! reported it. Label values come from closed sets (known services, status
//! names, node names an admin created), so no caller can grow them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::error::Result;
use crate::fleet::Fleet;
use crate::repo::Repo;

/// Services whose methods are labelled by name; anything else is `unknown`.
const SERVICES: &[&str] = &[
    "lattice.v1.AuthService",
    "lattice.v1.AccountService",
    "lattice.v1.WorkloadService",
    "lattice.v1.NodeService",
    "lattice.v1.AuditService",
    "lattice.v1.AgentService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
];

/// gRPC's UNIMPLEMENTED: the method does not exist (its name is the caller's).
const UNIMPLEMENTED: i32 = 12;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Rpc {
    service: String,
    method: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Method {
    service: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByStatus {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByNode {
    node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByDirection {
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByReason {
    reason: &'static str,
}

type Histograms = Family<Method, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 ms … ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The metrics of one server.
pub struct Metrics {
    registry: Registry,
    rpcs: Family<Rpc, Counter>,
    rpc_seconds: Histograms,
    edge_open: Gauge,
    edge_connections: Counter,
    edge_refused: Family<ByReason, Counter>,
    edge_bytes: Family<ByDirection, Counter>,
    workloads: Family<ByStatus, Gauge>,
    nodes: Family<ByStatus, Gauge>,
    node_cpu: Family<ByNode, Gauge>,
    node_memory: Family<ByNode, Gauge>,
    node_containers: Family<ByNode, Gauge>,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("lattice");
        let m = Self {
            rpcs: Family::default(),
            rpc_seconds: Histograms::new_with_constructor(latency_histogram),
            edge_open: Gauge::default(),
            edge_connections: Counter::default(),
            edge_refused: Family::default(),
            edge_bytes: Family::default(),
            workloads: Family::default(),
            nodes: Family::default(),
            node_cpu: Family::default(),
            node_memory: Family::default(),
            node_containers: Family::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "rpc",
            "gRPC calls handled, by method and status code",
            m.rpcs.clone(),
        );
        r.register(
            "rpc_duration_seconds",
            "Time to a call's response headers (streams: until they open)",
            m.rpc_seconds.clone(),
        );
        r.register(
            "edge_connections_open",
            "Relayed edge connections now open",
            m.edge_open.clone(),
        );
        r.register(
            "edge_connections",
            "Relayed edge connections established",
            m.edge_connections.clone(),
        );
        r.register(
            "edge_refused",
            "Edge connections refused, by reason",
            m.edge_refused.clone(),
        );
        r.register(
            "edge_bytes",
            "Bytes relayed through the edge (in = from clients)",
            m.edge_bytes.clone(),
        );
        r.register("workloads", "Workloads by status", m.workloads.clone());
        r.register("nodes", "Nodes by status", m.nodes.clone());
        r.register(
            "node_cpu_busy_millicores",
            "CPU busy on the node's machine, as its agent measured it",
            m.node_cpu.clone(),
        );
        r.register(
            "node_memory_used_bytes",
            "Memory in use on the node's machine, as its agent measured it",
            m.node_memory.clone(),
        );
        r.register(
            "node_containers",
            "Containers of Lattice workloads on the node",
            m.node_containers.clone(),
        );
        Arc::new(Self { registry, ..m })
    }

    /// Counts one call.
    fn rpc(&self, path: &str, code: i32, took: Duration) {
        let (service, method) = path
            .trim_start_matches('/')
            .split_once('/')
            .unwrap_or(("", ""));
        let known = SERVICES.contains(&service) && code != UNIMPLEMENTED;
        let (service, method) = if known {
            (service, method)
        } else {
            ("unknown", "unknown")
        };
        self.rpcs
            .get_or_create(&Rpc {
                service: service.into(),
                method: method.into(),
                code: code_name(code).into(),
            })
            .inc();
        self.rpc_seconds
            .get_or_create(&Method {
                service: service.into(),
                method: method.into(),
            })
            .observe(took.as_secs_f64());
    }

    /// A relayed edge connection opened; the guard counts its bytes and close.
    pub fn edge_opened(self: &Arc<Self>) -> EdgeGuard {
        self.edge_connections.inc();
        self.edge_open.inc();
        EdgeGuard(self.clone())
    }

    /// An edge connection was refused before it was relayed.
    pub fn edge_refused(&self, reason: &'static str) {
        self.edge_refused.get_or_create(&ByReason { reason }).inc();
    }

    /// The text exposition, with the store's and the fleet's figures as they are now.
    pub async fn render(&self, repo: &Repo, fleet: &Fleet) -> Result<String> {
        let counts = repo.workload_counts().await?;
        self.workloads.clear();
        for s in lattice_proto::state::Status::ALL {
            self.workloads
                .get_or_create(&ByStatus {
                    status: s.as_str().into(),
                })
                .set(0);
        }
        for (status, n) in counts {
            self.workloads
                .get_or_create(&ByStatus {
                    status: status.as_str().into(),
                })
                .set(n);
        }
        let nodes = repo.nodes().await?;
        self.nodes.clear();
        for f in [&self.node_cpu, &self.node_memory, &self.node_containers] {
            f.clear();
        }
        for s in lattice_proto::state::NodeState::ALL {
            self.nodes
                .get_or_create(&ByStatus {
                    status: s.as_str().into(),
                })
                .set(0);
        }
        let usage = fleet.usage();
        for n in &nodes {
            let view = crate::fleet::node_service::to_proto(
                n,
                Default::default(),
                fleet.is_connected(&n.id),
            );
            let state = lattice_proto::state::NodeState::from_wire(view.status);
            self.nodes
                .get_or_create(&ByStatus {
                    status: state.as_str().into(),
                })
                .inc();
            if let Some(u) = usage.get(&n.id) {
                let node = ByNode {
                    node: n.name.clone(),
                };
                self.node_cpu
                    .get_or_create(&node)
                    .set(i64::from(u.cpu_busy_millis));
                let mem = i64::try_from(u.memory_used_bytes).unwrap_or(i64::MAX);
                self.node_memory.get_or_create(&node).set(mem);
                self.node_containers
                    .get_or_create(&node)
                    .set(i64::from(u.containers));
            }
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .map_err(crate::error::Error::internal)?;
        Ok(out)
    }
}

/// Counts one relayed connection's bytes and its close.
pub struct EdgeGuard(Arc<Metrics>);

impl EdgeGuard {
    /// Adds what the connection carried (in = from the client).
    pub fn bytes(&self, bytes_in: u64, bytes_out: u64) {
        self.0
            .edge_bytes
            .get_or_create(&ByDirection { direction: "in" })
            .inc_by(bytes_in);
        self.0
            .edge_bytes
            .get_or_create(&ByDirection { direction: "out" })
            .inc_by(bytes_out);
    }
}

impl Drop for EdgeGuard {
    fn drop(&mut self) {
        self.0.edge_open.dec();
    }
}

/// gRPC's name for a status code, as grpc-go's metrics spell it.
fn code_name(code: i32) -> &'static str {
    match tonic::Code::from_i32(code) {
        tonic::Code::Ok => "OK",
        tonic::Code::Cancelled => "Canceled",
        tonic::Code::Unknown => "Unknown",
        tonic::Code::InvalidArgument => "InvalidArgument",
        tonic::Code::DeadlineExceeded => "DeadlineExceeded",
        tonic::Code::NotFound => "NotFound",
        tonic::Code::AlreadyExists => "AlreadyExists",
        tonic::Code::PermissionDenied => "PermissionDenied",
        tonic::Code::ResourceExhausted => "ResourceExhausted",
        tonic::Code::FailedPrecondition => "FailedPrecondition",
        tonic::Code::Aborted => "Aborted",
        tonic::Code::OutOfRange => "OutOfRange",
        tonic::Code::Unimplemented => "Unimplemented",
        tonic::Code::Internal => "Internal",
        tonic::Code::Unavailable => "Unavailable",
        tonic::Code::DataLoss => "DataLoss",
        tonic::Code::Unauthenticated => "Unauthenticated",
    }
}

/// Middleware on the gRPC router: times each call to its response headers
/// and takes the code from them (a failed unary call and a refused stream
/// carry `grpc-status` there; a call that answered carries it in trailers,
/// and is OK by the time headers go out).
pub async fn track(State(m): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    let code = resp
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<i32>().ok())
        .unwrap_or(0);
    m.rpc(&path, code, started.elapsed());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_cannot_invent_label_values() {
        let m = Metrics::new();
        m.rpc(
            "/lattice.v1.WorkloadService/Deploy",
            0,
            Duration::from_millis(3),
        );
        m.rpc(
            "/lattice.v1.WorkloadService/NoSuchThing",
            UNIMPLEMENTED,
            Duration::ZERO,
        );
        m.rpc("/evil.Service/x", 5, Duration::ZERO);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &m.registry).expect("encode");
        assert!(out.contains(r#"lattice_rpc_total{service="lattice.v1.WorkloadService",method="Deploy",code="OK"} 1"#), "{out}");
        assert!(
            !out.contains("NoSuchThing") && !out.contains("evil"),
            "{out}"
        );
        assert!(
            out.contains(r#"service="unknown",method="unknown",code="NotFound"} 1"#),
            "{out}"
        );
    }
}
