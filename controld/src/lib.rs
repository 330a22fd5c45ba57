//! lattice-controld: the Lattice control plane.
//!
//! [`Server::bind`] prepares everything (data dir, TLS identity, state store,
//! listener) and [`Server::run`] serves until the given shutdown future
//! resolves, so tests start it in-process on port 0 and the binary is a thin
//! wrapper that wires signals.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod accounts;
pub mod args;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod catalog;
pub mod clock;
mod config;
pub mod console;
pub mod edge;
#[allow(missing_docs)]
pub mod entity;
pub mod error;
pub mod feedback;
pub mod fleet;
pub mod fsutil;
pub mod housekeeping;
pub mod keyed_lock;
pub mod ops;
pub mod quota;
pub mod repo;
pub mod secrets;
pub mod serve;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod workloads;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use lattice_proto::v1;
use tokio::net::TcpListener;
use tracing::info;

use accounts::{Accounts, LockoutPolicy};
use auth::Authenticator;
use auth::limiter::AddressLimiter;
use auth::service::{AuthApi, AuthPolicy};
use auth::tokens::AccessTokens;

pub use args::ServeArgs;
pub use config::{Config, MAX_ACCESS_TTL};

/// A bound, ready-to-run control plane.
pub struct Server {
    listener: TcpListener,
    tls: tls::TlsIdentity,
    auth: AuthApi,
    workloads: workloads::service::WorkloadApi,
    nodes: fleet::node_service::NodeApi,
    agents: fleet::agent_service::AgentApi,
    fleet: std::sync::Arc<fleet::Fleet>,
    edge: std::sync::Arc<edge::Edge>,
    limiter: AddressLimiter,
    audit: audit::Audit,
    audit_api: audit::AuditApi,
    account_api: auth::account_api::AccountApi,
    console: console::Console,
    audit_retention: Duration,
    accounts: Accounts,
    lockout: LockoutPolicy,
    data_dir: PathBuf,
    addr: SocketAddr,
    ops: ops::Ops,
    metrics_listener: Option<TcpListener>,
}

