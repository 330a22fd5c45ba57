//! The command line: clap types only. What runs them is in `cmd/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::env;

mod account;
mod examples;
mod ops;
mod since;
mod versions;
mod workloads;
pub use account::*;
pub use ops::*;
pub use versions::*;
pub use workloads::*;

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
#[command(next_help_heading = "Global options")]
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

    /// Print only workload names (one per line), for xargs.
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,
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
    #[command(after_help = examples::REGISTER)]
    Register(RegisterArgs),
    /// Sign in; the session is kept in the OS keyring.
    #[command(after_help = examples::LOGIN)]
    Login(CredentialsArgs),
    /// End the session on the server and forget it here.
    #[command(after_help = examples::LOGOUT)]
    Logout,
    /// Show who you are signed in as, where, and until when.
    #[command(after_help = examples::WHOAMI)]
    Whoami,
    /// Pin the server's certificate (done automatically on first contact).
    #[command(after_help = examples::TRUST)]
    Trust(TrustArgs),
    /// Machines lending capacity (join tokens, drain, rm and addresses: admin).
    #[command(after_help = examples::NODES)]
    Nodes(NodesArgs),
    /// Deploy a workload: `postgres NAME`, `s3 NAME` (alias `minio`), or `custom NAME --image I`;
    /// deploying a name you have updates it in place.
    #[command(after_help = examples::DEPLOY)]
    Deploy(DeployArgs),
    /// List your workloads.
    #[command(after_help = examples::LS)]
    Ls(WatchArg),
    /// Details of a workload: status, recent events, last error and log lines.
    #[command(after_help = examples::STATUS)]
    Status(StatusArgs),
    /// How to connect to a workload: endpoint and credentials (owner only).
    #[command(after_help = examples::ACCESS)]
    Access(AccessArgs),
    /// Print a workload's logs.
    #[command(after_help = examples::LOGS)]
    Logs(LogsArgs),
    /// Stop workloads (their data is kept).
    #[command(after_help = examples::STOP)]
    Stop(LifecycleArgs),
    /// Start stopped workloads.
    #[command(after_help = examples::START)]
    Start(LifecycleArgs),
    /// Restart workloads.
    #[command(after_help = examples::RESTART)]
    Restart(LifecycleArgs),
    /// Remove workloads (their data volumes are kept unless --purge).
    #[command(after_help = examples::RM)]
    Rm(RmArgs),
    /// A workload's environment variables: set, unset, ls (each change is a new version).
    #[command(after_help = examples::ENV)]
    Env(EnvArgs),
    /// The versions of a workload's spec, newest first.
    #[command(after_help = examples::HISTORY)]
    History(NameArg),
    /// Roll a workload back to an earlier version (as a new version).
    #[command(after_help = examples::ROLLBACK)]
    Rollback(RollbackArgs),
    /// Data volumes kept after their workload was removed: ls, rm.
    #[command(after_help = examples::VOLUMES)]
    Volumes(VolumesArgs),
    /// Open the right client, signed in: psql for Postgres, a shell with AWS_* set for S3.
    #[command(after_help = examples::CONNECT)]
    Connect(ConnectArgs),
    /// Back up a workload's data to a file (Postgres: pg_dump; S3: its volume).
    #[command(after_help = examples::BACKUP)]
    Backup(BackupArgs),
    /// Restore a backup file into a workload (checked whole before anything changes).
    #[command(after_help = examples::RESTORE)]
    Restore(RestoreArgs),
    /// Run a command in a workload's container; -it for an interactive shell.
    #[command(after_help = examples::EXEC)]
    Exec(ExecArgs),
    /// Open an HTTP workload's public URL in a browser (prints it too).
    #[command(after_help = examples::OPEN)]
    Open(NameArg),
    /// API tokens for CI: use one with LATTICE_TOKEN instead of signing in.
    #[command(after_help = examples::TOKENS)]
    Tokens(TokensArgs),
    /// One-time invites to register, when the server registers by invitation (admin).
    #[command(after_help = examples::INVITES)]
    Invites(InvitesArgs),
    /// Disable or enable accounts (admin).
    #[command(after_help = examples::USERS)]
    Users(UsersArgs),
    /// Your signed-in sessions: list, end one.
    #[command(after_help = examples::SESSIONS)]
    Sessions(SessionsArgs),
    /// Change your password; your other sessions end.
    #[command(after_help = examples::PASSWD)]
    Passwd(PasswdArgs),
    /// The audit log: every change and sign-in, newest first (an admin sees everyone's).
    #[command(after_help = examples::AUDIT)]
    Audit(AuditArgs),
    /// Check that everything needed to deploy works, and say what to fix.
    #[command(after_help = examples::DOCTOR)]
    Doctor,
    /// Print the web console's address (and open it in a browser when there is one).
    #[command(after_help = examples::CONSOLE)]
    Console,
    /// Send feedback to the server's admins; admins read it with `feedback ls`.
    #[command(after_help = examples::FEEDBACK)]
    Feedback(FeedbackArgs),
    /// Servers you have used: list, switch, forget.
    #[command(after_help = examples::CONTEXT)]
    Context(ContextArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    #[command(after_help = examples::COMPLETION)]
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write man pages (used by `make man`).
    #[command(hide = true)]
    Man {
        /// Directory to write lattice.1 and one page per command into.
        dir: PathBuf,
    },
}

