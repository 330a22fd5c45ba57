//! `lattice`: parse, run, map errors to exit codes.
#![forbid(unsafe_code)]

mod api;
mod args;
mod backup_file;
mod cmd;
mod config;
mod confirm;
mod env;
mod error;
mod output;
mod server;
mod token_store;
mod trust;
mod view;
mod wait;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command, Output};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return args_error(&e),
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let format = cli.global.output;
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.chain().any(|c| c.is::<output::BrokenPipe>()) => ExitCode::SUCCESS,
        Err(e)
            if e.chain()
                .any(|c| matches!(c.downcast_ref(), Some(error::CliError::Exited(_)))) =>
        {
            // The client already said why.
            ExitCode::from(error::classify(&e).0)
        }
        Err(e) => {
            let (code, kind) = error::classify(&e);
            match format {
                Output::Json => eprintln!(
                    "{}",
                    serde_json::json!({"error": {"kind": kind, "message": format!("{e:#}"), "exit_code": code}})
                ),
                Output::Table => eprintln!("error: {e:#}"),
            }
            ExitCode::from(code)
        }
    }
}

/// A command line clap refused: as JSON on stderr when JSON was asked for
/// (scripts parse every error), else clap's own message; help and version
/// are not errors.
fn args_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let informational = matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
    if informational || !wants_json(std::env::args()) {
        let _ = e.print();
        return ExitCode::from(if e.use_stderr() {
            error::exit::USAGE
        } else {
            0
        });
    }
    // clap's message without its usage and help lines, on one line.
    let rendered = e.render().to_string();
    let message = rendered
        .lines()
        .take_while(|l| !l.starts_with("Usage:"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_string();
    eprintln!(
        "{}",
        serde_json::json!({"error": {"kind": "usage", "message": message, "exit_code": error::exit::USAGE}})
    );
    ExitCode::from(error::exit::USAGE)
}

/// Whether the raw arguments (or LATTICE_OUTPUT) ask for JSON.
fn wants_json(args: impl Iterator<Item = String>) -> bool {
    let args: Vec<String> = args.collect();
    let flag = args.iter().enumerate().any(|(i, a)| {
        matches!(a.as_str(), "-ojson" | "--output=json" | "-o=json")
            || (matches!(a.as_str(), "-o" | "--output")
                && args.get(i + 1).is_some_and(|v| v == "json"))
    });
    flag || std::env::var(env::OUTPUT).is_ok_and(|v| v == "json")
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = api::Ctx::new(cli.global)?;

    match cli.command {
        Command::Register(a) => cmd::auth::register(ctx, a).await,
        Command::Login(a) => cmd::auth::login(ctx, a).await,
        Command::Logout => cmd::auth::logout(ctx).await,
        Command::Whoami => cmd::auth::whoami(ctx).await,
        Command::Trust(a) => cmd::auth::trust(ctx, a).await,
        Command::Nodes(a) => cmd::nodes::run(ctx, a).await,
        Command::Deploy(a) => cmd::workloads::deploy(ctx, a).await,
        Command::Ls(a) if a.watch => cmd::watch::run(ctx, None).await,
        Command::Ls(_) => cmd::workloads::ls(ctx).await,
        Command::Status(a) if a.watch.watch => cmd::watch::run(ctx, Some(a.name)).await,
        Command::Status(a) => cmd::workloads::status(ctx, args::NameArg { name: a.name }).await,
        Command::Access(a) => cmd::access::run(ctx, a).await,
        Command::Logs(a) => cmd::logs::run(ctx, a).await,
        Command::Stop(a) => cmd::workloads::lifecycle(ctx, a, cmd::workloads::Action::Stop).await,
        Command::Start(a) => cmd::workloads::lifecycle(ctx, a, cmd::workloads::Action::Start).await,
        Command::Restart(a) => {
            cmd::workloads::lifecycle(ctx, a, cmd::workloads::Action::Restart).await
        }
        Command::Rm(a) => cmd::workloads::rm(ctx, a).await,
        Command::Env(a) => cmd::versions::env(ctx, a).await,
        Command::History(a) => cmd::versions::history(ctx, a).await,
        Command::Rollback(a) => cmd::versions::rollback(ctx, a).await,
        Command::Volumes(a) => cmd::volumes::run(ctx, a).await,
        Command::Connect(a) => cmd::connect::connect(ctx, a).await,
        Command::Backup(a) => cmd::backup::backup(ctx, a).await,
        Command::Restore(a) => cmd::backup::restore(ctx, a).await,
        Command::Exec(a) => cmd::exec::run(ctx, a).await,
        Command::Open(a) => cmd::connect::open(ctx, a).await,
        Command::Tokens(a) => cmd::tokens::run(ctx, a).await,
        Command::Audit(a) => cmd::audit::run(ctx, a).await,
        Command::Invites(a) => cmd::account::invites(ctx, a).await,
        Command::Users(a) => cmd::account::users(ctx, a).await,
        Command::Sessions(a) => cmd::account::sessions(ctx, a).await,
        Command::Passwd(a) => cmd::account::passwd(ctx, a).await,
        Command::Doctor => cmd::doctor::run(ctx).await,
        Command::Console => cmd::auth::console(ctx).await,
        Command::Feedback(a) => cmd::feedback::run(ctx, a).await,
        Command::Context(a) => cmd::context::run(ctx, a),
        Command::Completion { shell } => {
            // clap_complete panics when its writer fails: generate in memory,
            // then print through the one writer that treats a closed pipe as the end.
            let mut c = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut c, "lattice", &mut script);
            output::raw(&script)
        }
        Command::Man { dir } => cmd::context::man(&dir),
    }
}
