//! Flags of the operations commands: exec.

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
