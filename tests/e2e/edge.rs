//! The public edge: reaching workloads through controld from "another
//! computer" (a network namespace that can reach only controld), with real
//! psql and aws clients.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lattice_e2e::{Cluster, OtherComputer, wait_for};

fn access(c: &lattice_e2e::Cli, name: &str, format: &str) -> String {
    c.run(&["access", name, "--format", format], None)
        .ok()
        .stdout
        .trim()
        .to_string()
}

fn psql_in(other: &OtherComputer, url: &str, sql: &str) -> std::process::Output {
    other
        .command("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-tAc", sql])
        .output()
        .expect("psql")
}

#[track_caller]
fn ok_psql(other: &OtherComputer, url: &str, sql: &str) -> String {
    let out = psql_in(other, url, sql);
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn postgres_through_the_public_endpoint_from_another_computer() {
    let other = OtherComputer::new();
    let c = Cluster::start_full(&[], &["--public-host", &other.host_ip]);
    let cli = &c.admin;
    let r = cli.deploy("postgres", "mydb").wait().run().ok();
    // Deploy output ends with how to connect, public endpoint first.
    assert!(
        r.stdout.contains(&format!("tcp://{}:", other.host_ip)),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("psql \"$(lattice access mydb --format url)\""),
        "{}",
        r.stdout
    );
    let url = access(cli, "mydb", "url");
    assert!(url.contains(&format!("@{}:", other.host_ip)), "{url}");
    // The direct endpoint is not reachable from there: only the edge is.
    let direct = access(cli, "mydb", "endpoint");
    assert!(direct.starts_with(&other.host_ip), "{direct}");
    let direct_url = cli
        .run(&["access", "mydb", "--format", "url", "--direct"], None)
        .ok()
        .stdout
        .trim()
        .to_string();
    assert!(
        !psql_in(&other, &direct_url, "select 1").status.success(),
        "the node's own port must not be reachable"
    );

    ok_psql(
        &other,
        &url,
        "create table items(id int primary key, payload text)",
    );
    ok_psql(
        &other,
        &url,
        "insert into items select g, md5(g::text) from generate_series(1, 10000) g",
    );
    assert_eq!(
        ok_psql(&other, &url, "select count(*), sum(id) from items"),
        "10000|50005000"
    );
    let logs = c.controld.logs();
    assert!(
        logs.contains("edge connection closed") && logs.contains("bytes_in="),
        "one log line per connection"
    );

    // 50 concurrent connections through the relay, all complete.
    let started = Instant::now();
    let kids: Vec<_> = (0..50)
        .map(|i| {
            other
                .command("psql")
                .arg(&url)
                .args(["-tAc", &format!("select pg_sleep(0.5), {i}")])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, k) in kids.into_iter().enumerate() {
        let out = k.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "connection {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("|{i}")));
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "they ran concurrently"
    );
}

#[test]
fn s3_through_the_public_endpoint_moves_100_mb_intact() {
    let other = OtherComputer::new();
    let c = Cluster::start_full(&[], &["--public-host", &other.host_ip]);
    let cli = &c.admin;
    cli.deploy("s3", "media").wait().run().ok();
    let endpoint = access(cli, "media", "endpoint");
    assert_eq!(
        endpoint,
        format!(
            "http://{}:{}",
            other.host_ip,
            endpoint.rsplit(':').next().unwrap()
        )
    );
    let env: Vec<(String, String)> = access(cli, "media", "env")
        .lines()
        .filter_map(|l| {
            l.strip_prefix("export ")?
                .split_once('=')
                .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        })
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let big = tmp.path().join("big.bin");
    let back = tmp.path().join("back.bin");
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c 100000000 /dev/urandom > {}",
            big.display()
        ))
        .status()
        .unwrap();
    assert!(st.success());
    let aws = |args: &[&str]| {
        let out = other
            .command("aws")
            .args(["--endpoint-url", &endpoint])
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .expect("aws");
        assert!(
            out.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    aws(&["s3", "mb", "s3://big"]);
    aws(&["s3", "cp", big.to_str().unwrap(), "s3://big/big.bin"]);
    aws(&["s3", "cp", "s3://big/big.bin", back.to_str().unwrap()]);
    let sum = |p: &std::path::Path| {
        let out = Command::new("sha256sum").arg(p).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(std::fs::metadata(&back).unwrap().len(), 100_000_000);
    assert_eq!(sum(&big), sum(&back), "checksums equal");
}

#[test]
fn restarts_end_live_connections_keep_the_url_and_work_again() {
    let mut c = Cluster::processes();
    let cli = c.admin.clone();
    cli.deploy("postgres", "db").wait().run().ok();
    let url = access(&cli, "db", "url");
    let psql = |sql: &str| {
        Command::new("psql")
            .arg(&url)
            .args(["-tAc", sql])
            .output()
            .unwrap()
    };
    assert!(psql("select 1").status.success());

    // A session in progress when the agent dies ends with an error, promptly.
    let mut long = Command::new("psql")
        .arg(&url)
        .args(["-tAc", "select pg_sleep(60)"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    c.agent.kill9();
    let started = Instant::now();
    let status = wait_for(Duration::from_secs(20), || long.try_wait().ok().flatten())
        .expect("the session must end");
    assert!(!status.success());
    assert!(started.elapsed() < Duration::from_secs(20));
    c.agent.restart();
    let back = wait_for(Duration::from_secs(60), || {
        psql("select 2").status.success().then_some(())
    });
    assert!(
        back.is_some(),
        "new connections work once the agent is back"
    );

    // controld restarted: same URL, connections work again.
    c.controld.restart().unwrap();
    assert_eq!(
        access(&cli, "db", "url"),
        url,
        "the public URL survives a controld restart"
    );
    let back = wait_for(Duration::from_secs(60), || {
        psql("select 3").status.success().then_some(())
    });
    assert!(back.is_some());

    // Stop/start keeps the URL; stopping closes relayed connections.
    let mut long = Command::new("psql")
        .arg(&url)
        .args(["-tAc", "select pg_sleep(60)"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    cli.run(&["stop", "db", "--wait"], None).ok();
    let ended = wait_for(Duration::from_secs(20), || long.try_wait().ok().flatten());
    assert!(
        ended.is_some(),
        "stopping a workload closes its relayed connections"
    );
    cli.run(&["start", "db", "--wait"], None).ok();
    assert_eq!(access(&cli, "db", "url"), url);
    assert!(psql("select 4").status.success());
}

#[test]
fn rotate_refuses_the_old_password_and_accepts_the_new() {
    let c = Cluster::start();
    let cli = &c.admin;
    cli.deploy("postgres", "db").wait().run().ok();
    let old = access(cli, "db", "url");
    let ok = |u: &str| {
        Command::new("psql")
            .arg(u)
            .args(["-tAc", "select 1"])
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(ok(&old));
    let r = cli
        .run(
            &["access", "db", "--rotate", "--yes", "--format", "url"],
            None,
        )
        .ok();
    let new = r.stdout.trim().to_string();
    assert_ne!(old, new);
    assert!(!ok(&old), "the old password must stop working");
    c.wait_status(cli, "db", "running", 60);
    assert!(
        wait_for(Duration::from_secs(30), || ok(&new).then_some(())).is_some(),
        "the new password works"
    );

    // S3 keys rotate too.
    cli.deploy("s3", "files").wait().run().ok();
    let before = cli
        .run(&["access", "files", "--format", "json"], None)
        .ok()
        .json();
    cli.run(&["access", "files", "--rotate", "--yes"], None)
        .ok();
    c.wait_status(cli, "files", "running", 60);
    let after = cli
        .run(&["access", "files", "--format", "json"], None)
        .ok()
        .json();
    assert_ne!(
        before["credentials"]["secret_key"],
        after["credentials"]["secret_key"]
    );
    // Custom workloads have nothing generated to rotate.
    cli.deploy("custom", "w").web().port(80).run().ok();
    let r = cli
        .run(&["access", "w", "--rotate", "--yes"], None)
        .fails_with(1);
    assert!(
        r.stderr.contains("no generated credentials"),
        "{}",
        r.stderr
    );
}

#[test]
fn edge_port_exhaustion_is_refused_at_deploy_and_deleting_frees_the_port() {
    let range = lattice_e2e::edge_range(1);
    let c = Cluster::start_full(&[], &["--edge-ports", &range]);
    let cli = &c.admin;
    cli.deploy_web("a");
    let r = cli.deploy("custom", "b").web().port(80).run().fails_with(1);
    assert!(
        r.stderr.contains("no free public edge port"),
        "{}",
        r.stderr
    );
    let ls = cli.run(&["ls", "-o", "json"], None).ok().json();
    assert_eq!(
        ls.as_array().unwrap().len(),
        1,
        "nothing half-created: {ls}"
    );
    cli.run(&["rm", "a", "--wait"], None).ok();
    cli.deploy_web("b");
    let url = access(cli, "b", "url");
    assert!(
        url.ends_with(&format!(":{}", range.split('-').next().unwrap())),
        "{url}"
    );
    assert_eq!(lattice_e2e::http_status(&url), Some(200));
}

#[test]
fn relayed_connections_are_capped_and_idle_ones_closed() {
    use std::io::Read;
    let c = Cluster::start_full(
        &[],
        &[
            "--edge-max-connections-per-workload",
            "2",
            "--edge-idle-timeout",
            "2s",
        ],
    );
    let cli = &c.admin;
    cli.deploy_web("web");
    let url = access(cli, "web", "endpoint");
    let addr = url.trim_start_matches("http://").to_string();
    // Two connections are relayed and held open without traffic...
    let open = |a: &str| {
        let s = std::net::TcpStream::connect(a).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        s
    };
    let mut a = open(&addr);
    let mut b = open(&addr);
    std::thread::sleep(Duration::from_millis(500));
    // ...so a third is refused (closed at once) while they last.
    let mut third = open(&addr);
    let mut buf = [0u8; 16];
    let started = Instant::now();
    assert_eq!(third.read(&mut buf).unwrap_or(0), 0, "over the cap: closed");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Idle ones are closed after the idle timeout.
    let started = Instant::now();
    assert_eq!(a.read(&mut buf).unwrap_or(0), 0);
    assert_eq!(b.read(&mut buf).unwrap_or(0), 0);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    assert!(c.controld.logs().contains("idle timeout"));
    // With the slots free again, HTTP works through the edge.
    assert_eq!(lattice_e2e::http_status(&url), Some(200));
}
