//! `lattice-agentd` binary: flags, logging, signals.

use clap::Parser;
use lattice_agentd::args::Args;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    lattice_agentd::init_tracing(args.log_format);
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Every relayed connection is a socket to a container.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    match lattice_agentd::run(args, shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
