//! The control plane at fleet size, with hollow nodes (real agents over
//! in-memory engines): fifty nodes join, a hundred workloads spread over
//! them and run, and after controld restarts every node reconnects and
//! every workload is still running.

use std::collections::HashMap;
use std::time::Duration;

use lattice_e2e::{Cli, Controld, HollowFleet, PASSWORD, wait_for};

const NODES: usize = 50;
const WORKLOADS: usize = 100;

fn ready_nodes(cli: &Cli) -> usize {
    let v = cli.run(&["nodes", "-o", "json"], None).json();
    v.as_array()
        .map_or(0, |a| a.iter().filter(|n| n["status"] == "ready").count())
}

fn running(cli: &Cli) -> Vec<serde_json::Value> {
    let v = cli.run(&["ls", "-o", "json"], None).json();
    v.as_array()
        .map(|a| {
            a.iter()
                .filter(|w| w["status"] == "running")
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// controld (as a process), its admin, and `n` hollow nodes joining it
/// (their containers take 0.2 s to start).
fn hollow_cloud(n: usize) -> (Controld, Cli, HollowFleet) {
    let controld =
        Controld::start(&["--quota-workloads", "500", "--node-lease", "10s"]).expect("controld");
    let admin = Cli::new(Some(&controld.url()));
    admin.register("admin@example.com", PASSWORD, &controld.fingerprint);
    let tokens: Vec<String> = (0..n).map(|_| admin.join_token()).collect();
    let fleet = HollowFleet::start(&controld.url(), &tokens, Duration::from_millis(200));
    (controld, admin, fleet)
}

#[test]
fn fifty_hollow_nodes_run_a_hundred_workloads_and_survive_a_controld_restart() {
    let (mut controld, admin, _fleet) = hollow_cloud(NODES);
    let joined = wait_for(Duration::from_secs(60), || {
        (ready_nodes(&admin) == NODES).then_some(())
    });
    assert!(
        joined.is_some(),
        "{} of {NODES} nodes ready",
        ready_nodes(&admin)
    );

    for i in 0..WORKLOADS {
        admin
            .run(
                &[
                    "deploy",
                    "custom",
                    &format!("w{i}"),
                    "--image",
                    "sim/app:1",
                    "--cpu",
                    "0.1",
                    "--memory",
                    "64Mi",
                ],
                None,
            )
            .ok();
    }
    let all = wait_for(Duration::from_secs(60), || {
        let r = running(&admin);
        (r.len() == WORKLOADS).then_some(r)
    })
    .unwrap_or_else(|| panic!("{} of {WORKLOADS} running", running(&admin).len()));
    // Spread by free capacity: no node takes much more than its share.
    let mut per_node: HashMap<String, usize> = HashMap::new();
    for w in &all {
        *per_node
            .entry(w["node"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    assert_eq!(per_node.len(), NODES, "every node got work: {per_node:?}");
    assert!(per_node.values().all(|n| *n <= 3), "{per_node:?}");

    // A controld restart: every node reconnects and resynchronises, and
    // nothing it runs is lost or restarted.
    controld.restart().expect("restart");
    let back = wait_for(Duration::from_secs(60), || {
        (ready_nodes(&admin) == NODES && running(&admin).len() == WORKLOADS).then_some(())
    });
    assert!(
        back.is_some(),
        "after the restart: {} nodes ready, {} workloads running",
        ready_nodes(&admin),
        running(&admin).len()
    );
}

/// Hollow-node chaos: 200 nodes under a churn of deploy / stop / start /
/// restart / rm while controld is SIGKILLed and restarted again and again;
/// afterwards every workload reaches its desired state, exactly one engine
/// holds each one's container, none holds a deleted one's, and nothing
/// acknowledged is lost or forgotten (`lattice_e2e::chaos`).
#[test]
fn two_hundred_hollow_nodes_converge_under_churn_while_controld_is_killed() {
    use lattice_e2e::chaos::{Driver, Engines, markdown};
    const FLEET: usize = 200;
    const KILLS: usize = 5;
    let (mut controld, admin, fleet) = hollow_cloud(FLEET);
    wait_for(Duration::from_secs(90), || {
        (ready_nodes(&admin) == FLEET).then_some(())
    })
    .expect("the fleet joins");
    let seed = fastrand::u64(..);
    let mut d = Driver::new(admin.clone(), 40, seed);
    d.engines = Engines::Hollow(fleet.engines.clone());
    d.deploy_flags = ["--image", "sim/app:1", "--cpu", "0.1", "--memory", "64Mi"]
        .map(str::to_string)
        .to_vec();
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..KILLS {
        d.churn_for(Duration::from_millis(rng.u64(1000..3000)));
        controld.crash_and_restart().expect("controld restarts");
    }
    d.churn_for(Duration::from_secs(2));
    let report = d.check("hollow chaos", vec![format!("{KILLS} × SIGKILL controld")]);
    let table = markdown(std::slice::from_ref(&report));
    assert!(report.violations.is_empty(), "seed {seed}:\n{table}");
    assert!(
        report.acked > 0 && report.workloads > 0,
        "seed {seed}:\n{table}"
    );
}
