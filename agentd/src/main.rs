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
    match lattice_agentd::run(args, lattice_proto::daemon::shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
