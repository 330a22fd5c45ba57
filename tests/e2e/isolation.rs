//! One tenant cannot stall a node: a command run for the control plane
//! inside a workload (password rotation) is off the agent's control loop and
//! bounded in time, so heartbeats and other deploys go on while it waits.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lattice_e2e::Cluster;

fn psql_ok(url: &str) -> bool {
    Command::new("psql")
        .arg(url)
        .args(["-tAc", "select 1"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn a_rotate_blocked_by_the_users_own_lock_fails_cleanly_and_the_node_stays_ready() {
    let c = Cluster::start();
    let cli = &c.admin;
    cli.deploy("postgres", "db").wait().ok();
    let old = cli
        .run(&["access", "db", "--format", "url"], None)
        .ok()
        .stdout
        .trim()
        .to_string();
    let user = cli.run(&["access", "db", "-o", "json"], None).ok().json()["credentials"]["user"]
        .as_str()
        .expect("user")
        .to_string();
    // The owner holds a lock on their own role in an open transaction.
    let mut holder = Command::new("psql")
        .arg(&old)
        .args(["-v", "ON_ERROR_STOP=1", "-qtA"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql");
    let mut sql = holder.stdin.take().expect("stdin");
    writeln!(
        sql,
        "BEGIN; ALTER ROLE \"{user}\" CONNECTION LIMIT 50; SELECT 'locked';"
    )
    .expect("send");
    let mut out = BufReader::new(holder.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read");
    assert_eq!(line.trim(), "locked", "the lock is held");

    // Rotate in the background; meanwhile the node must stay ready (its
    // lease is 3 s here) and take another deploy.
    let rotating = {
        let cli = cli.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let r = cli.run(
                &["access", "db", "--rotate", "--yes", "--format", "url"],
                None,
            );
            (r, started.elapsed())
        })
    };
    let mut readiness = Vec::new();
    let deploy_started = Instant::now();
    cli.deploy_web("other");
    let deploy_took = deploy_started.elapsed();
    while !rotating.is_finished() {
        let nodes = cli.run(&["nodes", "-o", "json"], None).ok().json();
        readiness.push(nodes[0]["status"].as_str().unwrap_or("").to_string());
        std::thread::sleep(Duration::from_millis(300));
    }
    let (r, took) = rotating.join().expect("rotate thread");
    assert_ne!(
        r.code, 0,
        "the rotate cannot succeed while the role is locked"
    );
    assert!(
        r.stderr.contains("holds a lock on the role")
            && r.stderr.contains("old password still works"),
        "{}",
        r.stderr
    );
    assert!(
        took < Duration::from_secs(20),
        "the rotate gave up in {took:?}"
    );
    assert!(
        readiness.iter().all(|s| s == "ready"),
        "the node stayed ready throughout: {readiness:?}"
    );
    assert!(deploy_took < Duration::from_secs(30), "{deploy_took:?}");
    let db = cli.run(&["status", "db", "-o", "json"], None).ok().json();
    assert_eq!(db["status"], "running", "{db}");

    // The lock ends; the old password still works, and a rotate now succeeds.
    writeln!(sql, "ROLLBACK;").expect("send");
    drop(sql);
    let _ = holder.wait();
    assert!(psql_ok(&old), "the old password still works");
    let new = cli
        .run(
            &["access", "db", "--rotate", "--yes", "--format", "url"],
            None,
        )
        .ok()
        .stdout
        .trim()
        .to_string();
    assert_ne!(new, old);
    assert!(!psql_ok(&old), "the old password stopped working");
}

#[test]
fn concurrent_rotations_take_turns_and_never_lose_the_password() {
    let c = Cluster::start();
    let cli = &c.admin;
    cli.deploy("postgres", "db").wait().ok();
    let rotations: Vec<_> = (0..3)
        .map(|_| {
            let cli = cli.clone();
            std::thread::spawn(move || {
                cli.run(
                    &["access", "db", "--rotate", "--yes", "--format", "url"],
                    None,
                )
            })
        })
        .collect();
    let results: Vec<_> = rotations
        .into_iter()
        .map(|t| t.join().expect("rotate thread"))
        .collect();
    let ok: Vec<_> = results.iter().filter(|r| r.code == 0).collect();
    assert!(!ok.is_empty(), "one rotation goes through: {results:?}");
    for r in results.iter().filter(|r| r.code != 0) {
        // The others waited their turn, then found the container being
        // recreated with the new password: refused, not interleaved.
        assert!(r.stderr.contains("must be running"), "{}", r.stderr);
    }
    c.wait_status(cli, "db", "running", 120);
    // What `access` says now is what works; every earlier password does not.
    let now = cli
        .run(&["access", "db", "--format", "url"], None)
        .ok()
        .stdout
        .trim()
        .to_string();
    assert!(psql_ok(&now), "the stored password works");
    assert!(
        ok.iter().any(|r| r.stdout.trim() == now),
        "a rotation's password is the one stored"
    );
    // And the next rotation starts afresh.
    let next = cli
        .run(
            &["access", "db", "--rotate", "--yes", "--format", "url"],
            None,
        )
        .ok()
        .stdout
        .trim()
        .to_string();
    assert_ne!(next, now);
    c.wait_status(cli, "db", "running", 120);
    assert!(psql_ok(&next) && !psql_ok(&now));
}

#[test]
fn a_node_whose_lease_ran_out_on_a_live_stream_recovers_without_reconnecting() {
    let c = Cluster::processes();
    let cli = &c.admin;
    cli.deploy_web("web");
    let pid = c.agent.pid().expect("agent pid").to_string();
    // The agent freezes past its lease (3 s) while its connection stays up
    // (HTTP/2 keepalive allows 40 s): controld marks the workload lost.
    let signal = |sig: &str| {
        let ok = Command::new("kill")
            .args([sig, &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig}");
    };
    signal("-STOP");
    let lost = c.wait_status(cli, "web", "lost", 30);
    signal("-CONT");
    assert!(
        lost["message"]
            .as_str()
            .unwrap_or("")
            .contains("not been heard from")
    );
    // The next heartbeat brings it back: controld asks for every report again.
    let back = Instant::now();
    c.wait_status(cli, "web", "running", 30);
    assert!(
        back.elapsed() < Duration::from_secs(20),
        "{:?}",
        back.elapsed()
    );
    let nodes = cli.run(&["nodes", "-o", "json"], None).ok().json();
    assert_eq!(nodes[0]["status"], "ready", "{nodes}");
    let logs = c.agent.logs();
    assert_eq!(
        logs.matches("connected to the control plane").count(),
        1,
        "no reconnect was needed:\n{logs}"
    );
    assert!(
        c.controld
            .logs()
            .contains("asking the node for all its reports again")
    );
}
