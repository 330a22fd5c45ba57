//! Command-line flags. Every flag has a `LATTICE_*` environment equivalent;
//! the names live here and nowhere else.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use lattice_proto::daemon::LogFormat;

use clap::{Parser, Subcommand};

/// `lattice-controld`: the Lattice control plane.
#[derive(Debug, Parser)]
#[command(name = "lattice-controld", version, about)]
pub struct Args {
    /// Flags every subcommand takes.
    #[command(flatten)]
    pub common: CommonArgs,

    /// Serving flags, when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeArgs,

    /// What to do; with none, serve.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags shared by serving and the maintenance subcommands.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Where the CA, keys and (by default) the SQLite database live.
    #[arg(
        long,
        env = "LATTICE_DATA_DIR",
        default_value = "./.lattice/control",
        global = true
    )]
    pub data_dir: PathBuf,

    /// State store: `sqlite://PATH?mode=rwc` or `postgres://USER:PASS@HOST/DB`.
    /// Default: a SQLite file in the data dir. SQLite syncs its log at
    /// checkpoints (nothing committed is lost if controld dies; the last
    /// commits can be on power loss); add `&synchronous=full` to sync every commit.
    #[arg(
        long,
        env = "LATTICE_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<String>,

    /// Log format.
    #[arg(long, env = "LATTICE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve(Box<ServeArgs>),
    /// Inspect or apply schema migrations.
    Migrate {
        /// What to do.
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Create a one-time join token for a new node (on the server host).
    JoinToken {
        /// How long the token stays valid.
        #[arg(long, default_value = "1h", value_parser = lattice_proto::daemon::positive_duration)]
        expires: Duration,
    },
    /// Take a consistent online copy of the state and the keys into FILE
    /// (safe while the server runs; on Postgres the keys only, and the
    /// pg_dump command to run for the state).
    Backup {
        /// Where to write the backup (a .tar.gz, mode 0600: it holds the keys).
        file: PathBuf,
    },
    /// Restore a backup into `--data-dir`, which must be new or empty.
    Restore {
        /// A file written by `lattice-controld backup`.
        file: PathBuf,
    },
    /// Account administration on the server host (talks to the database directly).
    Admin {
        /// What to do.
        #[command(subcommand)]
        action: AdminAction,
    },
}

/// `migrate` actions.
#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// List migrations and whether each is applied.
    Status,
    /// Apply pending migrations.
    Up,
}

/// `admin` actions.
#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Make an existing account an admin.
    Grant {
        /// The account's email.
        email: String,
    },
}

