//! Every command's `-o json` output, validated against the schemas
//! documented in docs/schemas (and docs/cli.md); `--watch` JSON lines; `-q`;
//! and an interactive run under a pseudo-terminal.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use lattice_e2e::{Cli, Cluster, bin, wait_for};
use serde_json::Value;

#[track_caller]
fn check(schema: &str, v: &Value) {
    let path = format!(
        "{}/../docs/schemas/{schema}.schema.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let schema_json: Value = serde_json::from_str(&text).unwrap();
    let validator =
        jsonschema::validator_for(&schema_json).unwrap_or_else(|e| panic!("{schema}: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{schema}: {errors:?}\n{v:#}");
}

fn json_of(c: &Cli, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.extend(["-o", "json"]);
    c.run(&a, None).ok().json()
}

#[test]
fn account_commands_emit_documented_json() {
    let c = Cluster::start();
    let u = Cli::new(Some(&c.controld.url()));
    let v = u
        .run(
            &[
                "register",
                "--email",
                "json@example.com",
                "--password-stdin",
                "--trust-fingerprint",
                &c.controld.fingerprint,
                "-o",
                "json",
            ],
            Some(&format!("{}\n", lattice_e2e::PASSWORD)),
        )
        .ok()
        .json();
    check("session", &v);
    let v = u
        .run(
            &[
                "login",
                "--email",
                "json@example.com",
                "--password-stdin",
                "-o",
                "json",
            ],
            Some(&format!("{}\n", lattice_e2e::PASSWORD)),
        )
        .ok()
        .json();
    check("session", &v);
    check("whoami", &json_of(&u, &["whoami"]));
    check("trust", &json_of(&u, &["trust"]));
    let ctx = json_of(&u, &["context", "ls"]);
    check("contexts", &ctx);
    assert_eq!(ctx[0]["current"], true);
    json_of(&u, &["context", "use", &c.controld.url()]);
    assert_eq!(
        u.run(&["context", "ls", "-q"], None).ok().stdout.trim(),
        c.controld.url()
    );
    check("logout", &json_of(&u, &["logout"]));
    // Errors are JSON on stderr, with the documented exit code.
    let r = u.run(&["whoami", "-o", "json"], None).fails_with(4);
    let e: Value = serde_json::from_str(r.stderr.trim()).unwrap();
    check("error", &e);
    assert_eq!(e["error"]["exit_code"], 4);
    assert!(r.stdout.is_empty());
    json_of(&u, &["context", "rm", &c.controld.url()]);
    assert_eq!(json_of(&u, &["context", "ls"]), serde_json::json!([]));
}

#[test]
fn node_commands_emit_documented_json() {
    let c = Cluster::start();
    check("nodes", &json_of(&c.admin, &["nodes"]));
    check("join-token", &json_of(&c.admin, &["nodes", "join-token"]));
    let d = json_of(&c.admin, &["doctor"]);
    check("doctor", &d);
    assert_eq!(d["ok"], true, "{d:#}");
    let human = c.admin.run(&["doctor"], None).ok().stdout;
    assert!(
        human.contains("✓ server") && human.contains("✓ nodes"),
        "{human}"
    );
}

#[test]
fn workload_commands_emit_documented_json() {
    let c = Cluster::start();
    let a = &c.admin;
    check(
        "workload",
        &json_of(
            a,
            &[
                "deploy",
                "custom",
                "web",
                "--image",
                "lattice-local/web:latest",
                "--port",
                "80",
                "--wait",
            ],
        ),
    );
    check("workloads", &json_of(a, &["ls"]));
    assert_eq!(a.run(&["ls", "-q"], None).ok().stdout, "web\n");
    check("status", &json_of(a, &["status", "web"]));
    check("access", &json_of(a, &["access", "web"]));
    check("workload", &json_of(a, &["stop", "web", "--wait"]));
    check("workload", &json_of(a, &["start", "web", "--wait"]));
    check("workload", &json_of(a, &["restart", "web", "--wait"]));
    let logs = a.run(&["logs", "web", "-o", "json"], None).ok();
    for line in logs.stdout.lines() {
        check("log-line", &serde_json::from_str(line).unwrap());
    }
    check("token-created", &json_of(a, &["tokens", "create", "ci"]));
    check("tokens", &json_of(a, &["tokens", "ls"]));
    check(
        "token-revoked",
        &json_of(a, &["tokens", "revoke", "ci", "--yes"]),
    );
    check("rm", &json_of(a, &["rm", "web", "--wait"]));
    let audit = json_of(a, &["audit"]);
    check("audit", &audit);
    assert!(audit.as_array().is_some_and(|v| !v.is_empty()), "{audit}");
}

#[test]
fn version_and_volume_commands_emit_documented_json() {
    let c = Cluster::start();
    let a = &c.admin;
    let web = [
        "deploy",
        "custom",
        "web",
        "--image",
        "lattice-local/web:latest",
        "--port",
        "80",
    ];
    let created = json_of(a, &[&web[..], &["--wait"]].concat());
    check("deploy", &created);
    assert_eq!(created["outcome"], "created");
    check("deploy", &json_of(a, &web));
    check(
        "deploy",
        &json_of(a, &["env", "set", "web", "A=1", "--wait"]),
    );
    check("env", &json_of(a, &["env", "ls", "web"]));
    check("env", &json_of(a, &["env", "ls", "web", "--show-values"]));
    check("history", &json_of(a, &["history", "web"]));
    check("deploy", &json_of(a, &["rollback", "web", "--wait"]));
    a.deploy("postgres", "db").wait().ok();
    a.run(&["rm", "db", "--wait"], None).ok();
    let vols = json_of(a, &["volumes", "ls"]);
    check("volumes", &vols);
    assert_eq!(vols.as_array().map(Vec::len), Some(1), "{vols}");
    check(
        "volume-removed",
        &json_of(a, &["volumes", "rm", "db", "--yes"]),
    );
}

#[test]
fn ls_watch_emits_a_json_line_when_a_status_changes() {
    let c = Cluster::start();
    let mut watch = c
        .admin
        .command(&["ls", "--watch", "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    c.admin.deploy("custom", "w").web().port(80).run().ok();
    let mut statuses = Vec::new();
    let running = wait_for(Duration::from_secs(60), || {
        let line = rx.recv_timeout(Duration::from_millis(100)).ok()?;
        let v: Value = serde_json::from_str(&line).unwrap();
        check("watch-event", &v);
        statuses.push(v["workload"]["status"].as_str().unwrap_or("").to_string());
        (v["workload"]["status"] == "running").then_some(())
    });
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(running.is_some(), "saw {statuses:?}");
    assert!(statuses.len() >= 2, "a line per change: {statuses:?}");
}

#[test]
fn an_interactive_terminal_shows_progress_and_tables() {
    let c = Cluster::start();
    let run_in_pty = |cmd: &str| {
        let out = Command::new("script")
            .args(["-qefc", cmd, "/dev/null"])
            .env("LATTICE_CONFIG_DIR", &c.admin.config_dir)
            .env("LATTICE_TOKEN_STORE", "file")
            .env("TERM", "xterm")
            .env("COLUMNS", "120")
            .stdin(Stdio::null())
            .output()
            .expect("script (util-linux)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let lattice = bin("lattice").display().to_string();
    let out = run_in_pty(&format!(
        "{lattice} deploy custom web --image lattice-local/web:latest --port 80 --wait"
    ));
    assert!(
        out.contains("web: starting") || out.contains("web: scheduled"),
        "progress steps: {out}"
    );
    assert!(out.contains("web is running"), "{out}");
    assert!(
        out.contains('┌') && out.contains("endpoint"),
        "the access table: {out}"
    );
    assert!(!out.contains('├'), "compact: no line between rows: {out}");
    let out = run_in_pty(&format!("{lattice} ls"));
    assert!(
        out.contains("NAME") && out.contains("web") && out.contains('│'),
        "{out}"
    );
    assert!(
        out.contains("\x1b["),
        "the status is coloured on a terminal: {out:?}"
    );
    let plain = run_in_pty(&format!("NO_COLOR=1 {lattice} ls"));
    assert!(!plain.contains("\x1b["), "NO_COLOR: {plain:?}");
    let piped = c.admin.run(&["ls"], None).ok().stdout;
    assert!(!piped.contains('\x1b'), "piped: {piped:?}");
}

#[test]
fn completion_scripts_and_man_pages_are_generated() {
    let cli = Cli::new(None);
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let r = cli.run(&["completion", shell], None).ok();
        assert!(
            r.stdout.contains("lattice") && r.stdout.contains("deploy"),
            "{shell}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    cli.run(&["man", dir.path().to_str().unwrap()], None).ok();
    let page = std::fs::read_to_string(dir.path().join("lattice.1")).unwrap();
    assert!(page.contains(".TH lattice"), "{page}");
    assert!(dir.path().join("lattice-deploy.1").exists());
}

#[test]
fn status_watch_follows_one_workload() {
    let c = Cluster::start();
    c.admin.deploy_web("one");
    c.admin.deploy_web("two");
    let mut watch = c
        .admin
        .command(&["status", "one", "--watch", "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    check("watch-event", &first);
    assert_eq!(
        (first["event"].as_str(), first["workload"]["name"].as_str()),
        (Some("snapshot"), Some("one"))
    );
    c.admin.run(&["stop", "two"], None).ok();
    c.admin.run(&["stop", "one"], None).ok();
    let next: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(
        next["workload"]["name"], "one",
        "only the named workload: {next}"
    );
    assert_eq!(next["event"], "update");
    let _ = watch.kill();
    let _ = watch.wait();
}
