//! Kept data you can find: `rm` without `--purge` leaves the volume listed
//! by `lattice volumes ls`; a deploy of that name is told about it and
//! reattaches it with `--reuse-volume` (same data, the credentials it was
//! made with); `volumes rm` deletes it on the node.

use lattice_e2e::{Cluster, docker};

use crate::workloads_util::{access_url, psql};

fn volumes(c: &lattice_e2e::Cli) -> serde_json::Value {
    c.run(&["volumes", "ls", "-o", "json"], None).ok().json()
}

#[test]
fn a_removed_workloads_volume_is_listed_reattached_and_deleted() {
    let c = Cluster::start();
    let cli = &c.admin;
    let w = cli
        .deploy("postgres", "db")
        .wait()
        .flags(&["-o", "json"])
        .ok()
        .json();
    let id = w["id"].as_str().expect("id").to_string();
    let url = access_url(cli, "db");
    psql(
        &url,
        "create table t (v text); insert into t values ('survives rm')",
    );
    // What `rm` promises, `volumes ls` shows at once (while the node is
    // still removing the container), then as kept.
    let rm = cli.run(&["rm", "db"], None).ok();
    assert!(rm.stdout.contains("volumes ls"), "{}", rm.stdout);
    let v = volumes(cli);
    assert_eq!(v[0]["name"], "db", "listed as soon as rm answers: {v}");
    assert!(
        v[0]["state"] == "removing" || v[0]["state"] == "kept",
        "{v}"
    );
    let v = lattice_e2e::wait_for(std::time::Duration::from_secs(30), || {
        let v = volumes(cli);
        (v[0]["state"] == "kept").then_some(v)
    })
    .expect("kept once the node removed the container");
    assert_eq!(v[0]["name"], "db", "{v}");
    assert_eq!(v[0]["kind"], "postgres");
    assert!(!v[0]["node"].as_str().unwrap_or("").is_empty(), "{v}");
    let volume = format!("lattice-{id}-data");
    assert_eq!(
        docker(&["volume", "ls", "-q", "--filter", &format!("name={volume}")]),
        volume
    );
    let r = cli
        .run(&["rm", "db", "--purge", "--yes"], None)
        .fails_with(3);
    assert!(r.stderr.contains("lattice volumes rm db"), "{}", r.stderr);
    let table = cli.run(&["volumes"], None).ok();
    assert!(table.stdout.contains("--reuse-volume"), "{}", table.stdout);

    // A plain deploy of that name is told about the kept data, not handed
    // a fresh empty volume.
    let r = cli.deploy("postgres", "db").run().fails_with(1);
    assert!(
        r.stderr.contains("left a data volume behind") && r.stderr.contains("--reuse-volume"),
        "{}",
        r.stderr
    );
    assert_eq!(cli.run(&["ls", "-q"], None).ok().stdout.trim(), "");
    let r = cli
        .deploy("s3", "db")
        .flags(&["--reuse-volume"])
        .run()
        .fails_with(1);
    assert!(
        r.stderr.contains("postgres workload's data"),
        "{}",
        r.stderr
    );
    let r = cli
        .deploy("postgres", "nope")
        .flags(&["--reuse-volume"])
        .run()
        .fails_with(3);
    assert!(r.stderr.contains("no kept volume named"), "{}", r.stderr);

    // Reattached: the same data, the same credentials.
    let again = cli
        .deploy("postgres", "db")
        .wait()
        .flags(&["--reuse-volume", "-o", "json"])
        .ok()
        .json();
    assert_eq!(
        again["id"].as_str(),
        Some(id.as_str()),
        "the volume's workload id"
    );
    let url2 = access_url(cli, "db");
    let (old_pw, new_pw) = (password(&url), password(&url2));
    assert_eq!(old_pw, new_pw, "the data was made with these credentials");
    assert_eq!(psql(&url2, "select v from t"), "survives rm");
    assert_eq!(
        volumes(cli),
        serde_json::json!([]),
        "attached, no longer kept"
    );

    // Removed and deleted for good.
    cli.run(&["rm", "db", "--wait"], None).ok();
    let r = cli.run(&["volumes", "rm", "db"], None).fails_with(2);
    assert!(r.stderr.contains("pass --yes"), "{}", r.stderr);
    let r = cli
        .run(&["volumes", "rm", "dbb", "--yes"], None)
        .fails_with(3);
    assert!(r.stderr.contains("no kept volume named"), "{}", r.stderr);
    cli.run(&["volumes", "rm", "db", "--yes"], None).ok();
    assert_eq!(
        docker(&["volume", "ls", "-q", "--filter", &format!("name={volume}")]),
        ""
    );
    assert_eq!(volumes(cli), serde_json::json!([]));
    // Now a plain deploy is a fresh start.
    cli.deploy("postgres", "db").wait().ok();
    let fresh = access_url(cli, "db");
    assert_ne!(password(&fresh), old_pw);
    // Another user sees none of it.
    let bob = c.user("bob@example.com");
    assert_eq!(volumes(&bob), serde_json::json!([]));
    let r = bob
        .run(&["volumes", "rm", "db", "--yes"], None)
        .fails_with(3);
    assert!(r.stderr.contains("no kept volume"), "{}", r.stderr);
}

