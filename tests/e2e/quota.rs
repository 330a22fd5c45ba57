//! Per-account quotas and default limits: a refused request names the
//! quota, the use and the request (exit code 8) and creates nothing; a
//! workload deployed without limits runs with the server's defaults; one
//! client address cannot hold every relayed connection.

use std::io::Read;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use lattice_e2e::{Cli, Cluster, docker, wait_for};

fn names(cli: &Cli) -> Vec<String> {
    let v = cli.run(&["ls", "-o", "json"], None).ok().json();
    v.as_array()
        .expect("array")
        .iter()
        .filter_map(|w| w["name"].as_str().map(str::to_string))
        .collect()
}

/// Runs `lattice ARGS`; its output if it ended within `limit`, else None
/// (then it is killed).
fn exits_within(cli: &Cli, args: &[&str], limit: Duration) -> Option<std::process::Output> {
    let mut child = cli
        .command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lattice");
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().ok();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn follow(cli: &Cli, name: &str) -> Child {
    cli.command(&["logs", "-f", name])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("logs -f")
}

#[test]
fn quotas_refuse_with_the_numbers_and_defaults_limit_containers() {
    let c = Cluster::start_full(
        &[],
        &[
            "--quota-workloads",
            "3",
            "--quota-cpu",
            "1.5",
            "--quota-edge-ports",
            "2",
            "--quota-streams",
            "2",
            "--default-cpu",
            "1",
            "--default-memory",
            "256Mi",
        ],
    );
    let cli = &c.admin;

    // No limits asked: the defaults apply, shown as such and set in Docker.
    cli.deploy_web("a");
    let a = cli.run(&["status", "a", "-o", "json"], None).ok().json();
    assert_eq!(a["limits"]["cpu"], 1.0, "{a}");
    assert_eq!(a["limits"]["memory_bytes"], 256 * 1024 * 1024, "{a}");
    assert!(a["cpu"].is_null(), "nothing was asked for: {a}");
    let text = cli.run(&["status", "a"], None).ok().stdout;
    assert!(text.contains("1 CPU (default)"), "{text}");
    let id = a["id"].as_str().expect("id");
    let limits = docker(&[
        "inspect",
        "--format",
        "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}",
        &format!("lattice-{id}"),
    ]);
    assert_eq!(limits, format!("1000000000 {}", 256 * 1024 * 1024));

    // CPU: 1 used of 1.5; asking for 1 more is refused, naming the numbers.
    let r = cli
        .deploy("custom", "b")
        .web()
        .port(80)
        .cpu("1")
        .run()
        .fails_with(8);
    assert!(
        r.stderr.contains("quota exceeded: CPU")
            && r.stderr.contains("you use 1 of 1.50")
            && r.stderr.contains("needs 1 more"),
        "{}",
        r.stderr
    );
    assert_eq!(names(cli), ["a"], "nothing was created");
    let j = cli
        .deploy("custom", "b")
        .web()
        .port(80)
        .cpu("1")
        .flags(&["-o", "json"])
        .run()
        .fails_with(8);
    let e: serde_json::Value = serde_json::from_str(j.stderr.trim()).expect("JSON error");
    assert_eq!(e["error"]["kind"], "quota", "{e}");
    assert_eq!(e["error"]["exit_code"], 8, "{e}");

    // Within the CPU quota it is placed; then public ports run out.
    cli.deploy("custom", "b")
        .web()
        .port(80)
        .cpu("0.25")
        .wait()
        .ok();
    let r = cli
        .deploy("custom", "c")
        .web()
        .port(80)
        .cpu("0.1")
        .run()
        .fails_with(8);
    assert!(
        r.stderr.contains("public ports") && r.stderr.contains("2 of 2"),
        "{}",
        r.stderr
    );
    // A workload without ports needs none; then the count is reached.
    cli.deploy("custom", "c").web().cpu("0.1").run().ok();
    let r = cli
        .deploy("custom", "d")
        .web()
        .cpu("0.1")
        .run()
        .fails_with(8);
    assert!(
        r.stderr.contains("workloads") && r.stderr.contains("3 of 3"),
        "{}",
        r.stderr
    );

    // Streams: two `logs -f` are open, a third stream is refused until one ends.
    // A follower refused (it raced the probe for a slot) is started again,
    // so the probe is refused once both followers hold theirs.
    let mut followers = [follow(cli, "a"), follow(cli, "b")];
    let refused = wait_for(Duration::from_secs(30), || {
        for (f, name) in followers.iter_mut().zip(["a", "b"]) {
            if !matches!(f.try_wait(), Ok(None)) {
                *f = follow(cli, name);
            }
        }
        std::thread::sleep(Duration::from_millis(500));
        exits_within(
            cli,
            &["ls", "--watch", "-o", "json"],
            Duration::from_secs(3),
        )
        .filter(|o| o.status.code() == Some(8))
    })
    .expect("a third stream is refused");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("open streams") && stderr.contains("2 of 2"),
        "{stderr}"
    );
    let [mut first, mut second] = followers;
    let _ = first.kill();
    let _ = first.wait();
    let third = wait_for(Duration::from_secs(20), || {
        let mut f = follow(cli, "a");
        std::thread::sleep(Duration::from_millis(700));
        match f.try_wait() {
            Ok(None) => Some(f),
            _ => None,
        }
    });
    assert!(third.is_some(), "a stream is allowed again once one ended");
    let mut third = third.expect("third");
    for f in [&mut third, &mut second] {
        let _ = f.kill();
        let _ = f.wait();
    }
}

#[test]
fn one_client_address_cannot_hold_every_relayed_connection() {
    let c = Cluster::start_full(&[], &["--edge-max-connections-per-client", "2"]);
    let cli = &c.admin;
    cli.deploy_web("web");
    let url = cli
        .run(&["access", "web", "--format", "endpoint"], None)
        .ok()
        .stdout
        .trim()
        .to_string();
    let addr = url.trim_start_matches("http://").to_string();
    let open = |a: &str| {
        let s = std::net::TcpStream::connect(a).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(15)))
            .expect("timeout");
        s
    };
    let held = [open(&addr), open(&addr)];
    std::thread::sleep(Duration::from_millis(500));
    let mut third = open(&addr);
    let mut buf = [0u8; 16];
    let started = Instant::now();
    assert_eq!(third.read(&mut buf).unwrap_or(0), 0, "over the cap: closed");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        c.controld
            .logs()
            .contains("client address's connection limit"),
        "the refusal is logged"
    );
    drop(held);
    let ok = wait_for(Duration::from_secs(10), || {
        (lattice_e2e::http_status(&url) == Some(200)).then_some(())
    });
    assert!(ok.is_some(), "slots are given back when connections end");
}

#[test]
fn concurrent_deploys_cannot_both_pass_a_quota() {
    let c = Cluster::start_full(&[], &["--quota-workloads", "2"]);
    let cli = &c.admin;
    let runs: Vec<_> = (0..5)
        .map(|i| {
            let cli = cli.clone();
            std::thread::spawn(move || cli.deploy("custom", &format!("w{i}")).web().run())
        })
        .collect();
    let codes: Vec<i32> = runs
        .into_iter()
        .map(|t| t.join().expect("deploy thread").code)
        .collect();
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 2, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 8).count(), 3, "{codes:?}");
    assert_eq!(names(cli).len(), 2);
}
