//! Flags of the commands that change and keep workloads: env, rollback,
//! volumes, connect.

use clap::{Args, Subcommand};

/// `env`.
#[derive(Debug, Clone, Args)]
pub struct EnvArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: EnvAction,
}

/// `env` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum EnvAction {
    /// Set variables (a new version, rolled out).
    Set {
        /// Workload name.
        name: String,
        /// KEY=value pairs.
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
        /// Waiting.
        #[command(flatten)]
        wait: super::WaitArgs,
    },
    /// Remove variables (a new version, rolled out).
    Unset {
        /// Workload name.
        name: String,
        /// Names to remove.
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
        /// Waiting.
        #[command(flatten)]
        wait: super::WaitArgs,
    },
    /// List variables (values hidden unless --show-values).
    Ls {
        /// Workload name.
        name: String,
        /// Show the values (they may be secrets).
        #[arg(long)]
        show_values: bool,
    },
}

/// `rollback`.
#[derive(Debug, Clone, Args)]
pub struct RollbackArgs {
    /// Workload name.
    pub name: String,
    /// The version to return to (default: the one before the current one).
    #[arg(value_name = "VERSION")]
    pub to: Option<String>,
    /// Waiting.
    #[command(flatten)]
    pub wait: super::WaitArgs,
}

/// `volumes`.
#[derive(Debug, Clone, Args)]
pub struct VolumesArgs {
    /// What to do (default: list).
    #[command(subcommand)]
    pub action: Option<VolumesAction>,
}

/// `volumes` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum VolumesAction {
    /// List kept volumes.
    Ls,
    /// Delete a kept volume and its data (asks first; --yes to skip).
    Rm {
        /// The name of the workload that left it.
        name: String,
        /// Only forget the record: for a node that is gone for good.
        #[arg(long)]
        forget: bool,
    },
}

/// `connect`.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Workload name.
    pub name: String,
    /// Use the node's own address instead of the public endpoint.
    #[arg(long)]
    pub direct: bool,
    /// Arguments for psql (Postgres), or a command to run instead of a shell (S3), after `--`.
    #[arg(last = true)]
    pub args: Vec<String>,
}