#[test]
fn a_kept_volume_on_a_node_that_is_away_waits_for_it_then_runs_with_its_data() {
    let mut c = Cluster::processes();
    let cli = c.admin.clone();
    cli.deploy("custom", "files")
        .web()
        .port(80)
        .wait()
        .flags(&["--volume", "/srv"])
        .ok();
    cli.run(
        &[
            "exec",
            "files",
            "--",
            "sh",
            "-c",
            "echo kept-data > /srv/proof",
        ],
        None,
    )
    .ok();
    cli.run(&["rm", "files", "--wait"], None).ok();
    c.agent.stop();
    let r = cli
        .run(&["volumes", "rm", "files", "--yes"], None)
        .fails_with(9);
    assert!(
        r.stderr.contains("not connected") && r.stderr.contains("--forget"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("Lattice server"),
        "a node's fault, not the server's: {}",
        r.stderr
    );

    // The deploy is accepted and waits for the node; `--wait` says what it
    // waits for and returns once the workload runs.
    let waiter = {
        let cli = cli.clone();
        std::thread::spawn(move || {
            cli.deploy("custom", "files")
                .web()
                .port(80)
                .flags(&["--volume", "/srv", "--reuse-volume", "--timeout", "180s"])
                .wait()
                .run()
        })
    };
    let st = c.wait_status(&cli, "files", "pending", 30);
    assert!(st["node"].as_str().is_some_and(|n| !n.is_empty()), "{st:#}");
    // Past the node's lease (3 s here) it still waits: it is not `lost`.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let st = c.wait_status(&cli, "files", "pending", 10);
    let why = st["message"].as_str().unwrap_or_default().to_string();
    assert!(
        why.contains("waiting for node") && why.contains("kept volume lives"),
        "{st:#}"
    );
    c.agent.restart();
    let waited = waiter.join().expect("waiter").ok();
    assert!(
        waited.stderr.contains("kept volume lives"),
        "{}",
        waited.stderr
    );
    c.wait_status(&cli, "files", "running", 60);
    let proof = cli
        .run(&["exec", "files", "--", "cat", "/srv/proof"], None)
        .ok();
    assert_eq!(proof.stdout.trim(), "kept-data", "the old data: {proof:?}");

    // A kept volume whose node is away can still be forgotten.
    cli.run(&["rm", "files", "--wait"], None).ok();
    c.agent.stop();
    cli.run(&["volumes", "rm", "files", "--forget", "--yes"], None)
        .ok();
    assert_eq!(volumes(&cli), serde_json::json!([]));
    c.agent.restart();
}

/// The password in a postgres:// URL.
fn password(url: &str) -> String {
    url.split("://")
        .nth(1)
        .and_then(|r| r.split('@').next())
        .and_then(|c| c.split(':').nth(1))
        .unwrap_or_default()
        .to_string()
}
