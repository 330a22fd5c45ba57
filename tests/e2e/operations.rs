//! What operators watch: /healthz and /readyz on the API's port, /metrics
//! behind its token there and on its own plain-HTTP address, with figures
//! that move when work happens and the agents' own load.

use std::time::Duration;

use lattice_e2e::{Cluster, wait_for};

const TOKEN: &str = "metrics-token-for-the-test-0123";

/// `curl` a URL: (status, body). `ca` verifies the API's TLS.
fn get(url: &str, ca: Option<&std::path::Path>, bearer: Option<&str>) -> (u16, String) {
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"]);
    if let Some(ca) = ca {
        cmd.arg("--cacert").arg(ca);
    }
    if let Some(b) = bearer {
        cmd.args(["-H", &format!("Authorization: Bearer {b}")]);
    }
    let out = cmd.arg(url).output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// The value of the sample `name{labels}` (exact label text), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[test]
fn health_and_metrics_answer_and_move_with_the_work() {
    let c = Cluster::start_full(
        &[],
        &["--metrics-listen", "127.0.0.1:0", "--metrics-token", TOKEN],
    );
    let d = &c.controld;
    let ca = d.data_dir.join("tls/ca.pem");
    let api = format!(
        "https://localhost:{}",
        d.addr.rsplit_once(':').map_or("", |p| p.1)
    );
    assert_eq!(
        get(&format!("{api}/healthz"), Some(&ca), None),
        (200, "ok\n".into())
    );
    assert_eq!(
        get(&format!("{api}/readyz"), Some(&ca), None),
        (200, "ready\n".into())
    );

    // The API's port: the token or nothing; a wrong one learns nothing.
    let (code, body) = get(&format!("{api}/metrics"), Some(&ca), None);
    assert_eq!(code, 401, "{body}");
    assert!(!body.contains("lattice_"), "{body}");
    let (code, _) = get(
        &format!("{api}/metrics"),
        Some(&ca),
        Some("wrong-token-of-some-length"),
    );
    assert_eq!(code, 401);
    let (code, with_token) = get(&format!("{api}/metrics"), Some(&ca), Some(TOKEN));
    assert_eq!(code, 200, "{with_token}");
    assert!(
        with_token.contains("lattice_workloads{status=\"running\"}"),
        "{with_token}"
    );

    // The plain address: no token; it is the operator's to keep local.
    let plain = std::fs::read_to_string(d.data_dir.join("metrics.addr")).expect("metrics.addr");
    let url = format!("http://{}/metrics", plain.trim());
    assert_eq!(
        get(&format!("http://{}/readyz", plain.trim()), None, None).0,
        200
    );
    let deploys =
        r#"lattice_rpc_total{service="lattice.v1.WorkloadService",method="Deploy",code="OK"}"#;
    let running = r#"lattice_workloads{status="running"}"#;
    let (_, before) = get(&url, None, None);
    assert_eq!(sample(&before, running), Some(0.0), "{before}");
    assert_eq!(sample(&before, deploys), None, "no deploy yet");

    c.admin.deploy_web("web");
    // A refused call is counted with its code.
    c.admin.run(&["status", "nope"], None).fails_with_any();
    let (_, after) = get(&url, None, None);
    assert_eq!(sample(&after, deploys), Some(1.0), "{after}");
    assert_eq!(sample(&after, running), Some(1.0), "{after}");
    assert!(
        sample(&after, r#"lattice_rpc_total{service="lattice.v1.WorkloadService",method="Get",code="NotFound"}"#)
            .is_some_and(|n| n >= 1.0),
        "{after}"
    );
    assert!(
        after.contains("lattice_rpc_duration_seconds_bucket{"),
        "latency histograms"
    );
    assert_eq!(
        sample(&after, r#"lattice_nodes{status="ready"}"#),
        Some(1.0),
        "{after}"
    );

    // The agent's own figures arrive with its heartbeats.
    let node = c.admin.run(&["nodes", "-o", "json"], None).ok().json()[0]["name"]
        .as_str()
        .expect("node name")
        .to_string();
    let containers = format!("lattice_node_containers{{node=\"{node}\"}}");
    let seen = wait_for(Duration::from_secs(30), || {
        let (_, t) = get(&url, None, None);
        let n = sample(&t, &containers)?;
        let mem = sample(
            &t,
            &format!("lattice_node_memory_used_bytes{{node=\"{node}\"}}"),
        )?;
        (n >= 1.0 && mem > 0.0).then_some(t)
    });
    assert!(seen.is_some(), "the node's load never arrived");
    let nodes = c.admin.run(&["nodes", "-o", "json"], None).ok().json();
    assert!(
        nodes[0]["host"]["containers"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "{nodes}"
    );

    // Traffic through the edge is counted.
    let url_of_web = c
        .admin
        .run(&["access", "web", "--format", "endpoint"], None)
        .ok()
        .stdout;
    let port = url_of_web
        .trim()
        .rsplit(':')
        .next()
        .expect("port")
        .to_string();
    assert_eq!(
        lattice_e2e::http_status(&format!("http://127.0.0.1:{port}/")),
        Some(200)
    );
    let moved = wait_for(Duration::from_secs(10), || {
        let (_, t) = get(&url, None, None);
        let out = sample(&t, r#"lattice_edge_bytes_total{direction="out"}"#)?;
        (out > 0.0 && sample(&t, "lattice_edge_connections_total")? >= 1.0).then_some(())
    });
    assert!(moved.is_some(), "edge traffic was not counted");

    // Retiring the node: drained, it takes nothing new, and the gauge says so.
    let r = c
        .admin
        .run(&["nodes", "drain", &node, "-o", "json"], None)
        .ok()
        .json();
    assert_eq!(r["status"], "draining", "{r}");
    // A deploy now waits (pending) rather than landing on the drained node.
    c.admin.deploy("custom", "late").web().port(80).run().ok();
    let late = c
        .admin
        .run(&["status", "late", "-o", "json"], None)
        .ok()
        .json();
    assert_eq!(
        late["status"], "pending",
        "a drained node takes no new workload: {late}"
    );
    assert!(
        late["message"].as_str().unwrap_or("").contains("draining"),
        "{late}"
    );
    let (_, t) = get(&url, None, None);
    assert_eq!(
        sample(&t, r#"lattice_nodes{status="draining"}"#),
        Some(1.0),
        "{t}"
    );
}

/// The units name only settings the binaries know, and systemd accepts them.
#[test]
fn the_systemd_units_use_real_settings() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/systemd");
    for (unit, binary) in [
        ("lattice-controld.service", "lattice-controld"),
        ("lattice-agentd.service", "lattice-agentd"),
    ] {
        let text = std::fs::read_to_string(dir.join(unit)).expect("unit");
        let help = std::process::Command::new(lattice_e2e::bin(binary))
            .args(["serve", "--help"])
            .output()
            .expect("help");
        let help = if help.status.success() {
            help
        } else {
            std::process::Command::new(lattice_e2e::bin(binary))
                .arg("--help")
                .output()
                .expect("help")
        };
        let help = String::from_utf8_lossy(&help.stdout).to_string();
        for var in text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("LATTICE_"))
        {
            assert!(
                help.contains(&format!("[env: {var}")),
                "{unit} sets {var}, which {binary} does not read"
            );
        }
        // systemd's own check, with the binary where the unit expects it.
        let tmp = tempfile::tempdir().expect("tmp");
        let local = text.replace(
            &format!("/usr/local/bin/{binary}"),
            &lattice_e2e::bin(binary).display().to_string(),
        );
        std::fs::write(tmp.path().join(unit), local).expect("write");
        if let Ok(out) = std::process::Command::new("systemd-analyze")
            .arg("verify")
            .arg(tmp.path().join(unit))
            .output()
        {
            let said = String::from_utf8_lossy(&out.stderr);
            let problems: Vec<&str> = said
                .lines()
                .filter(|l| l.contains(unit) && !l.contains("docker.service"))
                .collect();
            assert!(problems.is_empty(), "systemd-analyze: {said}");
        }
    }
}
