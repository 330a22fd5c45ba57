//! A container is Lattice's only when its labels say so: one that another
//! node made, or someone made by hand, under a workload's container name is
//! never adopted, stopped or removed; and agents that share one Docker
//! Engine make an owner's network at the same time without failing.

use lattice_agentd::docker::{Docker, Isolation};
use lattice_e2e::{Cli, Cluster, docker};
use lattice_proto::v1;

fn id_of(cli: &Cli, name: &str) -> String {
    cli.run(&["status", name, "-o", "json"], None).ok().json()["id"]
        .as_str()
        .expect("id")
        .to_string()
}

/// A container that sleeps, under `name`, with these labels; its id.
fn squat(name: &str, labels: &[&str]) -> String {
    let mut args = vec!["run", "-d", "--name", name];
    for l in labels {
        args.extend(["--label", l]);
    }
    args.extend(["lattice-local/web:latest", "sleep", "600"]);
    let id = docker(&args);
    assert!(!id.is_empty(), "docker run {name}");
    id
}

fn running(container: &str) -> bool {
    docker(&["inspect", "--format", "{{.State.Running}}", container]) == "true"
}

/// Removes containers (then networks) however the test ends.
#[derive(Default)]
struct Squatters(Vec<String>, Vec<String>);

impl Drop for Squatters {
    fn drop(&mut self) {
        for s in &self.0 {
            docker(&["rm", "-f", s]);
        }
        for n in &self.1 {
            docker(&["network", "rm", n]);
        }
    }
}

#[test]
fn containers_that_are_not_this_nodes_are_left_alone() {
    let c = Cluster::start();
    let cli = &c.admin;
    cli.deploy_web("site");
    cli.deploy_web("blog");
    let site = id_of(cli, "site");
    let blog = id_of(cli, "blog");
    let (site_usual, blog_usual) = (format!("lattice-{site}"), format!("lattice-{blog}"));

    // Under each usual name, someone else's container: one another node
    // made (labelled as that node's), one made by hand (no labels).
    docker(&["rm", "-f", &site_usual, &blog_usual]);
    let _guard = Squatters(vec![site_usual.clone(), blog_usual.clone()], Vec::new());
    let other_node = squat(
        &site_usual,
        &[
            "lattice.node=some-other-node",
            &format!("lattice.workload={site}"),
        ],
    );
    let by_hand = squat(&blog_usual, &[]);

    for (name, why) in [
        ("site", "belongs to another Lattice node (some-other-node)"),
        ("blog", "that Lattice did not make"),
    ] {
        cli.run(&["restart", name, "--wait"], None).ok();
        let st = c.wait_status(cli, name, "running", 60);
        let events = st["events"].as_array().expect("events").clone();
        assert!(
            events
                .iter()
                .any(|e| e["message"].as_str().is_some_and(|m| m.contains(why)
                    && m.contains("left alone")
                    && m.contains("this workload runs as lattice-"))),
            "{name}: the conflict is an event: {events:#?}"
        );
    }
    // Theirs run on, untouched (the same containers); ours run beside them
    // under this node's second name.
    assert_eq!(
        docker(&["inspect", "--format", "{{.Id}}", &site_usual]),
        other_node
    );
    assert_eq!(
        docker(&["inspect", "--format", "{{.Id}}", &blog_usual]),
        by_hand
    );
    assert!(running(&site_usual) && running(&blog_usual));
    let ours = docker(&[
        "ps",
        "--format",
        "{{.Names}}",
        "--filter",
        &format!("label=lattice.node={}", c.node_id),
        "--filter",
        &format!("label=lattice.workload={site}"),
    ]);
    assert!(
        ours.starts_with(&format!("{site_usual}-n")) && !ours.contains('\n'),
        "one container of ours, under the second name: {ours:?}"
    );

    // Exec, logs and the edge reach ours, never theirs.
    let host = cli.run(&["exec", "site", "--", "hostname"], None).ok();
    assert!(
        docker(&["inspect", "--format", "{{.Id}}", &ours]).starts_with(host.stdout.trim()),
        "exec ran in {:?}, not in our container {ours}",
        host.stdout
    );
    cli.run(&["logs", "site", "--tail", "5"], None).ok();

    // Stop and remove ours: theirs stay.
    cli.run(&["stop", "site", "blog", "--wait"], None).ok();
    assert!(running(&site_usual) && running(&blog_usual));
    cli.run(&["rm", "site", "--purge", "--yes", "--wait"], None)
        .ok();
    cli.run(&["rm", "blog", "--purge", "--yes", "--wait"], None)
        .ok();
    assert!(running(&site_usual) && running(&blog_usual), "left alone");
    assert!(docker(&["ps", "-aq", "--filter", &format!("name={ours}")]).is_empty());
}

/// Agents on one engine that create an owner's network at the same moment
/// all succeed: the losers of the race use the winner's network.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_sharing_an_engine_race_to_make_an_owners_network() {
    lattice_e2e::require_images();
    let isolation = Isolation {
        host_firewall: false,
        ..Isolation::default()
    };
    // Each agent has its own client, and so its own lock.
    let mut agents = Vec::new();
    for _ in 0..8 {
        agents.push(Docker::connect(isolation).await.expect("docker"));
    }
    let run = uuid::Uuid::new_v4().to_string();
    let owners: Vec<String> = (0..4).map(|round| format!("race-{run}-{round}")).collect();
    let mut made = Squatters::default();
    made.1 = owners
        .iter()
        .map(|o| lattice_agentd::docker::network::network_name(o))
        .collect();
    for owner in &owners {
        let mut tasks = Vec::new();
        for (i, d) in agents.iter().enumerate() {
            let (d, owner) = (d.clone(), owner.clone());
            let wid = uuid::Uuid::new_v4().to_string();
            let node = format!("race-node-{i}");
            let name = lattice_agentd::docker::container_name(&wid);
            made.0.push(name.clone());
            tasks.push(tokio::spawn(async move {
                let spec = v1::ContainerSpec {
                    workload_id: wid,
                    owner,
                    name: "race".into(),
                    image: "lattice-local/web:latest".into(),
                    spec_hash: "h".into(),
                    ..Default::default()
                };
                d.create(&name, &spec, &node).await
            }));
        }
        for t in tasks {
            t.await
                .expect("task")
                .expect("every racer's create succeeds");
        }
    }
}
