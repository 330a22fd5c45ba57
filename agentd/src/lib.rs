//! lattice-agentd: lends this machine's Docker Engine to a Lattice control
//! plane. It dials out (so it works behind NAT), listens on no port, and
//! executes fully resolved container specs: it knows nothing of "postgres".
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod args;
pub mod backoff;
pub mod backup;
pub mod connection;
pub mod crashloop;
pub mod desired;
pub mod docker;
pub mod exec;
pub mod identity;
pub mod logs;
pub mod owned;
pub mod probe;
pub mod reports;
pub mod runtime;
pub mod stream;
pub mod supervisor;
pub mod tcp;
pub mod tunnel;
pub mod usage;
pub mod volumes;
pub mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use lattice_proto::{v1, validate};
use tokio::sync::RwLock;
use tracing::{info, warn};

/// Version reported to controld.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// State shared by the agent's tasks.
pub struct Ctx {
    /// This node's id (Docker labels carry it).
    pub node_id: String,
    /// Latest reports.
    pub reports: reports::Reports,
    /// The machine's load, sent with heartbeats.
    pub usage: usage::Usage,
    /// How long a workload may take to become ready.
    pub ready_timeout: Duration,
    /// How tenants are kept apart on this node.
    pub isolation: docker::Isolation,
    docker: RwLock<Option<docker::Docker>>,
    docker_error: Mutex<String>,
    /// A runtime fixed at construction (tests, the fleet simulator) instead
    /// of the local Docker Engine.
    fixed: Option<runtime::SharedRuntime>,
    /// Each workload's last container exit code, from Docker's `die` events
    /// (Docker clears the code once its restart policy starts it again).
    exits: Mutex<HashMap<String, i32>>,
}

impl Ctx {
    /// New context; Docker is connected lazily.
    pub fn new(node_id: String, ready_timeout: Duration) -> Self {
        Self {
            node_id,
            reports: reports::Reports::default(),
            usage: usage::Usage::default(),
            ready_timeout,
            isolation: docker::Isolation::default(),
            docker: RwLock::new(None),
            docker_error: Mutex::new(String::new()),
            fixed: None,
            exits: Mutex::new(HashMap::new()),
        }
    }

    /// A context whose workloads run on `rt` instead of the local Docker
    /// Engine: the same worker code over another runtime.
    pub fn with_runtime(
        node_id: String,
        ready_timeout: Duration,
        rt: runtime::SharedRuntime,
    ) -> Self {
        Self {
            fixed: Some(rt),
            ..Self::new(node_id, ready_timeout)
        }
    }

    /// The engine the worker drives, if it answered last time we looked.
    pub async fn runtime(&self) -> Option<runtime::SharedRuntime> {
        if let Some(rt) = &self.fixed {
            return Some(rt.clone());
        }
        self.docker()
            .await
            .map(|d| Arc::new(d) as runtime::SharedRuntime)
    }

    /// Records a container exit seen in Docker's events.
    pub fn record_exit(&self, workload_id: &str, code: i32) {
        if let Ok(mut e) = self.exits.lock() {
            e.insert(workload_id.to_string(), code);
        }
    }

    /// The workload's last exit code seen, if any.
    pub fn last_exit(&self, workload_id: &str) -> Option<i32> {
        self.exits.lock().ok()?.get(workload_id).copied()
    }

    /// Forgets a workload's exits (a new container, or the workload is gone).
    pub fn forget_exits(&self, workload_id: &str) {
        if let Ok(mut e) = self.exits.lock() {
            e.remove(workload_id);
        }
    }

    /// The local engine with this node's id, if it answered last time we
    /// looked (for streams that reach one workload's container).
    pub async fn engine(&self) -> Option<owned::NodeEngine> {
        Some(owned::NodeEngine {
            docker: self.docker().await?,
            node_id: self.node_id.as_str().into(),
        })
    }

    /// The Docker client, if the engine answered last time we looked.
    pub async fn docker(&self) -> Option<docker::Docker> {
        self.docker.read().await.clone()
    }

    /// The engine's health as last checked: (ok, error message).
    pub fn docker_status(&self) -> (bool, String) {
        let err = self
            .docker_error
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default();
        (err.is_empty(), err)
    }

    /// Re-checks Docker; returns (ok, error message).
    pub async fn refresh_docker(&self) -> (bool, String) {
        if let Some(rt) = &self.fixed {
            let e = rt.ping().await.err().unwrap_or_default();
            if let Ok(mut p) = self.docker_error.lock() {
                p.clone_from(&e);
            }
            return (e.is_empty(), e);
        }
        let current = self.docker().await;
        let result = match current {
            Some(d) => d.ping().await.map(|_| d),
            None => docker::Docker::connect(self.isolation).await,
        };
        let mut slot = self.docker.write().await;
        match result {
            Ok(d) => {
                if slot.is_none() {
                    info!("Docker is available");
                }
                *slot = Some(d);
                if let Ok(mut e) = self.docker_error.lock() {
                    e.clear();
                }
                (true, String::new())
            }
            Err(e) => {
                if slot.is_some() || self.docker_error.lock().map(|p| *p != e).unwrap_or(true) {
                    warn!(error = %e, "Docker is unavailable");
                }
                *slot = None;
                if let Ok(mut p) = self.docker_error.lock() {
                    p.clone_from(&e);
                }
                (false, e)
            }
        }
    }
}

