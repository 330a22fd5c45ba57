//! A node's desired state never outgrows a message: 100 workloads with the
//! largest env and command a deploy allows (about 6 MiB of specs on one
//! node, more than tonic's 4 MiB default message) are served or refused by
//! the spec-size quota, the node stays ready throughout, and a restarted
//! agent gets the whole state back (in chunks) without recreating anything.

use std::collections::HashMap;
use std::time::Duration;

use lattice_e2e::{Cli, Cluster, wait_for};

/// 32,000 characters that differ per workload (nothing compresses them away).
fn padding(seed: usize) -> String {
    let mut x = seed as u64 * 2_654_435_761 + 1;
    (0..32_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect()
}

/// Deploys `large-N` for N in `range`: each with a 32 KB env value and a
/// 32 KB argument. Returns how many were served before the quota refused.
fn deploy_large(cli: &Cli, range: std::ops::Range<usize>) -> (usize, Vec<String>) {
    let mut served = 0;
    let mut refusals = Vec::new();
    for i in range {
        let env = format!("PAD={}", padding(i));
        let arg = padding(i + 1000);
        let r = cli
            .deploy("custom", &format!("large-{i}"))
            .web()
            .flags(&["--env", &env])
            .command(&["sh", "-c", "exec sleep 1000000", &arg])
            .run();
        match r.code {
            0 => served += 1,
            8 => refusals.push(r.stderr),
            other => panic!("deploy large-{i} exited {other}: {}", r.stderr),
        }
    }
    (served, refusals)
}

fn running_ids(cli: &Cli) -> HashMap<String, String> {
    let v = cli.run(&["ls", "-o", "json"], None).ok().json();
    v.as_array()
        .expect("array")
        .iter()
        .filter(|w| w["status"] == "running")
        .filter_map(|w| {
            Some((
                w["name"].as_str()?.to_string(),
                w["id"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// Ids of the running containers of a node, sorted.
fn running_containers(node_id: &str) -> Vec<String> {
    let filter = format!("label=lattice.node={node_id}");
    let mut ids: Vec<String> =
        lattice_e2e::docker(&["ps", "-q", "--no-trunc", "--filter", &filter])
            .lines()
            .map(str::to_string)
            .collect();
    ids.sort();
    ids
}

fn node_status(cli: &Cli) -> String {
    let v = cli.run(&["nodes", "-o", "json"], None).ok().json();
    v[0]["status"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_hundred_large_specs_on_one_node_are_served_or_refused_and_the_node_stays_ready() {
    let mut c = Cluster::start_full(
        &[],
        &[
            "--quota-workloads",
            "60",
            "--quota-spec-bytes",
            "3Mi",
            "--default-cpu",
            "0.1",
            "--default-memory",
            "32Mi",
        ],
    );
    let alice = c.admin.clone();
    let bob = c.user("bob@example.com");
    let (a_served, a_refused) = deploy_large(&alice, 0..50);
    assert_eq!(node_status(&alice), "ready");
    let (b_served, b_refused) = deploy_large(&bob, 50..100);
    // Each account fits about 40 such specs in 3 MiB; the rest are refused
    // by the spec-size quota, with the numbers.
    for (served, refused) in [(a_served, &a_refused), (b_served, &b_refused)] {
        assert!((30..50).contains(&served), "served {served}");
        assert_eq!(served + refused.len(), 50);
        let e = &refused[0];
        assert!(
            e.contains("quota exceeded: spec size") && e.contains("of 3072Ki"),
            "{e}"
        );
    }
    let served = a_served + b_served;

    let all_running = |cli: &Cli, n: usize| {
        wait_for(Duration::from_secs(180), || {
            assert_eq!(node_status(&alice), "ready", "the node must stay ready");
            let ids = running_ids(cli);
            (ids.len() == n).then_some(ids)
        })
    };
    let why = |cli: &Cli| {
        let ls = cli.run(&["ls", "-o", "json"], None).stdout;
        let log = c.controld.logs();
        let tail: String = log.lines().rev().take(60).collect::<Vec<_>>().join("\n");
        panic!(
            "not all running:\n{ls}\ncontrold (last lines, newest first):\n{tail}\nagent:\n{}",
            c.agent.logs()
        )
    };
    all_running(&alice, a_served).unwrap_or_else(|| why(&alice));
    all_running(&bob, b_served).unwrap_or_else(|| why(&bob));
    let containers_before = running_containers(&c.node_id);
    assert_eq!(containers_before.len(), served);

    // A restarted agent receives every spec again: more than one message's
    // worth, in chunks, and recreates nothing.
    c.agent.restart();
    wait_for(Duration::from_secs(60), || {
        c.agent
            .logs()
            .matches("connected to the control plane")
            .count()
            .eq(&2)
            .then_some(())
    })
    .unwrap_or_else(|| panic!("agent:\n{}", c.agent.logs()));
    all_running(&alice, a_served).expect("alice's workloads run on");
    all_running(&bob, b_served).expect("bob's workloads run on");
    let after = running_containers(&c.node_id);
    assert_eq!(
        containers_before, after,
        "no container was recreated or removed"
    );
    let log = c.agent.logs();
    assert!(!log.contains("dropped the desired state"), "{log}");
    assert!(!log.contains("message length too large"), "{log}");

    // A new deploy still reaches the node at once.
    bob.run(&["rm", "large-50", "--yes"], None).ok();
    bob.deploy_web("small");
}
