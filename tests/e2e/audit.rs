//! The audit log: every mutating call and sign-in attempt is recorded with
//! actor, action, target, source and outcome; an admin sees everything, a
//! user their own; no secret appears in it or in the server's log.

use lattice_e2e::{Cli, Cluster, PASSWORD};
use serde_json::Value;

fn audit(cli: &Cli, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["audit", "-o", "json"];
    if !extra.contains(&"--limit") {
        args.extend(["--limit", "1000"]);
    }
    args.extend_from_slice(extra);
    cli.run(&args, None)
        .ok()
        .json()
        .as_array()
        .expect("array")
        .clone()
}

fn has(entries: &[Value], actor: &str, action: &str, target: &str, outcome: &str) -> bool {
    entries.iter().any(|e| {
        e["actor"] == actor
            && e["action"] == action
            && e["target"] == target
            && e["outcome"] == outcome
    })
}

#[test]
fn every_change_and_sign_in_is_audited_without_secrets() {
    let c = Cluster::processes();
    let admin = &c.admin;
    let bob = c.user("bob@example.com");
    let a = "admin@example.com";
    let b = "bob@example.com";

    bob.deploy("postgres", "db").wait().ok();
    let creds = bob
        .run(&["access", "db", "-o", "json", "--show-secrets"], None)
        .ok()
        .json();
    let old_password = creds["credentials"]["password"]
        .as_str()
        .expect("password")
        .to_string();
    let rotated = bob
        .run(
            &[
                "access",
                "db",
                "--rotate",
                "--yes",
                "-o",
                "json",
                "--show-secrets",
            ],
            None,
        )
        .ok()
        .json();
    let new_password = rotated["credentials"]["password"]
        .as_str()
        .expect("password")
        .to_string();
    assert_ne!(old_password, new_password);
    bob.run(&["stop", "db", "--wait"], None).ok();
    bob.run(&["start", "db", "--wait"], None).ok();
    bob.run(&["restart", "db"], None).ok();
    bob.run(&["stop", "nosuch"], None).fails_with(3);
    let token = bob
        .run(
            &["tokens", "create", "ci", "--scope", "read", "-o", "json"],
            None,
        )
        .ok()
        .json()["token"]
        .as_str()
        .expect("token")
        .to_string();
    bob.run(&["tokens", "revoke", "ci", "--yes"], None).ok();
    // A wrong password, then the right one, from the same machine.
    let wrong = "not the password at all";
    let intruder = Cli::new(Some(&c.controld.url()));
    let tried = intruder.run(
        &[
            "login",
            "--email",
            b,
            "--password-stdin",
            "--trust-fingerprint",
            &c.controld.fingerprint,
        ],
        Some(&format!("{wrong}\n")),
    );
    assert_ne!(tried.code, 0, "{}", tried.stderr);
    bob.login(b, PASSWORD).ok();
    bob.run(&["rm", "db", "--purge", "--yes", "--wait"], None)
        .ok();
    // An admin-only call refused to a user is recorded as denied.
    assert_ne!(bob.run(&["nodes", "join-token"], None).code, 0);
    admin.run(&["nodes", "join-token", "-o", "json"], None).ok();

    let all = audit(admin, &[]);
    for (actor, action, target, outcome) in [
        (b, "register", b, "ok"),
        (b, "deploy", "db", "ok"),
        (b, "access", "db", "ok"),
        (b, "access.rotate", "db", "ok"),
        (b, "stop", "db", "ok"),
        (b, "start", "db", "ok"),
        (b, "restart", "db", "ok"),
        (b, "stop", "nosuch", "not_found"),
        (b, "tokens.create", "ci", "ok"),
        (b, "tokens.revoke", "ci", "ok"),
        (b, "login", b, "denied"),
        (b, "login", b, "ok"),
        (b, "rm.purge", "db", "ok"),
        (b, "nodes.join-token", "join token", "denied"),
        (a, "nodes.join-token", "join token", "ok"),
    ] {
        assert!(
            has(&all, actor, action, target, outcome),
            "missing {actor} {action} {target} {outcome} in\n{all:#?}"
        );
    }
    assert!(
        all.iter().all(|e| e["source"] == "127.0.0.1"),
        "every entry names the client address: {all:#?}"
    );

    // A user sees their own entries only; a filter narrows them.
    let mine = audit(&bob, &[]);
    assert!(!mine.is_empty());
    assert!(mine.iter().all(|e| e["actor"] == b), "{mine:#?}");
    let logins = audit(&bob, &["--action", "login"]);
    assert!(logins.iter().all(|e| e["action"] == "login") && logins.len() >= 2);

    // Newest first, with a bound.
    let two = audit(admin, &["--limit", "2"]);
    assert_eq!(two.len(), 2);
    assert!(two[0]["at"].as_str() >= two[1]["at"].as_str());

    // No secret anywhere: not in the audit log, not in the server's log.
    let text = format!(
        "{}\n{}",
        serde_json::to_string(&all).expect("json"),
        c.controld.logs()
    );
    for secret in [&old_password, &new_password, &token, PASSWORD, wrong] {
        assert!(
            !text.contains(secret),
            "a secret leaked into the audit or server log"
        );
    }

    // The table for people.
    let table = admin.run(&["audit", "--limit", "5"], None).ok().stdout;
    assert!(
        table.contains("ACTION") && table.contains("OUTCOME"),
        "{table}"
    );
}
