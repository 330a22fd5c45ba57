//! A small `make chaos` in the suite: 10 SIGKILLs under churn, then
//! controld's Postgres stopped, an agent's Docker cut off and a node lost
//! for good — and every invariant holds after each.

use std::time::Duration;

use lattice_e2e::chaos::{Phase, Sizes, markdown};

#[test]
fn churn_survives_kills_outages_and_a_lost_node_with_nothing_lost() {
    let seed = fastrand::u64(..);
    let sizes = Sizes {
        kills: 10,
        kill_gap: Duration::from_millis(1500),
        names: 6,
        outage: Duration::from_secs(10),
        pg_port: 54359,
        seed,
    };
    let mut phases = Vec::new();
    for p in [Phase::Kills, Phase::Outages] {
        phases.extend(p.run(&sizes));
    }
    let table = markdown(&phases);
    assert!(
        phases.iter().all(|p| p.violations.is_empty()),
        "seed {seed}:\n{table}"
    );
    assert!(phases.iter().all(|p| p.acked > 0), "seed {seed}:\n{table}");
    assert!(phases.iter().all(|p| p.rows.0 > 0), "seed {seed}:\n{table}");
}
