//! Command-line flags, each with a `LATTICE_*` environment equivalent.

use std::path::PathBuf;
use std::time::Duration;

pub use lattice_proto::daemon::LogFormat;

use clap::Parser;

/// `lattice-agentd`: lends this machine's Docker Engine to a Lattice control plane.
#[derive(Debug, Clone, Parser)]
#[command(name = "lattice-agentd", version, about)]
pub struct Args {
    /// The control plane, e.g. https://lattice.example.net:7443.
    #[arg(long, env = "LATTICE_CONTROL")]
    pub control: Option<String>,

    /// One-time join token from `lattice nodes join-token` (only needed once).
    #[arg(long, env = "LATTICE_JOIN_TOKEN", hide_env_values = true)]
    pub join_token: Option<String>,

    /// Where the node identity is kept.
    #[arg(
        long,
        env = "LATTICE_AGENT_DATA_DIR",
        default_value = "./.lattice/agent"
    )]
    pub data_dir: PathBuf,

    /// Host name or IP that clients on this node's network use to reach its
    /// workloads directly (default: the address controld sees).
    #[arg(long, env = "LATTICE_ADVERTISE_HOST")]
    pub advertise_host: Option<String>,

    /// How often to report liveness.
    #[arg(long, env = "LATTICE_HEARTBEAT", default_value = "5s", value_parser = lattice_proto::daemon::positive_duration)]
    pub heartbeat: Duration,

    /// How long a workload may take to become ready before it is failed.
    #[arg(long, env = "LATTICE_READY_TIMEOUT", default_value = "5m", value_parser = lattice_proto::daemon::positive_duration)]
    pub ready_timeout: Duration,

    /// Log format.
    #[arg(long, env = "LATTICE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}
