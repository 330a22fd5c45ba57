//! `lattice-agentd`: the node agent. It dials out to controld and drives the
//! local Docker Engine; it arrives with the workloads milestone. Until then
//! the binary exists so packaging and scripts can refer to it, and it says
//! plainly that it cannot serve yet.
#![forbid(unsafe_code)]

use clap::Parser;

/// The Lattice node agent.
#[derive(Debug, Parser)]
#[command(name = "lattice-agentd", version, about)]
struct Args {
    /// The control plane, e.g. https://lattice.example.net:7443.
    #[arg(long, env = "LATTICE_CONTROL")]
    control: Option<String>,
}

fn main() -> std::process::ExitCode {
    let _ = Args::parse();
    eprintln!(
        "lattice-agentd: this build has no node agent yet; it arrives with Lattice's workloads milestone"
    );
    std::process::ExitCode::from(1)
}
