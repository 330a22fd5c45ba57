//! The CLI in pipelines: API tokens with scopes, LATTICE_TOKEN with no
//! login and no prior config, and the documented exit codes.

use std::time::{Duration, Instant};

use lattice_e2e::{Cli, Cluster};

/// A pipeline: a fresh machine with only environment variables.
fn pipeline(c: &Cluster, token: &str) -> Cli {
    Cli::new(None)
        .with_env("LATTICE_TOKEN", token)
        .with_env("LATTICE_SERVER", &c.controld.url())
        .with_env("LATTICE_TRUST_FINGERPRINT", &c.controld.fingerprint)
}

fn create(c: &Cluster, name: &str, extra: &[&str]) -> String {
    let mut args = vec!["tokens", "create", name, "-o", "json"];
    args.extend_from_slice(extra);
    let v = c.admin.run(&args, None).ok().json();
    assert_eq!(v["name"], name);
    v["token"].as_str().unwrap().to_string()
}

#[test]
fn api_tokens_are_scoped_revocable_and_expire() {
    let c = Cluster::start();
    c.admin
        .deploy("custom", "app")
        .web()
        .port(80)
        .wait()
        .run()
        .ok();
    let read = create(&c, "ci-read", &["--scope", "read"]);
    let deploy = create(&c, "ci-deploy", &["--scope", "deploy", "--expires", "1h"]);
    let short = create(&c, "short", &["--expires", "2s"]);

    // Read scope: can look, cannot change.
    let p = pipeline(&c, &read);
    let ls = p.run(&["ls", "-o", "json"], None).ok().json();
    assert_eq!(ls[0]["name"], "app");
    p.run(&["status", "app"], None).ok();
    let r = p.deploy("custom", "x").web().run().fails_with(4);
    assert!(r.stderr.contains("scope \"read\""), "{}", r.stderr);
    p.run(&["rm", "app"], None).fails_with(4);
    p.run(&["access", "app"], None).fails_with(4);
    let who = p.run(&["whoami", "-o", "json"], None).ok().json();
    assert_eq!(who["auth"], "api_token");
    assert_eq!(who["scope"], "read");

    // Deploy scope: can deploy and remove.
    let d = pipeline(&c, &deploy);
    d.deploy_web("ci-app");
    d.run(&["access", "ci-app", "--format", "url"], None).ok();
    d.run(&["rm", "ci-app", "--wait"], None).ok();
    d.run(&["tokens", "create", "escalate"], None).fails_with(4);

    // Listing shows names and metadata, never secrets.
    let list = c.admin.run(&["tokens", "ls", "-o", "json"], None).ok();
    assert!(list.stdout.contains("ci-read") && list.stdout.contains("last_used_at"));
    for secret in [&read, &deploy, &short] {
        assert!(!list.stdout.contains(secret.as_str()));
    }
    assert!(
        list.json()
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "ci-read" && !t["last_used_at"].is_null())
    );

    // Revoking asks for confirmation; without a terminal, --yes is required.
    let r = c
        .admin
        .run(&["tokens", "revoke", "ci-read"], None)
        .fails_with(2);
    assert!(r.stderr.contains("--yes"), "{}", r.stderr);
    c.admin
        .run(&["tokens", "revoke", "ci-read", "--yes"], None)
        .ok();
    let r = p.run(&["ls"], None).fails_with(4);
    assert!(
        r.stderr.contains("unknown, revoked or expired"),
        "{}",
        r.stderr
    );
    c.admin
        .run(&["tokens", "revoke", "ci-read", "--yes"], None)
        .fails_with(3);

    // Expired tokens are refused.
    std::thread::sleep(Duration::from_millis(2_500));
    pipeline(&c, &short).run(&["ls"], None).fails_with(4);
}

#[test]
fn wait_gives_up_at_the_timeout_with_exit_code_5() {
    let c = Cluster::start();
    let started = Instant::now();
    // Port 80 declared, but the command never listens: never ready.
    let r = c
        .admin
        .deploy("custom", "slow")
        .web()
        .port(80)
        .wait()
        .flags(&["--timeout", "3s"])
        .command(&["sleep", "600"])
        .run()
        .fails_with(5);
    assert!(r.stderr.contains("still starting after 3s"), "{}", r.stderr);
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let c = Cluster::start();
    for i in 0..3 {
        c.admin.deploy("custom", &format!("w{i}")).web().ok();
    }
    // lattice's own exit status, not the pipe's: its stdout is closed before
    // it writes a byte, as `lattice … | head -1` leaves it once head is done.
    for args in [
        &["completion", "bash"][..],
        &["completion", "zsh"],
        &["completion", "fish"],
        &["ls"],
        &["ls", "-o", "json"],
        &["status", "w0"],
        &["status", "w0", "-o", "json"],
        &["nodes"],
        &["nodes", "-o", "json"],
        &["logs", "w0"],
        &["--help"],
        &["deploy", "--help"],
    ] {
        let r = c.admin.run_into_closed_pipe(args);
        assert_eq!(
            r.code, 0,
            "lattice {args:?} into a closed pipe exited {}: {}",
            r.code, r.stderr
        );
        assert!(
            !r.stderr.contains("panicked") && !r.stderr.contains("error"),
            "lattice {args:?}: {}",
            r.stderr
        );
    }
    // And through a real shell pipeline, as a user types it.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; {} ls -o json | head -1",
            lattice_e2e::bin("lattice").display()
        ))
        .env("LATTICE_CONFIG_DIR", &c.admin.config_dir)
        .env("LATTICE_TOKEN_STORE", "file")
        .env("LATTICE_SERVER", c.controld.url())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[");
}