/// Flags for serving.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address the gRPC API listens on (port 0 picks a free port; the bound
    /// address is written to `<data-dir>/controld.addr`).
    #[arg(long, env = "LATTICE_LISTEN", default_value = "127.0.0.1:7443")]
    pub listen: SocketAddr,

    /// Name clients and agents use to reach this server; added to the
    /// certificate and used in workload URLs.
    #[arg(long, env = "LATTICE_PUBLIC_HOST")]
    pub public_host: Option<String>,

    /// PEM certificate chain to serve instead of the generated one.
    #[arg(long, env = "LATTICE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for `--tls-cert`.
    #[arg(long, env = "LATTICE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Lifetime of access tokens (at most 15m).
    #[arg(long, env = "LATTICE_ACCESS_TOKEN_TTL", default_value = "15m", value_parser = lattice_proto::daemon::positive_duration)]
    pub access_token_ttl: Duration,

    /// Idle lifetime of a session: a refresh token unused this long expires.
    #[arg(long, env = "LATTICE_REFRESH_TOKEN_TTL", default_value = "30d", value_parser = lattice_proto::daemon::positive_duration)]
    pub refresh_token_ttl: Duration,

    /// Who may create an account: `open` (anyone), `invite` (with a one-time
    /// invite from `lattice invites create`) or `closed`. The first account
    /// always registers and becomes the admin.
    #[arg(long, env = "LATTICE_REGISTRATION", value_enum, default_value_t = crate::accounts::Registration::Open)]
    pub registration: crate::accounts::Registration,

    /// Failed logins for one account within `--lockout-window` that lock it.
    #[arg(long, env = "LATTICE_LOCKOUT_THRESHOLD", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub lockout_threshold: u32,

    /// Window in which failed logins are counted.
    #[arg(long, env = "LATTICE_LOCKOUT_WINDOW", default_value = "15m", value_parser = lattice_proto::daemon::positive_duration)]
    pub lockout_window: Duration,

    /// How long a locked account stays locked.
    #[arg(long, env = "LATTICE_LOCKOUT_DURATION", default_value = "15m", value_parser = lattice_proto::daemon::positive_duration)]
    pub lockout_duration: Duration,

    /// Login and register attempts allowed per client address per minute.
    #[arg(long, env = "LATTICE_AUTH_RATE_PER_MINUTE", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub auth_rate_per_minute: u32,

    /// Image for `postgres` workloads.
    #[arg(long, env = "LATTICE_POSTGRES_IMAGE", default_value = "postgres:16")]
    pub postgres_image: String,

    /// Image for `s3` workloads (an S3 server honouring the rustfs/rustfs
    /// contract: RUSTFS_ACCESS_KEY/RUSTFS_SECRET_KEY, port 9000, /data).
    #[arg(long, env = "LATTICE_S3_IMAGE", default_value = "rustfs/rustfs:latest")]
    pub s3_image: String,

    /// Serve /metrics, /healthz and /readyz over plain HTTP on this address
    /// too (keep it on loopback or a monitoring network: no token is asked).
    #[arg(long, env = "LATTICE_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Bearer token that unlocks /metrics on the API's port (without it,
    /// metrics are served only on --metrics-listen).
    #[arg(long, env = "LATTICE_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Address the public edge listens on.
    #[arg(long, env = "LATTICE_EDGE_ADDR", default_value = "0.0.0.0")]
    pub edge_addr: std::net::IpAddr,

    /// Port range of the public edge: one port per exposed workload port.
    #[arg(long, env = "LATTICE_EDGE_PORTS", default_value = "20000-20999", value_parser = crate::edge::parse_range)]
    pub edge_ports: (u16, u16),

    /// How long an edge port a deleted workload let go rests before another
    /// account may get it (its owner may have it back at once).
    #[arg(long, env = "LATTICE_EDGE_PORT_QUARANTINE", default_value = "1h", value_parser = lattice_proto::daemon::positive_duration)]
    pub edge_port_quarantine: Duration,

    /// A relayed connection with no traffic this long is closed.
    #[arg(long, env = "LATTICE_EDGE_IDLE_TIMEOUT", default_value = "15m", value_parser = lattice_proto::daemon::positive_duration)]
    pub edge_idle_timeout: Duration,

    /// Most relayed connections at once, in all.
    #[arg(long, env = "LATTICE_EDGE_MAX_CONNECTIONS", default_value_t = 4096, value_parser = at_least_one)]
    pub edge_max_connections: usize,

    /// Most relayed connections at once to one workload.
    #[arg(
        long,
        env = "LATTICE_EDGE_MAX_CONNECTIONS_PER_WORKLOAD",
        default_value_t = 512,
        value_parser = at_least_one
    )]
    pub edge_max_connections_per_workload: usize,

    /// Most relayed connections at once from one client address (IPv6: per /64).
    #[arg(
        long,
        env = "LATTICE_EDGE_MAX_CONNECTIONS_PER_CLIENT",
        default_value_t = 256,
        value_parser = at_least_one
    )]
    pub edge_max_connections_per_client: usize,

    /// Most workloads one account may have.
    #[arg(long, env = "LATTICE_QUOTA_WORKLOADS", default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
    pub quota_workloads: u64,

    /// Most CPU one account's workloads may be limited to in all (e.g. 16, 2.5).
    #[arg(long, env = "LATTICE_QUOTA_CPU", default_value = "16", value_parser = cpu_arg)]
    pub quota_cpu: u32,

    /// Most memory one account's workloads may be limited to in all (e.g. 32Gi).
    #[arg(long, env = "LATTICE_QUOTA_MEMORY", default_value = "32Gi", value_parser = memory_arg)]
    pub quota_memory: u64,

    /// Most public edge ports one account may hold.
    #[arg(long, env = "LATTICE_QUOTA_EDGE_PORTS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub quota_edge_ports: u64,

    /// Most Watch and Logs streams one account may have open at once.
    #[arg(long, env = "LATTICE_QUOTA_STREAMS", default_value_t = 32, value_parser = at_least_one)]
    pub quota_streams: usize,

    /// Most bytes of workload specs (env, command, credentials) one account
    /// may hold in all (e.g. 4Mi).
    #[arg(long, env = "LATTICE_QUOTA_SPEC_BYTES", default_value = "4Mi", value_parser = size_arg)]
    pub quota_spec_bytes: u64,

    /// Most bytes of workload specs one node may hold, whoever owns them: it
    /// bounds the node's desired state and the agent's memory for it.
    #[arg(long, env = "LATTICE_NODE_SPEC_BYTES", default_value = "32Mi", value_parser = size_arg)]
    pub node_spec_bytes: u64,

    /// CPU limit of a workload deployed without `--cpu`.
    #[arg(long, env = "LATTICE_DEFAULT_CPU", default_value = "1", value_parser = cpu_arg)]
    pub default_cpu: u32,

    /// Memory limit of a workload deployed without `--memory`.
    #[arg(long, env = "LATTICE_DEFAULT_MEMORY", default_value = "1Gi", value_parser = memory_arg)]
    pub default_memory: u64,

    /// How long audit entries are kept.
    #[arg(long, env = "LATTICE_AUDIT_RETENTION", default_value = "90d", value_parser = lattice_proto::daemon::positive_duration)]
    pub audit_retention: Duration,

    /// A node silent this long is unreachable and its workloads lost.
    #[arg(long, env = "LATTICE_NODE_LEASE", default_value = "15s", value_parser = lattice_proto::daemon::positive_duration)]
    pub node_lease: Duration,
}

