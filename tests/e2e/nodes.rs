//! What `lattice nodes` shows agrees with what the scheduler believes.

use std::time::Duration;

use lattice_e2e::{Cluster, wait_for};

/// After both daemons crash, controld comes back alone: the node must show
/// `unreachable` at once (not `ready` until its old lease runs out), and a
/// deploy meanwhile is accepted as `pending` saying why (not refused: nodes
/// come and go). Once the agent is back, both agree it is ready and every
/// waiting workload is placed and runs.
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
        let r = cli.deploy("custom", &format!("w{i}")).web().run().ok();
        assert!(r.stdout.contains("waits for a node"), "{}", r.stdout);
        assert!(r.stdout.contains("not connected"), "{}", r.stdout);
    }
    // --wait waits through `pending`, and --timeout bounds it.
    let r = cli
        .deploy("custom", "bounded")
        .web()
        .flags(&["--wait", "--timeout", "2s"])
        .run()
        .fails_with(5);
    assert!(
        r.stderr.contains("is still pending (waiting for a node"),
        "{}",
        r.stderr
    );
    let ls = cli.run(&["ls", "-o", "json"], None).ok().json();
    for w in ls.as_array().expect("a list") {
        assert_eq!(w["status"], "pending", "{ls}");
        assert_eq!(w["node"], "", "{ls}");
    }
    c.agent.restart();
    wait_for(Duration::from_secs(30), || {
        let nodes = cli.run(&["nodes", "-o", "json"], None).json();
        (nodes[0]["status"] == "ready").then_some(())
    })
    .expect("the node is ready once its agent reconnects");
    for i in 0..5 {
        c.wait_status(&cli, &format!("w{i}"), "running", 60);
    }
    c.wait_status(&cli, "bounded", "running", 60);
    cli.deploy_web("after");
}

/// Removing a node revokes its identity at once: its live stream ends, its
/// secret no longer connects, and the workloads placed there are lost.
#[test]
fn a_removed_node_is_cut_off_and_its_workloads_are_lost() {
    let c = Cluster::processes();
    let cli = &c.admin;
    cli.deploy_web("web");
    cli.deploy("custom", "keep")
        .web()
        .flags(&["--volume", "/data", "--wait"])
        .ok();
    let name = cli.run(&["nodes", "-o", "json"], None).ok().json()[0]["name"]
        .as_str()
        .expect("name")
        .to_string();
    let r = cli
        .run(&["nodes", "rm", &name, "--yes"], None)
        .fails_with(1);
    assert!(r.stderr.contains("still has 2 workload"), "{}", r.stderr);
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
    assert_eq!(done["workloads_lost"], 2, "{done}");
    // Stateless: waits for another node by itself.
    let web = cli.run(&["status", "web", "-o", "json"], None).ok().json();
    assert_eq!(web["status"], "pending", "{web}");
    let msg = web["message"].as_str().unwrap_or("");
    assert!(
        msg.contains("was removed; waiting for another node"),
        "{web}"
    );
    // Its data was on that node: lost, saying what the owner can do.
    let keep = cli.run(&["status", "keep", "-o", "json"], None).ok().json();
    assert_eq!(keep["status"], "lost", "{keep}");
    let msg = keep["message"].as_str().unwrap_or("");
    assert!(
        msg.contains("was removed") && msg.contains("lattice restore"),
        "{keep}"
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

fn node_secret(dir: &std::path::Path) -> String {
    let raw = std::fs::read_to_string(dir.join("node.json")).expect("node.json");
    let v: serde_json::Value = serde_json::from_str(&raw).expect("json");
    v["node_secret"].as_str().expect("secret").to_string()
}

/// A node's secret rotates in place: the agent saves the new one and keeps
/// serving (logs, deploys) on it, the old one opens nothing any more (a copy
/// of the old identity is refused), a restarted agent uses the new one, and
/// neither secret is logged. A node that is not connected cannot rotate.
#[test]
fn a_node_secret_rotates_in_place_and_the_old_one_stops_working() {
    let mut c = Cluster::processes();
    let cli = c.admin.clone();
    cli.deploy_sh("ticker", &[], "while true; do echo tick; sleep 1; done")
        .ok();
    let name = cli.run(&["nodes", "-o", "json"], None).ok().json()[0]["name"]
        .as_str()
        .expect("name")
        .to_string();
    let old = node_secret(&c.agent.data_dir);
    let stolen = c.agent.data_dir.with_file_name("stolen");
    std::fs::create_dir_all(&stolen).expect("dir");
    std::fs::copy(c.agent.data_dir.join("node.json"), stolen.join("node.json")).expect("copy");

    // Only an admin rotates.
    let bob = c.user("bob@example.com");
    bob.run(&["nodes", "rotate-secret", &name], None)
        .fails_with(4);
    let r = cli
        .run(&["nodes", "rotate-secret", &name, "-o", "json"], None)
        .ok()
        .json();
    assert_eq!(r["rotated"], true, "{r}");
    let new = node_secret(&c.agent.data_dir);
    assert_ne!(old, new, "the agent saved a new secret");

    // The agent works on: a log read opens a stream with the new secret,
    // a deploy reaches the node.
    let logs = cli.run(&["logs", "ticker", "--tail", "1"], None).ok();
    assert!(logs.stdout.contains("tick"), "{}", logs.stdout);
    cli.deploy_web("after-rotation");
    let nodes = cli.run(&["nodes", "-o", "json"], None).ok().json();
    assert_eq!(nodes[0]["status"], "ready", "{nodes}");

    // The old secret, as a thief would use it, is refused.
    let mut thief = lattice_e2e::Agentd::start(&stolen, &c.controld.url(), None, &[]);
    let refused = wait_for(Duration::from_secs(20), || {
        thief
            .logs()
            .contains("unknown node credentials")
            .then_some(())
    });
    assert!(refused.is_some(), "thief:\n{}", thief.logs());
    thief.stop();

    // A restarted agent comes back with the new secret.
    c.agent.restart();
    wait_for(Duration::from_secs(30), || {
        let nodes = cli.run(&["nodes", "-o", "json"], None).json();
        (nodes[0]["status"] == "ready").then_some(())
    })
    .unwrap_or_else(|| panic!("agent:\n{}", c.agent.logs()));
    c.wait_status(&cli, "ticker", "running", 30);

    // No connected agent, no rotation: the secret it holds keeps working.
    c.agent.kill9();
    wait_for(Duration::from_secs(20), || {
        let nodes = cli.run(&["nodes", "-o", "json"], None).json();
        (nodes[0]["status"] == "unreachable").then_some(())
    })
    .expect("the node goes unreachable");
    let r = cli
        .run(&["nodes", "rotate-secret", &name], None)
        .fails_with(1);
    assert!(r.stderr.contains("is not connected"), "{}", r.stderr);
    assert_eq!(node_secret(&c.agent.data_dir), new);

    let audit = cli
        .run(
            &["audit", "--action", "nodes.rotate-secret", "-o", "json"],
            None,
        )
        .ok()
        .json();
    let outcomes: Vec<&str> = audit
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["outcome"].as_str())
        .collect();
    assert_eq!(outcomes.len(), 3, "{audit}");
    assert!(
        outcomes.contains(&"ok") && outcomes.contains(&"denied"),
        "{audit}"
    );
    for (who, log) in [("controld", c.controld.logs()), ("agentd", c.agent.logs())] {
        assert!(
            !log.contains(&old) && !log.contains(&new),
            "{who} logged a node secret"
        );
    }
}
