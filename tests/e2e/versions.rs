//! Changing a workload in place: a deploy of the same name with a new spec,
//! `env set`/`unset`, `rollback` — each a new version, same id, volume,
//! credentials and public endpoint; an unchanged spec changes nothing; a
//! bad version fails fast and is rolled back.

use lattice_e2e::{Cluster, docker, wait_for};
use serde_json::Value;
use std::time::Duration;

use crate::workloads_util::{access_url, container_env, psql, public_port};

#[test]
fn a_deploy_of_the_same_name_updates_in_place_and_every_version_can_come_back() {
    let c = Cluster::start();
    let cli = &c.admin;
    let first = cli
        .deploy("custom", "web")
        .web()
        .port(80)
        .env("GREETING", "one")
        .wait()
        .flags(&["-o", "json"])
        .ok()
        .json();
    assert_eq!(first["outcome"], "created");
    assert_eq!(first["version"], 1);
    let id = first["id"].as_str().expect("id").to_string();
    let port = public_port(&first);
    let old_container = c.containers_of(&id);

    // A new env value and a second port: version 2, same id and public port.
    let second = cli
        .deploy("custom", "web")
        .web()
        .port(80)
        .port(8080)
        .env("GREETING", "two")
        .wait()
        .flags(&["-o", "json"])
        .ok()
        .json();
    assert_eq!(second["outcome"], "updated", "{second}");
    assert_eq!(second["version"], 2);
    assert_eq!(second["id"], first["id"], "the same workload");
    assert_eq!(second["status"], "running");
    assert_eq!(
        public_port(&second),
        port,
        "the public endpoint survives the update"
    );
    let publics: Vec<&Value> = second["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .filter(|e| e["via"] == "public")
        .collect();
    assert_eq!(publics.len(), 2, "the new port got an endpoint: {second}");
    assert_ne!(
        c.containers_of(&id),
        old_container,
        "the container was recreated"
    );
    assert_eq!(container_env(&id, "GREETING").as_deref(), Some("two"));

    // The same spec again: nothing happens.
    let same = cli
        .deploy("custom", "web")
        .web()
        .port(80)
        .port(8080)
        .env("GREETING", "two")
        .flags(&["-o", "json"])
        .ok()
        .json();
    assert_eq!(same["outcome"], "unchanged");
    assert_eq!(same["version"], 2);
    let human = cli
        .deploy("custom", "web")
        .web()
        .port(80)
        .port(8080)
        .env("GREETING", "two")
        .ok();
    assert!(
        human.stdout.contains("unchanged (version 2)"),
        "{}",
        human.stdout
    );

    // env set / unset / ls, each a version.
    cli.run(
        &["env", "set", "web", "LEVEL=debug", "TOKEN=s3cr3t", "--wait"],
        None,
    )
    .ok();
    assert_eq!(container_env(&id, "LEVEL").as_deref(), Some("debug"));
    let ls = cli.run(&["env", "ls", "web"], None).ok();
    assert!(ls.stdout.contains("TOKEN=(hidden"), "{}", ls.stdout);
    assert!(!ls.stdout.contains("s3cr3t"), "values hidden unless asked");
    let shown = cli
        .run(&["env", "ls", "web", "--show-values", "-o", "json"], None)
        .ok()
        .json();
    assert_eq!(shown["TOKEN"], "s3cr3t");
    assert_eq!(shown["GREETING"], "two");
    cli.run(&["env", "unset", "web", "TOKEN", "--wait"], None)
        .ok();
    assert_eq!(container_env(&id, "TOKEN"), None);
    let r = cli
        .run(&["env", "unset", "web", "NOPE"], None)
        .fails_with(2);
    assert!(r.stderr.contains("NOPE is not set"), "{}", r.stderr);
    let r = cli.run(&["env", "set", "web", "oops"], None).fails_with(2);
    assert!(r.stderr.contains("KEY=value"), "{}", r.stderr);

    // History: newest first, with causes; no value anywhere.
    let h = cli.run(&["history", "web", "-o", "json"], None).ok().json();
    let versions: Vec<i64> = h
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v["version"].as_i64())
        .collect();
    assert_eq!(versions, [4, 3, 2, 1], "{h}");
    assert_eq!(h[0]["current"], true);
    assert_eq!(h[0]["cause"], "env unset TOKEN");
    assert_eq!(h[1]["cause"], "env set LEVEL TOKEN");
    assert!(
        !h.to_string().contains("s3cr3t"),
        "history shows names, not values"
    );
    let table = cli.run(&["history", "web"], None).ok();
    assert!(table.stdout.contains("v4 (current)"), "{}", table.stdout);

    // Roll back to version 1: a new version 5 with version 1's spec.
    let back = cli
        .run(&["rollback", "web", "1", "--wait", "-o", "json"], None)
        .ok()
        .json();
    assert_eq!(back["version"], 5);
    assert_eq!(back["status"], "running");
    assert_eq!(container_env(&id, "GREETING").as_deref(), Some("one"));
    assert_eq!(container_env(&id, "LEVEL"), None);
    let publics = back["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .filter(|e| e["via"] == "public")
        .count();
    assert_eq!(publics, 1, "the port version 1 did not have is let go");
    assert_eq!(
        public_port(&back),
        port,
        "and the first one is still the same"
    );
    let r = cli.run(&["rollback", "web", "5"], None).fails_with(1);
    assert!(r.stderr.contains("already runs version 5"), "{}", r.stderr);
    let r = cli.run(&["rollback", "web", "99"], None).fails_with(3);
    assert!(r.stderr.contains("no version 99"), "{}", r.stderr);
    let r = cli.run(&["rollback", "web", "two"], None).fails_with(2);
    assert!(r.stderr.contains("a number like 3"), "{}", r.stderr);

    // A version that cannot run fails fast; rollback (the default: the one
    // before) brings the workload back.
    let bad = cli
        .deploy("custom", "web")
        .image("lattice-local/no-such-image:1")
        .port(80)
        .wait()
        .flags(&["--timeout", "60s"])
        .run();
    assert_eq!(bad.code, 6, "fails fast: {}\n{}", bad.stdout, bad.stderr);
    cli.run(&["rollback", "web", "--wait"], None).ok();
    let st = cli.run(&["status", "web", "-o", "json"], None).ok().json();
    assert_eq!(st["status"], "running");
    assert_eq!(st["version"], 7);
    assert_eq!(st["image"], "lattice-local/web:latest");

    // Every change is in the audit log.
    let audit = cli
        .run(&["audit", "-o", "json", "--limit", "50"], None)
        .ok()
        .json();
    let actions: Vec<&str> = audit
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in [
        "deploy.update",
        "deploy.unchanged",
        "env.set",
        "env.reveal",
        "rollback",
    ] {
        assert!(actions.contains(&a), "{a} audited: {actions:?}");
    }
}

#[test]
fn a_postgres_update_keeps_its_data_credentials_and_endpoint() {
    let c = Cluster::start();
    let cli = &c.admin;
    cli.deploy("postgres", "db").wait().ok();
    let url = access_url(cli, "db");
    psql(
        &url,
        "create table t (v text); insert into t values ('kept')",
    );
    let up = cli
        .deploy("postgres", "db")
        .memory("300Mi")
        .wait()
        .flags(&["-o", "json"])
        .ok()
        .json();
    assert_eq!(up["outcome"], "updated");
    assert_eq!(up["limits"]["memory_bytes"], 300 * 1024 * 1024);
    let id = up["id"].as_str().expect("id");
    let mem = docker(&[
        "inspect",
        "--format",
        "{{.HostConfig.Memory}}",
        &format!("lattice-{id}"),
    ]);
    assert_eq!(
        mem,
        (300u64 * 1024 * 1024).to_string(),
        "the new limit reached Docker"
    );
    let same_url = access_url(cli, "db");
    assert_eq!(same_url, url, "same credentials and endpoint");
    let v = wait_for(Duration::from_secs(30), || {
        std::process::Command::new("psql")
            .arg(&url)
            .args(["-tAc", "select v from t"])
            .output()
            .ok()
            .filter(|o| o.status.success())
    })
    .expect("psql after the update");
    assert_eq!(String::from_utf8_lossy(&v.stdout).trim(), "kept");
    // Asking more than the node has is refused with the numbers, and
    // nothing changes.
    let r = cli
        .deploy("postgres", "db")
        .memory("30Gi")
        .run()
        .fails_with(9);
    assert!(
        r.stderr.contains("requested") && r.stderr.contains("free"),
        "{}",
        r.stderr
    );
    let st = cli.run(&["status", "db", "-o", "json"], None).ok().json();
    assert_eq!(st["version"], 2, "the refused version was not stored");
}
