//! Every path that stops or replaces a container shuts it down cleanly, and
//! a ready workload whose container keeps exiting is shown as crash-looping.

use std::time::{Duration, Instant};

use lattice_e2e::{Cli, Cluster, docker, wait_for};

fn id_of(cli: &Cli, name: &str) -> String {
    cli.run(&["status", name, "-o", "json"], None).ok().json()["id"]
        .as_str()
        .expect("id")
        .to_string()
}

/// Docker's exit codes of a workload's containers since `since` (Unix s),
/// from the engine's own `die` events.
fn exit_codes(workload_id: &str, since: u64) -> Vec<String> {
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() + 1)
        .unwrap_or(0);
    docker(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until.to_string(),
        "--filter",
        &format!("label=lattice.workload={workload_id}"),
        "--filter",
        "event=die",
        "--format",
        "{{index .Actor.Attributes \"exitCode\"}}",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Waits until the workload's containers have died `n` times since `since`.
#[track_caller]
fn wait_exits(id: &str, since: u64, n: usize) -> Vec<String> {
    wait_for(Duration::from_secs(40), || {
        let codes = exit_codes(id, since);
        (codes.len() >= n).then_some(codes)
    })
    .unwrap_or_else(|| panic!("expected {n} exits, saw {:?}", exit_codes(id, since)))
}

/// A workload that traps SIGTERM and exits 42 on it: exit code 42 proves it
/// got TERM and shut down by itself; 137 would be a kill.
#[test]
fn every_path_that_replaces_or_stops_a_container_sends_term_first() {
    let c = Cluster::start();
    let cli = &c.admin;
    cli.deploy_sh(
        "term",
        &["--stop-timeout", "30s"],
        "trap 'echo got TERM; exit 42' TERM; echo up; while true; do sleep 0.1; done",
    );
    let id = id_of(cli, "term");
    let since = now_secs().saturating_sub(1);
    let spec = docker(&[
        "inspect",
        "--format",
        "{{.Config.StopTimeout}}",
        &format!("lattice-{id}"),
    ]);
    assert_eq!(spec, "30", "the grace period reaches Docker");

    cli.run(&["restart", "term", "--wait"], None).ok();
    assert_eq!(wait_exits(&id, since, 1), ["42"], "restart");
    cli.run(&["stop", "term", "--wait"], None).ok();
    assert_eq!(wait_exits(&id, since, 2), ["42", "42"], "stop");
    cli.run(&["start", "term", "--wait"], None).ok();
    cli.run(&["rm", "term", "--yes", "--wait"], None).ok();
    assert_eq!(wait_exits(&id, since, 3), ["42", "42", "42"], "rm");

    // Out-of-range grace periods are refused before anything is created.
    let r = cli
        .deploy("custom", "x")
        .web()
        .flags(&["--stop-timeout", "5m"])
        .run()
        .fails_with(2);
    assert!(r.stderr.contains("stop-timeout"), "{}", r.stderr);
}

/// Postgres is shut down cleanly by restart and by credential rotation: the
/// next start finds a cleanly shut down cluster, never a crash recovery.
#[test]
fn postgres_restart_and_rotate_shut_down_cleanly() {
    let c = Cluster::start();
    let cli = &c.admin;
    cli.deploy("postgres", "pg").wait().run().ok();
    let id = id_of(cli, "pg");
    let since = now_secs().saturating_sub(1);
    let clean = |what: &str| {
        let logs = wait_for(Duration::from_secs(30), || {
            let l = cli.run(&["logs", "pg"], None).ok().stdout;
            l.contains("database system is ready to accept connections")
                .then_some(l)
        })
        .unwrap_or_default();
        assert!(!logs.contains("not properly shut down"), "{what}: {logs}");
        assert!(!logs.contains("automatic recovery"), "{what}: {logs}");
        assert!(
            logs.contains("database system was shut down at"),
            "{what}: {logs}"
        );
    };
    cli.run(&["restart", "pg", "--wait"], None).ok();
    assert_eq!(wait_exits(&id, since, 1), ["0"], "restart");
    clean("restart");
    cli.run(&["access", "pg", "--rotate", "--yes"], None).ok();
    c.wait_status(cli, "pg", "running", 60);
    assert_eq!(wait_exits(&id, since, 2), ["0", "0"], "rotate");
    clean("rotate");
}

/// The example: ready after 2 s, then exits with 2 every few
/// seconds. It must be shown crash-looping with its restarts and exit code,
/// an event for each exit, and never `running` while it loops.
#[test]
fn a_crash_loop_is_reported_with_restarts_exit_codes_and_events() {
    let c = Cluster::start();
    let cli = &c.admin;
    cli.deploy_sh("later", &[], "echo up; sleep 5; exit 2");
    let looping = c.wait_status(cli, "later", "crash-looping", 30);
    assert!(looping["restarts"].as_u64().unwrap_or(0) >= 1, "{looping}");
    assert_eq!(looping["last_exit_code"], 2, "{looping}");
    assert!(
        looping["message"]
            .as_str()
            .unwrap_or("")
            .contains("exited with code 2"),
        "{looping}"
    );
    assert!(
        looping["last_log_lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "up"),
        "{looping}"
    );
    // It never passes for running while it loops.
    let watch_until = Instant::now() + Duration::from_secs(12);
    let mut restarts_seen = 0;
    while Instant::now() < watch_until {
        let v = cli
            .run(&["status", "later", "-o", "json"], None)
            .ok()
            .json();
        assert_eq!(v["status"], "crash-looping", "{v}");
        restarts_seen = v["restarts"].as_u64().unwrap_or(0);
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        restarts_seen >= 2,
        "Docker kept restarting it: {restarts_seen}"
    );
    let v = cli
        .run(&["status", "later", "-o", "json"], None)
        .ok()
        .json();
    let exits: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["message"].as_str())
        .filter(|m| m.starts_with("the container exited with code 2 (restart "))
        .collect();
    assert!(exits.len() >= 2, "one event per exit: {v}");
    assert!(
        exits.iter().all(|m| m.contains("last lines: up")),
        "{exits:?}"
    );
    let ls = cli.run(&["ls", "-o", "json"], None).ok().json();
    assert_eq!(ls[0]["status"], "crash-looping", "{ls}");
    assert!(ls[0]["restarts"].as_u64().unwrap_or(0) >= 2, "{ls}");
    let human = cli.run(&["ls"], None).ok().stdout;
    assert!(
        human.contains("crash-looping") && human.contains("last exit code 2"),
        "{human}"
    );
}

/// A container that crashes once and then stays up is crash-looping only
/// until it has been up for 10 s, then running again, restarts remembered.
#[test]
fn a_single_crash_recovers_to_running_with_the_restart_counted() {
    let c = Cluster::start();
    let cli = &c.admin;
    cli.deploy_sh(
        "once",
        &["--volume", "/data"],
        "if [ -f /data/crashed ]; then echo steady; exec sleep 100000; fi; \
             touch /data/crashed; echo first; sleep 5; exit 3",
    );
    c.wait_status(cli, "once", "crash-looping", 30);
    let v = c.wait_status(cli, "once", "running", 40);
    assert_eq!(v["restarts"], 1, "{v}");
    assert_eq!(v["last_exit_code"], 3, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or("")
            .contains("restarted once"),
        "{v}"
    );
}

/// An acknowledged delete is never undone: while a workload is being
/// deleted (here: it ignores SIGTERM, so its stop takes the grace period),
/// start, restart and stop are refused and it goes. `make chaos` found a
/// start during a slow delete bringing the workload back.
#[test]
fn a_workload_being_deleted_cannot_be_started_again() {
    let c = Cluster::start();
    let cli = &c.admin;
    cli.deploy_sh(
        "slow",
        &["--stop-timeout", "20s"],
        "trap '' TERM; echo up; while true; do sleep 0.1; done",
    );
    cli.run(&["rm", "slow", "--yes"], None).ok();
    for verb in ["start", "restart", "stop"] {
        let r = cli.run(&[verb, "slow"], None).fails_with(1);
        assert!(
            r.stderr.contains("is being deleted"),
            "{verb}: {}",
            r.stderr
        );
    }
    let st = cli.run(&["status", "slow", "-o", "json"], None).ok().json();
    assert_eq!(st["desired"], "deleted", "{st}");
    wait_for(Duration::from_secs(60), || {
        (cli.run(&["status", "slow"], None).code == 3).then_some(())
    })
    .expect("the workload goes");
}
