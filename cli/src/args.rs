//! The command line: clap types only. What runs them is in `cmd/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::env;

/// lattice: deploy databases, storage and containers on your own machines.
#[derive(Debug, Parser)]
#[command(name = "lattice", version, about, propagate_version = true)]
pub struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The control plane, e.g. https://lattice.example.net:7443 (default: the
    /// server you last signed in to).
    #[arg(long, global = true, env = env::SERVER)]
    pub server: Option<String>,

    /// Trust this CA certificate (PEM) instead of pinning on first contact.
    #[arg(long, global = true, env = env::CA_CERT)]
    pub ca_cert: Option<PathBuf>,

    /// Trust the server if its certificate has this fingerprint (sha256:…),
    /// without asking.
    #[arg(long, global = true, env = env::TRUST_FINGERPRINT)]
    pub trust_fingerprint: Option<String>,

    /// Answer yes to confirmations (trusting a new server, destructive actions).
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,

    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Output::Table, env = env::OUTPUT)]
    pub output: Output,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Tables and sentences for people.
    Table,
    /// One JSON document on stdout (errors as JSON on stderr).
    Json,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an account (the first account on a server becomes its admin), then sign in.
    Register(CredentialsArgs),
    /// Sign in; the session is kept in the OS keyring.
    Login(CredentialsArgs),
    /// End the session on the server and forget it here.
    Logout,
    /// Show who you are signed in as, where, and until when.
    Whoami,
    /// Pin the server's certificate (done automatically on first contact).
    Trust(TrustArgs),
}

/// `register` / `login`.
#[derive(Debug, Clone, Args)]
pub struct CredentialsArgs {
    /// Account email (default for login: the last one used with this server).
    #[arg(long, env = env::EMAIL)]
    pub email: Option<String>,

    /// Read the password from the first line of standard input (for scripts).
    #[arg(long)]
    pub password_stdin: bool,
}

/// `trust`.
#[derive(Debug, Clone, Args)]
pub struct TrustArgs {
    /// Replace a pinned certificate that has changed.
    #[arg(long)]
    pub replace: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_anywhere() {
        let c = Cli::try_parse_from(["lattice", "whoami", "-o", "json", "--server", "x"]).unwrap();
        assert_eq!(c.global.output, Output::Json);
        assert_eq!(c.global.server.as_deref(), Some("x"));
    }
}
