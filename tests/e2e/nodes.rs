//! What `lattice nodes` shows agrees with what the scheduler believes.

use std::time::Duration;

use lattice_e2e::{Cluster, wait_for};

/// After both daemons crash, controld comes back alone: the node must show
/// `unreachable` at once (not `ready` until its old lease runs out) and
/// deploys must say why they are refused; once the agent is back, both agree
/// it is ready.
#[test]
fn after_a_control_plane_crash_nodes_and_the_scheduler_agree() {
    let mut c = Cluster::processes();
    let cli = c.admin.clone();
    c.agent.kill9();
    c.controld.crash_and_restart().expect("controld restarts");
    for i in 0..5 {
        let nodes = cli.run(&["nodes", "-o", "json"], None).ok().json();
        assert_eq!(nodes[0]["status"], "unreachable", "round {i}: {nodes}");
        let msg = nodes[0]["message"].as_str().unwrap_or_default();
        assert!(msg.contains("agent is not connected"), "{nodes}");
        let r = cli
            .deploy("custom", &format!("w{i}"))
            .web()
            .run()
            .fails_with(1);
        assert!(r.stderr.contains("not connected"), "{}", r.stderr);
    }
    c.agent.restart();
    wait_for(Duration::from_secs(30), || {
        let nodes = cli.run(&["nodes", "-o", "json"], None).json();
        (nodes[0]["status"] == "ready").then_some(())
    })
    .expect("the node is ready once its agent reconnects");
    cli.deploy_web("after");
}

/// Removing a node revokes its identity at once: its live stream ends, its
/// secret no longer connects, and the workloads placed there are lost.
#[test]
fn a_removed_node_is_cut_off_and_its_workloads_are_lost() {
    let c = Cluster::processes();
    let cli = &c.admin;
    cli.deploy_web("web");
    let name = cli.run(&["nodes", "-o", "json"], None).ok().json()[0]["name"]
        .as_str()
        .expect("name")
        .to_string();
    let r = cli
        .run(&["nodes", "rm", &name, "--yes"], None)
        .fails_with(1);
    assert!(r.stderr.contains("still has 1 workload"), "{}", r.stderr);
    let bob = c.user("bob@example.com");
    bob.run(&["nodes", "rm", &name, "--yes", "--force"], None)
        .fails_with(4);
    let done = cli
        .run(
            &["nodes", "rm", &name, "--yes", "--force", "-o", "json"],
            None,
        )
        .ok()
        .json();
    assert_eq!(done["workloads_lost"], 1, "{done}");
    let web = cli.run(&["status", "web", "-o", "json"], None).ok().json();
    assert_eq!(web["status"], "lost", "{web}");
    assert!(
        web["message"]
            .as_str()
            .unwrap_or("")
            .contains("was removed"),
        "{web}"
    );
    let nodes = cli.run(&["nodes", "-o", "json"], None).ok().json();
    assert_eq!(nodes.as_array().map(Vec::len), Some(0), "{nodes}");
    // The agent's stream ended and its secret opens no new one.
    let refused = wait_for(Duration::from_secs(20), || {
        c.agent
            .logs()
            .contains("unknown node credentials")
            .then_some(())
    });
    assert!(refused.is_some(), "agent:\n{}", c.agent.logs());
    // The lost workload can still be removed by its owner.
    cli.run(&["rm", "web"], None).ok();
    let audit = cli
        .run(&["audit", "--action", "nodes.rm", "-o", "json"], None)
        .ok()
        .json();
    // The refusal, the denied attempt by a user and the removal.
    assert_eq!(audit.as_array().map(Vec::len), Some(3), "{audit}");
}