/// Re-validates a spec from controld with the same rules controld applied.
pub fn validate_spec(s: &v1::ContainerSpec) -> Result<(), validate::ValidationError> {
    validate::name("name", &s.name)?;
    validate::image(&s.image)?;
    validate::env(s.env.iter().map(|e| (e.key.as_str(), e.value.as_str())))?;
    validate::command(&s.command)?;
    validate::stop_timeout(s.stop_timeout_seconds)?;
    for p in &s.ports {
        validate::port(*p)?;
    }
    let r = s.resources.unwrap_or_default();
    validate::resources(r.cpu_millis, r.memory_bytes)?;
    if !s.volume_path.is_empty() {
        validate::volume_path(&s.volume_path)?;
    }
    Ok(())
}

/// Joins if needed, then runs until `shutdown` resolves.
pub async fn run(
    a: args::Args,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    run_on(a, None, shutdown).await
}

/// Like [`run`], driving `runtime` instead of the local Docker Engine when
/// one is given: the real agent — identity, join, TLS, heartbeats, reports,
/// convergence — over another engine, as the fleet simulator's hollow nodes
/// do (Kubernetes' kubemark works the same way).
pub async fn run_on(
    a: args::Args,
    runtime: Option<runtime::SharedRuntime>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let id = match identity::Identity::load(&a.data_dir)? {
        Some(id) => {
            if a.join_token.is_some() {
                info!(node = %id.node_name, "already joined; ignoring --join-token");
            }
            id
        }
        None => {
            let token = a.join_token.clone().context(
                "this machine has not joined a control plane yet: pass --join-token (an admin creates one with \
                 `lattice nodes join-token`) and --control",
            )?;
            let control = a
                .control
                .clone()
                .context("--control https://HOST:7443 is required to join")?;
            let hostname = a.node_name.clone().unwrap_or_else(|| {
                std::fs::read_to_string("/etc/hostname").unwrap_or_else(|_| "node".into())
            });
            let id = identity::Identity::join(&control, &token, hostname.trim()).await?;
            id.save(&a.data_dir)?;
            info!(node = %id.node_name, id = %id.node_id, "joined the control plane");
            id
        }
    };
    let mut ctx = match runtime {
        Some(rt) => Ctx::with_runtime(id.node_id.clone(), a.ready_timeout, rt),
        None => Ctx::new(id.node_id.clone(), a.ready_timeout),
    };
    ctx.isolation = docker::Isolation {
        publish_addr: a.publish_addr,
        host_firewall: a.host_firewall,
        pool: a.network_pool,
    };
    let ctx = std::sync::Arc::new(ctx);
    ctx.refresh_docker().await;
    if let Some(d) = ctx.docker().await {
        match d.unpause_leftovers(&ctx.node_id).await {
            Ok(0) => {}
            Ok(n) => warn!(
                containers = n,
                "let go of containers a backup left paused when the agent stopped"
            ),
            Err(e) => warn!(error = %e, "could not look for containers left paused"),
        }
    }
    let sup = supervisor::Supervisor::new(ctx.clone());
    let events = tokio::spawn(sup.clone().watch_docker());
    let sweep = tokio::spawn(sup.clone().sweep_orphans());
    let engine = tokio::spawn(connection::watch_engine(ctx.clone(), a.heartbeat));
    let settings = connection::Settings {
        heartbeat: a.heartbeat,
        advertise_host: direct_host(&a),
    };
    let id = identity::Shared::new(id, &a.data_dir);
    connection::run(id, ctx, sup, settings, shutdown).await;
    events.abort();
    sweep.abort();
    engine.abort();
    info!("lattice-agentd stopped; containers keep running");
    Ok(())
}

/// The host clients use for this node's direct ports: the address they are
/// published on, unless that is every address (then `--advertise-host`, or
/// the address controld sees when that is empty).
fn direct_host(a: &args::Args) -> String {
    if a.publish_addr.is_unspecified() {
        a.advertise_host.clone().unwrap_or_default()
    } else {
        a.publish_addr.to_string()
    }
}

/// Installs the tracing subscriber (stderr).
pub fn init_tracing(format: args::LogFormat) {
    lattice_proto::daemon::init_tracing(
        format,
        "info,h2=warn,tower=warn,hyper=warn,bollard=warn,rustls=warn",
    );
}
