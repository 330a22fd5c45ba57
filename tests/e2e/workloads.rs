//! Workloads on the real Docker Engine, through the real CLI, controld and
//! agentd, reached with real clients (psql, aws).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lattice_e2e::{Cli, Cluster, docker, http_status, leaked, wait_for};

use crate::workloads_util::{Aws, psql};

/// `lattice logs -f NAME --tail 1` as a child with piped output.
fn spawn_follow(cli: &Cli, name: &str) -> std::process::Child {
    cli.command(&["logs", "-f", name, "--tail", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn id_of(cli: &Cli, name: &str) -> String {
    cli.run(&["status", name, "-o", "json"], None).ok().json()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn postgres_deploy_connect_stop_start_keeps_data_and_purge_removes_everything() {
    let c = Cluster::start();
    let cli = &c.admin;
    let r = cli.deploy("postgres", "mydb").wait().run().ok();
    assert!(r.stdout.contains("mydb is running"), "{}", r.stdout);
    let url = cli
        .run(&["access", "mydb", "--format", "url"], None)
        .ok()
        .stdout
        .trim()
        .to_string();
    assert!(url.starts_with("postgres://u_mydb:"), "{url}");
    psql(&url, "create table notes(id int primary key, body text)");
    psql(
        &url,
        "insert into notes select g, 'note ' || g from generate_series(1, 100) g",
    );
    assert_eq!(psql(&url, "select count(*) from notes"), "100");

    // The table hides the password; --show-secrets and the env form show it.
    let table = cli.run(&["access", "mydb"], None).ok().stdout;
    let password = url
        .split(':')
        .nth(2)
        .unwrap()
        .split('@')
        .next()
        .unwrap()
        .to_string();
    assert!(
        !table.contains(&password) && table.contains("hidden"),
        "{table}"
    );
    assert!(
        cli.run(&["access", "mydb", "--show-secrets"], None)
            .ok()
            .stdout
            .contains(&password)
    );
    let env = cli
        .run(&["access", "mydb", "--format", "env"], None)
        .ok()
        .stdout;
    assert!(
        env.lines()
            .any(|l| l == format!("export DATABASE_URL={url}")),
        "{env}"
    );

    let id = id_of(cli, "mydb");
    let container = format!("lattice-{id}");
    let volume = format!("lattice-{id}-data");
    cli.run(&["stop", "mydb", "--wait"], None).ok();
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Running}}", &container]),
        "false"
    );
    assert_eq!(
        docker(&["volume", "inspect", "-f", "{{.Name}}", &volume]),
        volume
    );
    cli.run(&["stop", "mydb"], None).ok(); // idempotent

    cli.run(&["start", "mydb", "--wait"], None).ok();
    let url = cli
        .run(&["access", "mydb", "--format", "url"], None)
        .ok()
        .stdout
        .trim()
        .to_string();
    assert_eq!(
        psql(&url, "select body from notes where id = 42"),
        "note 42"
    );
    cli.run(&["start", "mydb"], None).ok(); // idempotent
    cli.run(&["restart", "mydb", "--wait"], None).ok();
    let url = cli
        .run(&["access", "mydb", "--format", "url"], None)
        .ok()
        .stdout
        .trim()
        .to_string();
    assert_eq!(psql(&url, "select count(*) from notes"), "100");
    assert_eq!(
        c.containers_of(&id).len(),
        1,
        "restart must not leave a second container"
    );

    cli.run(&["rm", "mydb", "--purge", "--wait"], None)
        .fails_with(2); // no TTY, no --yes
    cli.run(&["rm", "mydb", "--purge", "--yes", "--wait"], None)
        .ok();
    assert!(c.containers_of(&id).is_empty());
    assert_eq!(
        docker(&["volume", "ls", "-q", "--filter", &format!("name={volume}")]),
        ""
    );
    cli.run(&["status", "mydb"], None).fails_with(3);
    // The name is free again.
    cli.deploy("postgres", "mydb").wait().run().ok();
}

#[test]
fn s3_works_with_the_aws_cli() {
    let c = Cluster::start();
    let cli = &c.admin;
    cli.deploy("minio", "media").wait().run().ok();
    let s3 = Aws::of(cli, "media");
    let endpoint = s3.endpoint().to_string();
    assert!(endpoint.starts_with("http://"), "{endpoint}");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("hello.txt");
    std::fs::write(&file, "hello from lattice\n").unwrap();
    let aws = |args: &[&str]| s3.run(args);
    aws(&["s3", "mb", "s3://photos"]);
    aws(&["s3", "cp", file.to_str().unwrap(), "s3://photos/hello.txt"]);
    let ls = aws(&["s3", "ls", "s3://photos/"]);
    assert!(ls.contains("hello.txt"), "{ls}");
    let back = tmp.path().join("back.txt");
    aws(&["s3", "cp", "s3://photos/hello.txt", back.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(back).unwrap(),
        "hello from lattice\n"
    );

    // Wrong credentials are refused by the server.
    let out = Command::new("aws")
        .args(["--endpoint-url", &endpoint, "s3", "ls"])
        .env("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wrongwrongwrongwrongwrongwrongwrongwrong",
        )
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn custom_web_server_answers_with_its_limits_applied() {
    let c = Cluster::start();
    let cli = &c.admin;
    cli.deploy("custom", "web")
        .web()
        .port(80)
        .cpu("0.5")
        .memory("256Mi")
        .env("GREETING", "hi")
        .wait()
        .run()
        .ok();
    let url = cli
        .run(&["access", "web", "--format", "url"], None)
        .ok()
        .stdout
        .trim()
        .to_string();
    assert_eq!(http_status(&url), Some(200), "{url}");
    let container = format!("lattice-{}", id_of(cli, "web"));
    assert_eq!(
        docker(&[
            "inspect",
            "-f",
            "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}",
            &container
        ]),
        "500000000 268435456"
    );
    // Hardening every workload gets.
    assert_eq!(
        docker(&[
            "inspect",
            "-f",
            "{{json .HostConfig.SecurityOpt}} {{.HostConfig.PidsLimit}} {{.HostConfig.LogConfig.Type}} {{json .HostConfig.LogConfig.Config}}",
            &container
        ]),
        r#"["no-new-privileges:true"] 1024 json-file {"max-file":"5","max-size":"50m"}"#
    );
    let env = docker(&["inspect", "-f", "{{json .Config.Env}}", &container]);
    assert!(env.contains("GREETING=hi"), "{env}");
    let labels = docker(&["inspect", "-f", "{{json .Config.Labels}}", &container]);
    assert!(
        labels.contains(&c.node_id) && labels.contains("lattice.owner"),
        "{labels}"
    );

    let ls = cli.run(&["ls", "-o", "json"], None).ok().json();
    assert_eq!(ls[0]["name"], "web");
    assert_eq!(ls[0]["status"], "running");
    assert_eq!(ls[0]["cpu"], 0.5);
}

#[test]
fn logs_tail_and_follow_in_order_without_repeats_and_follow_ends_on_stop() {
    let c = Cluster::start();
    let cli = &c.admin;
    cli.deploy("custom", "ticker")
        .web()
        .wait()
        .sh("i=0; while true; do i=$((i+1)); echo line $i; sleep 0.1; done")
        .run()
        .ok();
    let numbers = |s: &str| -> Vec<u64> {
        s.lines()
            .filter_map(|l| l.strip_prefix("line ")?.parse().ok())
            .collect()
    };
    let tail = wait_for(Duration::from_secs(20), || {
        let n = numbers(
            &cli.run(&["logs", "ticker", "--tail", "5"], None)
                .ok()
                .stdout,
        );
        (n.len() == 5 && n[0] >= 10).then_some(n)
    })
    .expect("five lines");
    assert!(tail.windows(2).all(|w| w[1] == w[0] + 1), "{tail:?}");

    let mut follow = spawn_follow(cli, "ticker");
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    let first: u64 = lines
        .next()
        .unwrap()
        .unwrap()
        .strip_prefix("line ")
        .unwrap()
        .parse()
        .unwrap();
    let mut seen = vec![first];
    while seen.len() < 25 {
        let l = lines.next().unwrap().unwrap();
        seen.push(l.strip_prefix("line ").unwrap().parse().unwrap());
    }
    assert!(
        seen.windows(2).all(|w| w[1] == w[0] + 1),
        "in order, none twice: {seen:?}"
    );
    assert!(
        seen.last().unwrap() > &(tail[4] + 10),
        "new lines keep arriving"
    );

    // Stopping the workload ends the follow by itself.
    cli.run(&["stop", "ticker", "--wait"], None).ok();
    let started = Instant::now();
    for l in lines.by_ref() {
        let _ = l;
    }
    let status = follow.wait().unwrap();
    assert!(status.success(), "follow should end cleanly");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn wait_fails_fast_with_the_reason_and_a_missing_image_fails_clearly() {
    let c = Cluster::start();
    let cli = &c.admin;
    let started = Instant::now();
    let r = cli
        .deploy("custom", "crash")
        .web()
        .wait()
        .flags(&["--timeout", "2m"])
        .sh("echo about to fail; exit 3")
        .run()
        .fails_with(6);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "must not wait for the timeout"
    );
    assert!(
        r.stderr.contains("exited during start with code 3"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("about to fail"),
        "last log lines: {}",
        r.stderr
    );
    let st = cli
        .run(&["status", "crash", "-o", "json"], None)
        .ok()
        .json();
    assert_eq!(st["status"], "failed");
    assert!(st["last_log_lines"].to_string().contains("about to fail"));

    let r = cli
        .deploy("custom", "ghost")
        .image("no-such-image:1")
        .wait()
        .run()
        .fails_with(6);
    assert!(
        r.stderr
            .contains("no-such-image:1 is not on this node and could not be pulled"),
        "{}",
        r.stderr
    );
}

#[test]
fn kill_9_agent_mid_deploy_converges_with_exactly_one_container() {
    let mut c = Cluster::processes();
    let cli = c.admin.clone();
    cli.deploy("postgres", "crashy")
        .image("lattice-local/postgres:latest")
        .run()
        .ok();
    let id = id_of(&cli, "crashy");
    // Kill the agent as soon as it has started working on the container.
    wait_for(Duration::from_secs(20), || {
        (!c.containers_of(&id).is_empty()).then_some(())
    });
    c.agent.kill9();
    c.agent.restart();
    c.wait_status(&cli, "crashy", "running", 90);
    assert_eq!(c.containers_of(&id).len(), 1);
    let url = cli
        .run(&["access", "crashy", "--format", "url"], None)
        .ok()
        .stdout
        .trim()
        .to_string();
    assert_eq!(psql(&url, "select 1"), "1");
}

#[test]
fn controld_restart_and_outage_leave_containers_untouched() {
    let mut c = Cluster::processes();
    let cli = c.admin.clone();
    cli.deploy_web("web");
    let id = id_of(&cli, "web");
    let started_at = || {
        docker(&[
            "inspect",
            "-f",
            "{{.State.StartedAt}} {{.State.Running}}",
            &format!("lattice-{id}"),
        ])
    };
    let before = started_at();
    let ls_before = cli.run(&["ls", "-o", "json"], None).ok().json();

    c.controld.restart().unwrap();
    let ls_after = cli.run(&["ls", "-o", "json"], None).ok().json();
    assert_eq!(ls_before[0]["id"], ls_after[0]["id"]);
    c.wait_status(&cli, "web", "running", 30);
    assert_eq!(started_at(), before, "the container was not touched");

    // An outage: controld away for longer than the node lease.
    c.controld.stop().unwrap();
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        started_at(),
        before,
        "containers keep running while controld is away"
    );
    assert!(c.agent.alive());
    let addr = c.controld.addr.clone();
    c.controld.restart_at(&addr).unwrap();
    c.wait_status(&cli, "web", "running", 60);
    let url = cli
        .run(&["access", "web", "--format", "url"], None)
        .ok()
        .stdout
        .trim()
        .to_string();
    assert_eq!(http_status(&url), Some(200));
    assert_eq!(started_at(), before);
}

#[test]
fn a_silent_node_is_unreachable_its_workloads_lost_then_running_again() {
    let mut c = Cluster::processes();
    let cli = c.admin.clone();
    cli.deploy_web("web");
    c.agent.kill9();
    let st = c.wait_status(&cli, "web", "lost", 30);
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("has not been heard from"),
        "{st}"
    );
    let nodes = cli.run(&["nodes", "-o", "json"], None).ok().json();
    assert_eq!(nodes[0]["status"], "unreachable");
    c.agent.restart();
    c.wait_status(&cli, "web", "running", 60);
}

/// A node whose Docker Engine does not answer takes nothing: a deploy
/// waits as `pending` naming the socket (and can be stopped and removed
/// meanwhile); one that no node could ever hold is refused, leaving nothing.
#[test]
fn docker_unavailable_on_the_node_makes_deploys_wait_naming_the_socket() {
    let c = Cluster::start_with(&[("DOCKER_HOST", "unix:///tmp/lattice-no-such-docker.sock")]);
    let cli = &c.admin;
    let nodes = cli.run(&["nodes", "-o", "json"], None).ok().json();
    assert_eq!(nodes[0]["status"], "docker-unavailable", "{nodes}");
    cli.deploy("postgres", "db").run().ok();
    let st = cli.run(&["status", "db", "-o", "json"], None).ok().json();
    assert_eq!(st["status"], "pending", "{st}");
    let msg = st["message"].as_str().unwrap_or_default();
    assert!(msg.starts_with("waiting for a node"), "{st}");
    assert!(msg.contains("/tmp/lattice-no-such-docker.sock"), "{st}");
    // Stopped while it waits: stopped, not placed; started: waits again.
    cli.run(&["stop", "db"], None).ok();
    let st = cli.run(&["status", "db", "-o", "json"], None).ok().json();
    assert_eq!(st["status"], "stopped", "{st}");
    cli.run(&["start", "db"], None).ok();
    let st = cli.run(&["status", "db", "-o", "json"], None).ok().json();
    assert_eq!(st["status"], "pending", "{st}");
    cli.run(&["rm", "db", "--yes"], None).ok();
    // Larger than any node could ever hold: refused, nothing created.
    let r = cli
        .deploy("custom", "huge")
        .web()
        .cpu("12")
        .run()
        .fails_with(9);
    assert!(
        r.stderr.contains("no node could ever take it"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("the largest node has"), "{}", r.stderr);
    assert_eq!(
        cli.run(&["ls", "-o", "json"], None).json(),
        serde_json::json!([]),
        "nothing half-created"
    );
}

#[test]
fn another_user_sees_nothing_of_my_workloads() {
    let c = Cluster::start();
    let alice = &c.admin;
    alice
        .deploy("custom", "secret-web")
        .web()
        .port(80)
        .wait()
        .run()
        .ok();
    let bob = c.user("bob@example.com");
    assert_eq!(
        bob.run(&["ls", "-o", "json"], None).ok().json(),
        serde_json::json!([])
    );
    let missing = bob.run(&["status", "no-such-thing"], None).fails_with(3);
    for args in [
        vec!["status", "secret-web"],
        vec!["logs", "secret-web"],
        vec!["stop", "secret-web"],
        vec!["start", "secret-web"],
        vec!["restart", "secret-web"],
        vec!["rm", "secret-web"],
        vec!["access", "secret-web"],
        vec!["access", "secret-web", "--format", "url"],
    ] {
        let r = bob.run(&args, None).fails_with(3);
        assert!(
            r.stderr.contains("no workload named \"secret-web\""),
            "{args:?}: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("permission"),
            "{args:?} must not reveal that it exists"
        );
    }
    assert!(missing.stderr.contains("no workload named"));
    // Anyone sees the cloud's capacity; where the machines are, and adding
    // one, is for admins.
    let nodes = bob.run(&["nodes", "-o", "json"], None).ok().json();
    assert_eq!(nodes[0]["status"], "ready", "{nodes}");
    assert_eq!(nodes[0]["address"], "", "{nodes}");
    assert_eq!(nodes[0]["agent_version"], "", "{nodes}");
    bob.run(&["nodes", "join-token"], None).fails_with(4);
    // Bob may use the same name for his own workload.
    bob.deploy_web("secret-web");
    assert_eq!(
        alice
            .run(&["status", "secret-web", "-o", "json"], None)
            .ok()
            .json()["status"],
        "running"
    );
}

#[test]
fn invalid_deploys_name_the_field_and_create_nothing() {
    let c = Cluster::start();
    let cli = &c.admin;
    for (args, needle) in [
        (
            vec!["deploy", "postgres", "Bad_Name"],
            "name must be 1-63 chars",
        ),
        (
            vec!["deploy", "custom", "w", "--image", "nginx", "--cpu", "100"],
            "cpu must be",
        ),
        (
            vec![
                "deploy", "custom", "w", "--image", "nginx", "--memory", "1Mi",
            ],
            "memory must be",
        ),
        (
            vec![
                "deploy", "custom", "w", "--image", "nginx", "--env", "1BAD=x",
            ],
            "env key",
        ),
        (
            vec![
                "deploy", "custom", "w", "--image", "nginx", "--port", "70000",
            ],
            "port must be",
        ),
        (
            vec!["deploy", "custom", "w", "--image", "Not An Image"],
            "image must be",
        ),
        (vec!["deploy", "custom", "w"], "image is required"),
        (vec!["deploy", "redis", "w"], "kind must be"),
        (
            vec!["deploy", "postgres", "p", "--env", "POSTGRES_PASSWORD=mine"],
            "env POSTGRES_PASSWORD is set by Lattice for postgres workloads",
        ),
        (
            vec!["deploy", "s3", "b", "--env", "RUSTFS_SECRET_KEY=mine"],
            "env RUSTFS_SECRET_KEY is set by Lattice for s3 workloads",
        ),
    ] {
        let r = cli.run(&args, None).fails_with(2);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
    let many: Vec<String> = (0..51).map(|i| format!("K{i}=v")).collect();
    let mut args = vec!["deploy", "custom", "w", "--image", "nginx"];
    for e in &many {
        args.extend(["--env", e.as_str()]);
    }
    let r = cli.run(&args, None).fails_with(2);
    assert!(r.stderr.contains("at most 50"), "{}", r.stderr);
    assert_eq!(
        cli.run(&["ls", "-o", "json"], None).ok().json(),
        serde_json::json!([])
    );
    // The same name and spec again changes nothing; another kind is refused.
    cli.deploy("custom", "w").web().port(80).run().ok();
    let again = cli
        .deploy("custom", "w")
        .web()
        .port(80)
        .flags(&["-o", "json"])
        .ok()
        .json();
    assert_eq!(again["outcome"], "unchanged", "{again}");
    assert_eq!(again["version"], 1, "{again}");
    let r = cli.deploy("postgres", "w").run().fails_with(1);
    assert!(r.stderr.contains("w is a custom workload"), "{}", r.stderr);
    let r = cli.run(&["status", "ww"], None).fails_with(3);
    assert!(r.stderr.contains("did you mean \"w\""), "{}", r.stderr);
}

#[test]
fn generated_credentials_appear_in_no_log() {
    let c = Cluster::processes();
    let cli = &c.admin;
    cli.deploy("postgres", "db").wait().run().ok();
    cli.deploy("s3", "files").wait().run().ok();
    cli.run(&["restart", "db", "--wait"], None).ok();
    cli.run(&["status", "db", "-o", "json"], None).ok();
    let mut secrets = Vec::new();
    for name in ["db", "files"] {
        let acc = cli
            .run(&["access", name, "--format", "json"], None)
            .ok()
            .json();
        for (k, v) in acc["credentials"].as_object().unwrap() {
            if k.contains("password") || k.contains("secret") || k.contains("access") {
                secrets.push((v.as_str().unwrap().to_string(), "workload credential"));
            }
        }
    }
    assert!(secrets.len() >= 3);
    let node_secret = std::fs::read_to_string(c.agent.data_dir.join("node.json")).unwrap();
    let node_secret: serde_json::Value = serde_json::from_str(&node_secret).unwrap();
    secrets.push((
        node_secret["node_secret"].as_str().unwrap().to_string(),
        "node secret",
    ));
    let found = leaked(&c.controld.logs(), &secrets);
    assert!(found.is_empty(), "controld logged {found:?}");
    let found = leaked(&c.agent.logs(), &secrets);
    assert!(found.is_empty(), "agentd logged {found:?}");
    // `status` shows env keys, never values.
    let st = cli.run(&["status", "db"], None).ok().stdout;
    assert!(leaked(&st, &secrets).is_empty());
}

#[test]
fn follow_survives_an_agent_crash_without_repeating_lines() {
    let mut c = Cluster::processes();
    let cli = c.admin.clone();
    cli.deploy("custom", "counter")
        .web()
        .wait()
        .sh("i=0; while true; do i=$((i+1)); echo n $i; sleep 0.05; done")
        .run()
        .ok();
    let mut follow = spawn_follow(&cli, "counter");
    let stderr = follow.stderr.take().unwrap();
    let notices = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
            .join("\n")
    });
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    let mut seen: Vec<u64> = Vec::new();
    let mut next = |seen: &mut Vec<u64>| {
        let l = lines.next().unwrap().unwrap();
        seen.push(l.strip_prefix("n ").unwrap().parse().unwrap());
    };
    while seen.len() < 10 {
        next(&mut seen);
    }
    c.agent.kill9();
    std::thread::sleep(Duration::from_millis(500));
    c.agent.restart();
    let target = seen.last().unwrap() + 60;
    while *seen.last().unwrap() < target {
        next(&mut seen);
    }
    assert!(
        seen.windows(2).all(|w| w[1] == w[0] + 1),
        "in order, none twice, none lost: {seen:?}"
    );
    let _ = follow.kill();
    let _ = follow.wait();
    let notices = notices.join().unwrap();
    assert!(
        notices.contains("resuming"),
        "the CLI says the stream dropped: {notices}"
    );
}