impl Server {
    /// Creates the data dir, TLS identity and keys, opens and migrates the
    /// store, and binds the listener.
    pub async fn bind(cfg: Config) -> anyhow::Result<Self> {
        cfg.validate()?;
        fsutil::create_private_dir(&cfg.data_dir)?;
        let operator = cfg
            .serve
            .tls_cert
            .as_deref()
            .zip(cfg.serve.tls_key.as_deref());
        let tls = tls::load_or_create(&cfg.data_dir, &cfg.sans(), operator)?;
        tls::publish(&cfg.data_dir, &tls)?;
        let jwt = AccessTokens::load_or_create(&cfg.data_dir)?;
        let db = store::open(&cfg.database_url).await?;
        let accounts = Accounts::new(db.clone());
        let limiter = AddressLimiter::new(cfg.serve.auth_rate_per_minute);
        let policy = AuthPolicy {
            access_ttl: cfg.serve.access_token_ttl,
            refresh_ttl: cfg.serve.refresh_token_ttl,
            lockout: LockoutPolicy {
                threshold: cfg.serve.lockout_threshold,
                window: cfg.serve.lockout_window,
                duration: cfg.serve.lockout_duration,
            },
        };
        let authn = Authenticator::new(accounts.clone(), jwt.clone());
        let audit = audit::Audit::new(db.clone());
        let auth = AuthApi::new(
            accounts.clone(),
            authn.clone(),
            jwt,
            limiter.clone(),
            policy,
            audit.clone(),
        )
        .with_registration(cfg.serve.registration);
        let account_api = auth::account_api::AccountApi::new(
            accounts.clone(),
            feedback::Feedback::new(db.clone()),
            authn.clone(),
            audit.clone(),
        );
        let secrets = secrets::SecretBox::load_or_create(&cfg.data_dir)?;
        let repo = repo::Repo::new(db);
        // No agent is connected to a controld that has just started, whatever
        // the store says after a crash.
        repo.all_nodes_disconnected().await?;
        let fleet = fleet::Fleet::new(
            repo.clone(),
            secrets.clone(),
            cfg.serve.node_lease,
            cfg.serve.node_spec_bytes,
        );
        let metrics = ops::Metrics::new();
        let catalog = catalog::Catalog {
            postgres_image: cfg.serve.postgres_image.clone(),
            s3_image: cfg.serve.s3_image.clone(),
        };
        let edge = edge::Edge::new(
            edge::EdgeConfig {
                addr: cfg.serve.edge_addr,
                range: cfg.serve.edge_ports,
                public_host: cfg.serve.public_host.clone(),
                idle_timeout: cfg.serve.edge_idle_timeout,
                max_connections: cfg.serve.edge_max_connections,
                max_per_workload: cfg.serve.edge_max_connections_per_workload,
                max_per_client: cfg.serve.edge_max_connections_per_client,
                quarantine: cfg.serve.edge_port_quarantine,
                claim_timeout: Duration::from_secs(10),
            },
            fleet.clone(),
            repo.clone(),
            metrics.clone(),
        );
        let ops = ops::Ops {
            metrics,
            repo: repo.clone(),
            fleet: fleet.clone(),
            token: cfg.serve.metrics_token.as_deref().map(Into::into),
        };
        let workloads = workloads::service::WorkloadApi::new(workloads::service::Deps {
            fleet: fleet.clone(),
            repo: repo.clone(),
            secrets: secrets.clone(),
            authn: authn.clone(),
            catalog,
            edge: edge.clone(),
            audit: audit.clone(),
            policy: quota::Policy {
                quotas: quota::Quotas {
                    workloads: cfg.serve.quota_workloads,
                    cpu_millis: u64::from(cfg.serve.quota_cpu),
                    memory_bytes: cfg.serve.quota_memory,
                    edge_ports: cfg.serve.quota_edge_ports,
                    streams: cfg.serve.quota_streams,
                    spec_bytes: cfg.serve.quota_spec_bytes,
                },
                defaults: quota::DefaultLimits {
                    cpu_millis: cfg.serve.default_cpu,
                    memory_bytes: cfg.serve.default_memory,
                },
            },
        });
        let nodes = fleet::node_service::NodeApi::new(
            fleet.clone(),
            repo.clone(),
            authn.clone(),
            tls.fingerprint.clone(),
            audit.clone(),
        );
        let audit_api = audit::AuditApi::new(audit.clone(), authn);
        let agents = fleet::agent_service::AgentApi::new(fleet.clone(), repo);

        let console = console::Console::new(
            (
                auth.clone(),
                workloads.clone(),
                nodes.clone(),
                account_api.clone(),
            ),
            secrets,
            tls.fingerprint.clone(),
            cfg.serve.registration == accounts::Registration::Invite,
        );
        let listener = TcpListener::bind(cfg.serve.listen)
            .await
            .with_context(|| format!("could not listen on {}", cfg.serve.listen))?;
        let addr = listener.local_addr()?;
        let metrics_listener = match cfg.serve.metrics_listen {
            Some(a) => Some(
                TcpListener::bind(a)
                    .await
                    .with_context(|| format!("could not listen on {a} (--metrics-listen)"))?,
            ),
            None => None,
        };
        if let Some(l) = &metrics_listener {
            // Like controld.addr: tools and tests find a port-0 address here.
            let a = l.local_addr()?.to_string();
            fsutil::write_private(&cfg.data_dir.join("metrics.addr"), a.as_bytes())?;
        }
        fsutil::write_private(
            &cfg.data_dir.join("controld.addr"),
            addr.to_string().as_bytes(),
        )?;
        Ok(Self {
            listener,
            tls,
            auth,
            workloads,
            nodes,
            agents,
            fleet,
            edge,
            limiter,
            audit,
            audit_api,
            account_api,
            console,
            audit_retention: cfg.serve.audit_retention,
            accounts,
            lockout: policy.lockout,
            data_dir: cfg.data_dir,
            addr,
            ops,
            metrics_listener,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `sha256:…` of the certificate clients pin.
    pub fn fingerprint(&self) -> &str {
        &self.tls.fingerprint
    }

    /// PEM of the certificate clients pin.
    pub fn ca_pem(&self) -> &str {
        &self.tls.anchor_pem
    }

    /// Serves until `shutdown` resolves, then drains in-flight calls.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (health, health_svc) = tonic_health::server::health_reporter();
        health
            .set_serving::<v1::auth_service_server::AuthServiceServer<AuthApi>>()
            .await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .context("could not build the reflection service")?;
        let auth = v1::auth_service_server::AuthServiceServer::new(self.auth)
            .max_decoding_message_size(lattice_proto::MAX_MESSAGE_BYTES);
        let workloads = v1::workload_service_server::WorkloadServiceServer::new(self.workloads)
            .max_decoding_message_size(lattice_proto::MAX_MESSAGE_BYTES);
        let nodes = v1::node_service_server::NodeServiceServer::new(self.nodes);
        let audit = v1::audit_service_server::AuditServiceServer::new(self.audit_api);
        let account = v1::account_service_server::AccountServiceServer::new(self.account_api);
        let agents = v1::agent_service_server::AgentServiceServer::new(self.agents)
            .max_decoding_message_size(lattice_proto::MAX_MESSAGE_BYTES);
        health
            .set_serving::<v1::workload_service_server::WorkloadServiceServer<workloads::service::WorkloadApi>>()
            .await;
        let leases = tokio::spawn(self.fleet.clone().lease_loop());
        let placer = self.fleet.spawn_placer();
        let edge_task = self.edge.start().await?;

        let housekeeping = tokio::spawn(
            housekeeping::Housekeeping {
                limiter: self.limiter.clone(),
                accounts: self.accounts.clone(),
                lockout: self.lockout,
                audit: self.audit.clone(),
                retention: self.audit_retention,
            }
            .run(),
        );
        let metrics_task = self.metrics_listener.map(|l| {
            info!(addr = ?l.local_addr().ok(), "serving /metrics, /healthz and /readyz over plain HTTP");
            tokio::spawn(ops::serve_plain(l, self.ops.clone(), self.fleet.closing()))
        });

        info!(
            addr = %self.addr,
            fingerprint = %self.tls.fingerprint,
            "lattice-controld listening (clients verify this certificate fingerprint)"
        );
        let fleet = self.fleet.clone();
        let shutdown = async move {
            shutdown.await;
            info!("shutting down: closing agent streams and watches");
            fleet.close();
        };
        let closing = self.fleet.closing();
        let grpc = tonic::service::Routes::new(health_svc)
            .add_service(reflection)
            .add_service(auth)
            .add_service(workloads)
            .add_service(nodes)
            .add_service(audit)
            .add_service(account)
            .add_service(agents)
            .prepare()
            .into_axum_router()
            .layer(axum::middleware::from_fn_with_state(
                self.ops.metrics.clone(),
                ops::metrics::track,
            ));
        let tls = serve::tls_config(&self.tls.chain_pem, &self.tls.key_pem)?;
        let tunnels = self.fleet.clone();
        let serve = serve::serve(
            self.listener,
            tls,
            (
                grpc,
                ops::on_api_port(self.ops).merge(console::router(self.console)),
            ),
            move |tls, remote| tunnels.clone().accept_tunnel(tls, remote),
            shutdown,
        );
        // Drain in-flight calls, but never hang on a client that will not let go.
        let result = tokio::select! {
            r = serve => r,
            _ = async { closing.await; tokio::time::sleep(Duration::from_secs(10)).await } => {
                tracing::warn!("connections still open 10s after shutdown began; stopping anyway");
                Ok(())
            }
        };
        housekeeping.abort();
        if let Some(t) = metrics_task {
            t.abort();
        }
        leases.abort();
        placer.abort();
        edge_task.abort();
        let _ = std::fs::remove_file(self.data_dir.join("controld.addr"));
        info!("lattice-controld stopped");
        result.context("the server failed")
    }
}

/// Where the bound address of a running controld is written.
pub fn addr_file(data_dir: &Path) -> PathBuf {
    data_dir.join("controld.addr")
}
