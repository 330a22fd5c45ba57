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

    /// The name to join as (default: this machine's hostname); taken
    /// names get a suffix. Used only when joining.
    #[arg(long, env = "LATTICE_NODE_NAME")]
    pub node_name: Option<String>,

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

    /// Address the workloads' direct ports are published on. The default,
    /// loopback, means nothing listens on the node's network: clients come in
    /// through the control plane's edge. `0.0.0.0` publishes on every address.
    #[arg(long, env = "LATTICE_PUBLISH_ADDR", default_value = "127.0.0.1")]
    pub publish_addr: std::net::IpAddr,

    /// Keep workloads off this node's own addresses and the link-local
    /// metadata range with iptables rules (needs root and iptables).
    #[arg(long, env = "LATTICE_HOST_FIREWALL", default_value_t = true, action = clap::ArgAction::Set)]
    pub host_firewall: bool,

    /// IPv4 range the owners' networks on this node are carved from, one /24
    /// each (pick one your LAN does not use).
    #[arg(long, env = "LATTICE_NETWORK_POOL", default_value = crate::docker::network::DEFAULT_POOL)]
    pub network_pool: ipnet::Ipv4Net,

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