impl Default for ServeArgs {
    fn default() -> Self {
        // Parsing an empty command line yields the documented defaults, so the
        // defaults are written once, in the attributes above.
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            serve: ServeArgs,
        }
        match Only::try_parse_from(["serve"]) {
            Ok(o) => o.serve,
            Err(e) => unreachable!("defaults of ServeArgs must parse: {e}"),
        }
    }
}

/// CPUs as `--cpu` takes them, in millicores, more than 0.
fn cpu_arg(raw: &str) -> Result<u32, String> {
    match lattice_proto::validate::parse_cpu(raw) {
        Ok(0) => Err("must be more than 0".into()),
        Ok(m) => Ok(m),
        Err(e) => Err(e.rule),
    }
}

/// Memory as `--memory` takes it, in bytes, more than 0.
fn memory_arg(raw: &str) -> Result<u64, String> {
    match lattice_proto::validate::parse_memory(raw) {
        Ok(0) => Err("must be more than 0".into()),
        Ok(b) => Ok(b),
        Err(e) => Err(e.rule),
    }
}

/// An amount of bytes (`4Mi`, `512Ki`), at least 64 KiB (one workload's spec).
fn size_arg(raw: &str) -> Result<u64, String> {
    match lattice_proto::validate::parse_size(raw) {
        Some(b) if b >= 64 * 1024 => Ok(b),
        Some(_) => Err("must be at least 64Ki (one workload's largest spec)".into()),
        None => Err(format!("{raw:?} is not an amount like 4Mi or 512Ki")),
    }
}

/// A count that must be at least 1 (a limit of 0 would refuse everything).
fn at_least_one(raw: &str) -> Result<usize, String> {
    match raw.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{raw:?} is not a whole number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_invocation_serves_with_defaults() {
        let a = Args::try_parse_from(["lattice-controld", "--data-dir", "/tmp/x"]).unwrap();
        assert!(a.command.is_none());
        assert_eq!(a.common.data_dir, PathBuf::from("/tmp/x"));
        let s = ServeArgs::default();
        assert_eq!(s.listen.port(), 7443);
        assert_eq!(s.access_token_ttl, Duration::from_secs(900));
        assert_eq!(s.lockout_threshold, 5);
    }

    #[test]
    fn nonsense_limits_are_refused_with_a_sentence() {
        for (flag, value, says) in [
            ("--edge-idle-timeout", "0", "more than 0"),
            ("--node-lease", "0s", "more than 0"),
            ("--edge-max-connections", "0", "at least 1"),
            ("--lockout-threshold", "0", "0 is not in 1"),
            ("--quota-spec-bytes", "1Ki", "at least 64Ki"),
            ("--node-spec-bytes", "lots", "not an amount"),
        ] {
            let e = Args::try_parse_from(["lattice-controld", flag, value])
                .expect_err(flag)
                .to_string();
            assert!(e.contains(says), "{flag} {value}: {e}");
        }
    }

    #[test]
    fn tls_cert_requires_key() {
        let r = Args::try_parse_from(["lattice-controld", "serve", "--tls-cert", "a.pem"]);
        assert!(r.is_err());
    }
}
