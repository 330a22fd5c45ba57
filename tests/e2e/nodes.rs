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
