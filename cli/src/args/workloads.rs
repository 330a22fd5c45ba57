//! Flags of the workload commands: deploy, ls, status, access, logs,
//! stop/start/restart, rm.

use clap::Args;

use super::since::{self, Since};

/// `--watch`.
#[derive(Debug, Clone, Args)]
pub struct WatchArg {
    /// Keep updating as things change (JSON lines when not a terminal).
    #[arg(short, long)]
    pub watch: bool,
}

/// `status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Workload name.
    pub name: String,
    /// Watching.
    #[command(flatten)]
    pub watch: WatchArg,
}

/// A workload name.
#[derive(Debug, Clone, Args)]
pub struct NameArg {
    /// Workload name.
    pub name: String,
}

/// Waiting for a workload to settle.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Wait until the workload is ready (or stopped); fail fast if it fails.
    #[arg(long)]
    pub wait: bool,
    /// Give up waiting after this long.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

/// `deploy`.
#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    /// postgres, s3 (alias minio) or custom.
    pub kind: String,
    /// Workload name (a DNS label: a-z, 0-9, -).
    pub name: String,
    /// Image (required for custom; overrides the server's default otherwise).
    #[arg(long)]
    pub image: Option<String>,
    /// Container port to expose (custom; repeatable).
    #[arg(long = "port")]
    pub ports: Vec<u32>,
    /// CPU limit, e.g. 0.5 or 500m.
    #[arg(long)]
    pub cpu: Option<String>,
    /// Memory limit, e.g. 256Mi or 1Gi.
    #[arg(long)]
    pub memory: Option<String>,
    /// Environment variable KEY=value (repeatable).
    #[arg(long = "env", short = 'e')]
    pub env: Vec<String>,
    /// Mount a persistent data volume at this path (custom).
    #[arg(long)]
    pub volume: Option<String>,
    /// Attach the data volume a removed workload of this name left behind
    /// (see `lattice volumes ls`), with the credentials its data was made with.
    #[arg(long)]
    pub reuse_volume: bool,
    /// Grace period between the image's stop signal and a kill, on stop,
    /// restart, rotate and rm (e.g. 30s; at most 100s).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub stop_timeout: Option<std::time::Duration>,
    /// Waiting.
    #[command(flatten)]
    pub wait: WaitArgs,
    /// Command to run instead of the image's default (after `--`).
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// `access`.
#[derive(Debug, Clone, Args)]
pub struct AccessArgs {
    /// Workload name.
    pub name: String,
    /// Show passwords and secret keys in the table.
    #[arg(long)]
    pub show_secrets: bool,
    /// Print one form for scripts (these include the secrets).
    #[arg(long, value_enum)]
    pub format: Option<AccessFormat>,
    /// Use the node's own address instead of the public endpoint.
    #[arg(long)]
    pub direct: bool,
    /// Issue new credentials and apply them to the running workload; the old
    /// ones stop working.
    #[arg(long)]
    pub rotate: bool,
}

/// Script-friendly access formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AccessFormat {
    /// One URL (postgres://… or http://…).
    Url,
    /// KEY=value lines (DATABASE_URL, or AWS_* for S3).
    Env,
    /// host:port (Postgres) or http://host:port (S3, HTTP).
    Endpoint,
    /// Everything, as JSON.
    Json,
}

/// `logs`.
#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// Workload name.
    pub name: String,
    /// Keep printing new lines as they are written.
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines.
    #[arg(long)]
    pub tail: Option<u32>,
    /// Only lines newer than this: a duration (10m, 1h) or an RFC 3339 time
    /// (2026-12-02T18:00:00Z).
    #[arg(long, value_parser = since::parse)]
    pub since: Option<Since>,
    /// Prefix each line with its time.
    #[arg(long)]
    pub timestamps: bool,
}

/// `stop`, `start`, `restart`.
#[derive(Debug, Clone, Args)]
pub struct LifecycleArgs {
    /// Workload names.
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
    /// Waiting.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `rm`.
#[derive(Debug, Clone, Args)]
pub struct RmArgs {
    /// Workload names.
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
    /// Also delete its data volume (asks first; --yes to skip).
    #[arg(long)]
    pub purge: bool,
    /// Waiting.
    #[command(flatten)]
    pub wait: WaitArgs,
}
