//! An edge port let go by a deleted workload rests before another account
//! gets it: a client still holding the old address must not reach a
//! stranger's workload. Its owner may have it back at once.

use std::time::Duration;

use lattice_e2e::{Cli, Cluster, wait_for};

fn public_port(cli: &Cli, name: &str) -> String {
    let url = cli
        .run(&["access", name, "--format", "endpoint"], None)
        .ok()
        .stdout
        .trim()
        .to_string();
    url.rsplit(':').next().expect("port").to_string()
}

#[test]
fn a_released_edge_port_is_quarantined_from_other_accounts() {
    let range = lattice_e2e::edge_range(1);
    let c = Cluster::start_full(
        &[],
        &["--edge-ports", &range, "--edge-port-quarantine", "5s"],
    );
    let alice = &c.admin;
    let bob = c.user("bob@example.com");
    alice.deploy_web("site");
    let port = public_port(alice, "site");
    alice.run(&["rm", "site", "--wait"], None).ok();

    // Bob is refused while the port rests, with the reason.
    let r = bob
        .deploy("custom", "mine")
        .web()
        .port(80)
        .run()
        .fails_with(1);
    assert!(
        r.stderr.contains("no free public edge port") && r.stderr.contains("rest for 5s"),
        "{}",
        r.stderr
    );
    assert!(
        bob.run(&["ls", "-o", "json"], None)
            .ok()
            .json()
            .as_array()
            .is_some_and(Vec::is_empty),
        "nothing was created"
    );

    // Alice may take it back at once; then let it go again.
    alice.deploy_web("again");
    assert_eq!(public_port(alice, "again"), port);
    alice.run(&["rm", "again", "--wait"], None).ok();

    // After the quarantine Bob gets it.
    let placed = wait_for(Duration::from_secs(20), || {
        let r = bob.deploy("custom", "mine").web().port(80).wait().run();
        (r.code == 0).then_some(())
    });
    assert!(
        placed.is_some(),
        "the port is handed out after its quarantine"
    );
    assert_eq!(public_port(&bob, "mine"), port);
}
