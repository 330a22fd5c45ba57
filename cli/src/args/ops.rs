//! Flags of the operations commands: exec, backup, restore.

use std::time::Duration;

/// `lattice exec`.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// Workload name.
    pub name: String,
    /// Send this terminal's (or pipe's) input to the command.
    #[arg(short, long)]
    pub interactive: bool,
    /// Give the command a terminal: raw keys (Ctrl-C goes to the command),
    /// window size kept in step. Needs a terminal here.
    #[arg(short, long)]
    pub tty: bool,
    /// Stop the command after this long (default: 5m with nothing attached,
    /// no limit with -i or -t).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
    /// The command and its arguments, after `--` (no shell unless you run one).
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// `lattice backup`.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// Workload name.
    pub name: String,
    /// Where to write it; `-` for stdout. Default: NAME-YYYYMMDD-HHMMSS.lattice-backup here.
    pub file: Option<std::path::PathBuf>,
}

/// `lattice restore`.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The workload to restore into (the one backed up, or another of its kind).
    pub name: String,
    /// A file written by `lattice backup`.
    pub file: std::path::PathBuf,
    /// Waiting (after a restore that restarts the workload: S3 and custom).
    #[command(flatten)]
    pub wait: super::WaitArgs,
}
