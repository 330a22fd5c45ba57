//! Flags of the account commands: register, invites, users, sessions,
//! passwd and audit.

use clap::{Args, Subcommand};

use super::CredentialsArgs;

/// `register`.
#[derive(Debug, Clone, Args)]
pub struct RegisterArgs {
    /// Email and password.
    #[command(flatten)]
    pub credentials: CredentialsArgs,
    /// A one-time invite from an admin, on a server that registers by invitation.
    #[arg(long, env = "LATTICE_INVITE", hide_env_values = true)]
    pub invite: Option<String>,
}

/// `invites`.
#[derive(Debug, Clone, Args)]
pub struct InvitesArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: InvitesAction,
}

/// `invites` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum InvitesAction {
    /// A one-time invite to register (admin); shown once.
    Create {
        /// How long it stays valid (at most 30d).
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        expires: std::time::Duration,
    },
}

/// `users`.
#[derive(Debug, Clone, Args)]
pub struct UsersArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: UsersAction,
}

/// `users` actions (admin).
#[derive(Debug, Clone, Subcommand)]
pub enum UsersAction {
    /// Disable an account: its sessions and API tokens end at once.
    Disable {
        /// The account's email.
        email: String,
    },
    /// Enable a disabled account again (it signs in anew).
    Enable {
        /// The account's email.
        email: String,
    },
}

/// `sessions`.
#[derive(Debug, Clone, Args)]
pub struct SessionsArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: SessionsAction,
}

/// `sessions` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum SessionsAction {
    /// Your signed-in sessions.
    Ls,
    /// End one of your sessions (`lattice sessions ls` shows their ids).
    Revoke {
        /// The session's id.
        id: String,
    },
}

/// `passwd`.
#[derive(Debug, Clone, Args)]
pub struct PasswdArgs {
    /// Read the current password, then the new one, one per line from standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

/// `audit`.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// Most entries to show (at most 1000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// Only actions starting with this, e.g. `login`, `tokens`, `access`.
    #[arg(long)]
    pub action: Option<String>,
}

/// `feedback`.
#[derive(Debug, Clone, Args)]
pub struct FeedbackArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: FeedbackAction,
}

/// `feedback` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum FeedbackAction {
    /// Send a message to the server's admins.
    Send {
        /// The message (words are joined with spaces).
        #[arg(required = true, num_args = 1..)]
        message: Vec<String>,
    },
    /// Messages users sent, newest first (admin).
    Ls {
        /// Most messages to show (at most 1000).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
    },
}