/// `context`.
#[derive(Debug, Clone, Args)]
pub struct ContextArgs {
    /// What to do (default: list).
    #[command(subcommand)]
    pub action: Option<ContextAction>,
}

/// `context` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum ContextAction {
    /// List known servers; * marks the current one.
    Ls,
    /// Make a known server the current one.
    Use {
        /// Its URL, as `lattice context ls` shows it.
        server: String,
    },
    /// Forget a server: its pinned certificate and stored session.
    Rm {
        /// Its URL.
        server: String,
    },
}

/// `tokens`.
#[derive(Debug, Clone, Args)]
pub struct TokensArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: TokensAction,
}

/// `tokens` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum TokensAction {
    /// Create a token; it is shown once.
    Create {
        /// A name for it (a-z, 0-9, -).
        name: String,
        /// What it may do.
        #[arg(long, value_enum, default_value_t = TokenScope::Deploy)]
        scope: TokenScope,
        /// Lifetime, e.g. 30d (default: never expires).
        #[arg(long, value_parser = humantime::parse_duration)]
        expires: Option<std::time::Duration>,
    },
    /// List your tokens.
    Ls,
    /// Revoke a token (asks first; --yes to skip).
    Revoke {
        /// Its name.
        name: String,
    },
}

/// Token scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenScope {
    /// List, status, logs, watch.
    Read,
    /// Read plus deploy, stop, start, restart, rm, access.
    Deploy,
    /// Everything your account may do.
    Admin,
}

/// `nodes`.
#[derive(Debug, Clone, Args)]
pub struct NodesArgs {
    /// What to do (default: list).
    #[command(subcommand)]
    pub action: Option<NodesAction>,
}

/// `nodes` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum NodesAction {
    /// List nodes.
    Ls,
    /// Create a one-time token for `lattice-agentd --join-token`.
    JoinToken {
        /// How long the token stays valid.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        expires: std::time::Duration,
    },
    /// Remove a node: its identity is revoked at once and its workloads become lost.
    Rm {
        /// The node's name (see `lattice nodes`).
        name: String,
        /// Remove it even though workloads are placed there (or it is unreachable).
        #[arg(long)]
        force: bool,
    },
    /// Stop placing new workloads on a node (those there keep running).
    Drain {
        /// The node's name (see `lattice nodes`).
        name: String,
    },
    /// Give a node a new secret: its agent saves it, then the old one stops working.
    RotateSecret {
        /// The node's name (see `lattice nodes`); it must be connected.
        name: String,
    },
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
    fn every_command_has_examples_and_global_options_stand_apart() {
        let mut c = Cli::command();
        c.build();
        for sub in c
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        {
            let after = sub
                .get_after_help()
                .map(|s| s.to_string())
                .unwrap_or_default();
            assert!(
                after.starts_with("Examples:"),
                "{} has no examples",
                sub.get_name()
            );
            assert!(
                after.contains(&format!("lattice {}", sub.get_name())),
                "{}",
                sub.get_name()
            );
        }
        let help = c
            .find_subcommand_mut("deploy")
            .expect("deploy")
            .render_long_help()
            .to_string();
        let global = help
            .find("Global options:")
            .expect("a heading of their own");
        assert!(help.find("--image").is_some_and(|i| i < global), "{help}");
        assert!(help.find("--server").is_some_and(|i| i > global), "{help}");
    }

    #[test]
    fn several_names_and_since() {
        let c = Cli::try_parse_from(["lattice", "rm", "a", "b", "--purge"]).unwrap();
        let Command::Rm(a) = c.command else {
            panic!("rm")
        };
        assert_eq!(a.names, ["a", "b"]);
        assert!(
            Cli::try_parse_from(["lattice", "stop"]).is_err(),
            "a name is required"
        );
        assert!(
            Cli::try_parse_from(["lattice", "logs", "x", "--since", "2026-12-02T18:00:00Z"])
                .is_ok()
        );
    }

    #[test]
    fn global_flags_go_anywhere() {
        let c = Cli::try_parse_from(["lattice", "whoami", "-o", "json", "--server", "x"]).unwrap();
        assert_eq!(c.global.output, Output::Json);
        assert_eq!(c.global.server.as_deref(), Some("x"));
    }
}
