//! `make chaos`: churn on real Docker while faults hit (100 SIGKILLs of
//! agentd or controld at random moments; controld's Postgres stopped; an
//! agent's Docker Engine cut off; a node gone for good), checking after
//! each phase that everything converges and nothing is lost (see
//! `lattice_e2e::chaos`). Writes docs/RELIABILITY.md; exits 1 on any
//! violation.
//!
//! `lattice-chaos [KILLS]` (default 100); `LATTICE_CHAOS_SEED` repeats a run.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use lattice_e2e::chaos::{Phase, Sizes, markdown};

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kills = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let seed = std::env::var("LATTICE_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let sizes = Sizes {
        kills,
        kill_gap: Duration::from_millis(2500),
        names: 12,
        outage: Duration::from_secs(10),
        pg_port: 54349,
        seed,
    };
    eprintln!("chaos: seed {seed} (LATTICE_CHAOS_SEED={seed} repeats this run)");
    let started = Instant::now();
    let mut phases = Vec::new();
    let only = std::env::var("LATTICE_CHAOS_PHASES").unwrap_or_default();
    for p in [Phase::Kills, Phase::Outages] {
        if !only.is_empty()
            && !only
                .to_lowercase()
                .contains(&format!("{p:?}").to_lowercase())
        {
            continue;
        }
        eprintln!("chaos: phase {p:?}");
        phases.extend(p.run(&sizes));
    }
    let took = started.elapsed().as_secs_f64();
    let table = markdown(&phases);
    let violations: usize = phases.iter().map(|p| p.violations.len()).sum();
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Reliability\n\n\
         `make chaos` (tests/chaos, driver in tests/src/chaos): a churn of deploy / stop / start / restart / rm\n\
         over {} workload names and an insert into a Postgres workload (through the public edge, with the real\n\
         `psql`) per step, on the real Docker Engine, while faults hit. After each phase it waits for\n\
         convergence and checks: every listed workload reaches its desired state; one container per running\n\
         workload (at most one stopped), none for a deleted one, no orphan on a live node; no acknowledged deploy lost, no\n\
         acknowledged delete forgotten; every acknowledged row in the Postgres workload.\n\n\
         Run on {date}, {} cores, debug build, seed {seed}, {took:.0} s in all, **{violations} violations**.\n",
        sizes.names,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    md.push_str(&table);
    print!("{md}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/RELIABILITY.md");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    // Everything after the generated part (defects found and fixed) stays.
    let kept = old
        .split_once("\n## Defects found")
        .map(|(_, rest)| format!("\n## Defects found{rest}"))
        .unwrap_or_default();
    std::fs::write(&path, format!("{md}{kept}")).expect("write docs/RELIABILITY.md");
    if violations > 0 {
        std::process::exit(1);
    }
}
