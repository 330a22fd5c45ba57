//! `make scale`: one real controld against a fleet of hollow nodes (real
//! agents over in-memory engines, see `HollowFleet`), driven through its
//! gRPC API by many users at once. Measures deploy throughput and latency,
//! `List` and the node list under a full fleet, controld's memory and CPU at
//! rest, and how long every node takes to come back after a restart — in
//! several runs from scratch, since memory is only steady if every run says
//! so. Writes its section of docs/BENCHMARKS.md.
//!
//! `lattice-scale [NODES] [USERS] [PER_USER] [sqlite|postgres] [RUNS]`
//! (default 1000 100 100 sqlite 3; postgres uses a fresh database per run
//! on the server `LATTICE_TEST_POSTGRES_URL` names, which `make scale`
//! starts).

mod probe;
mod report;
mod run;

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    // The figures are what users get: the daemons' own log level.
    lattice_e2e::log_as_in_production();
    let arg = |i: usize, d: usize| {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(d)
    };
    let setup = run::Setup {
        nodes: arg(1, 1000),
        users: arg(2, 100),
        per_user: arg(3, 100),
        postgres: std::env::args().nth(4).is_some_and(|b| b == "postgres"),
    };
    let runs = arg(5, 3).max(1);
    let mut figures = Vec::with_capacity(runs);
    for r in 1..=runs {
        eprintln!("scale: run {r} of {runs}");
        let f = run::once(&setup).await;
        eprintln!(
            "scale: run {r}: controld RSS joined / peak / at rest {:?} MiB",
            f.rss_mib
        );
        figures.push(f);
    }
    let md = report::render(&setup, &figures);
    print!("{md}");
    if std::env::var_os("LATTICE_TEST_CONTROLD_WRAPPER").is_none() {
        report::write(&setup, &md);
    }
}
