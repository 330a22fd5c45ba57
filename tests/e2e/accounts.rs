//! Registration policies (open, invite, closed), disabling an account (its
//! sessions and tokens end at once), changing a password (other sessions
//! end) and a user's own sessions.

use lattice_e2e::{Cli, Controld, PASSWORD};

fn register(c: &Controld, email: &str, invite: Option<&str>) -> lattice_e2e::Run {
    let cli = Cli::new(Some(&c.url()));
    let mut args = vec![
        "register",
        "--email",
        email,
        "--password-stdin",
        "--trust-fingerprint",
        &c.fingerprint,
    ];
    if let Some(i) = invite {
        args.extend(["--invite", i]);
    }
    cli.run(&args, Some(&format!("{PASSWORD}\n")))
}

#[test]
fn registration_by_invite_or_closed_and_the_first_account_always_registers() {
    let c = Controld::in_process(&["--registration", "invite"]).expect("controld");
    let admin = Cli::new(Some(&c.url()));
    admin.register("admin@example.com", PASSWORD, &c.fingerprint);
    let r = register(&c, "bob@example.com", None).fails_with(1);
    assert!(r.stderr.contains("invite"), "{}", r.stderr);
    let r = register(&c, "bob@example.com", Some("lti_made-up")).fails_with(1);
    assert!(r.stderr.contains("invite"), "{}", r.stderr);
    let inv = admin
        .run(&["invites", "create", "-o", "json"], None)
        .ok()
        .json();
    let code = inv["code"].as_str().expect("code").to_string();
    register(&c, "bob@example.com", Some(&code)).ok();
    let r = register(&c, "eve@example.com", Some(&code)).fails_with(1);
    assert!(
        r.stderr.contains("works once"),
        "an invite works once: {}",
        r.stderr
    );
    // Only an admin makes invites.
    let bob = Cli::new(Some(&c.url()));
    bob.run(&["trust", "--trust-fingerprint", &c.fingerprint], None)
        .ok();
    bob.login("bob@example.com", PASSWORD).ok();
    bob.run(&["invites", "create"], None).fails_with(4);

    let closed = Controld::in_process(&["--registration", "closed"]).expect("controld");
    register(&closed, "first@example.com", None).ok();
    let r = register(&closed, "second@example.com", None).fails_with(1);
    assert!(r.stderr.contains("registration is closed"), "{}", r.stderr);
}

#[test]
fn disabling_ends_sessions_and_tokens_and_passwd_ends_the_other_sessions() {
    // Many sign-ins from one address in a few seconds: above the default rate.
    let c = Controld::in_process(&["--auth-rate-per-minute", "600"]).expect("controld");
    let admin = Cli::new(Some(&c.url()));
    admin.register("admin@example.com", PASSWORD, &c.fingerprint);
    let bob = Cli::new(Some(&c.url()));
    bob.register("bob@example.com", PASSWORD, &c.fingerprint);
    let token = bob
        .run(&["tokens", "create", "ci", "-o", "json"], None)
        .ok()
        .json()["token"]
        .as_str()
        .expect("token")
        .to_string();
    let ci = Cli::new(Some(&c.url())).with_env("LATTICE_TOKEN", &token);
    ci.run(&["trust", "--trust-fingerprint", &c.fingerprint], None)
        .ok();
    ci.run(&["ls"], None).ok();

    // Disabled: every credential stops at once, and sign-in says why.
    admin
        .run(&["users", "disable", "bob@example.com", "--yes"], None)
        .ok();
    let r = bob.run(&["whoami"], None).fails_with(4);
    assert!(r.stderr.contains("disabled"), "{}", r.stderr);
    ci.run(&["ls"], None).fails_with(4);
    let r = bob.login("bob@example.com", PASSWORD).fails_with(4);
    assert!(r.stderr.contains("disabled"), "{}", r.stderr);
    admin
        .run(&["users", "disable", "admin@example.com", "--yes"], None)
        .fails_with(1);
    admin
        .run(&["users", "disable", "nobody@example.com", "--yes"], None)
        .fails_with(3);
    bob.run(&["users", "enable", "bob@example.com"], None)
        .fails_with(4);

    // Enabled again: a new sign-in works; the old token stays gone.
    admin
        .run(&["users", "enable", "bob@example.com"], None)
        .ok();
    bob.login("bob@example.com", PASSWORD).ok();
    ci.run(&["ls"], None).fails_with(4);

    // Two more sessions; bob sees all three, this one marked.
    let laptop = Cli::new(Some(&c.url()));
    laptop
        .run(&["trust", "--trust-fingerprint", &c.fingerprint], None)
        .ok();
    laptop.login("bob@example.com", PASSWORD).ok();
    let phone = Cli::new(Some(&c.url()));
    phone
        .run(&["trust", "--trust-fingerprint", &c.fingerprint], None)
        .ok();
    phone.login("bob@example.com", PASSWORD).ok();
    let list = bob.run(&["sessions", "ls", "-o", "json"], None).ok().json();
    let list = list.as_array().expect("array").clone();
    assert_eq!(list.len(), 3, "{list:?}");
    assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1);
    let phone_id = phone
        .run(&["sessions", "ls", "-o", "json"], None)
        .ok()
        .json()
        .as_array()
        .expect("array")
        .iter()
        .find(|s| s["current"] == true)
        .and_then(|s| s["id"].as_str())
        .expect("current id")
        .to_string();
    bob.run(&["sessions", "revoke", &phone_id], None).ok();
    phone.run(&["whoami"], None).fails_with(4);
    bob.run(&["sessions", "revoke", &phone_id], None)
        .fails_with(3);

    // A new password ends the other sessions, not this one.
    let new = "a much better passphrase";
    let r = bob
        .run(
            &["passwd", "--password-stdin"],
            Some(&format!("wrong one\n{new}\n")),
        )
        .fails_with(4);
    assert!(r.stderr.contains("current password"), "{}", r.stderr);
    bob.run(
        &["passwd", "--password-stdin"],
        Some(&format!("{PASSWORD}\n{new}\n")),
    )
    .ok();
    bob.run(&["whoami"], None).ok();
    laptop.run(&["whoami"], None).fails_with(4);
    laptop.login("bob@example.com", PASSWORD).fails_with(4);
    laptop.login("bob@example.com", new).ok();

    let audit = admin.run(&["audit", "-o", "json"], None).ok().json();
    let actions: Vec<&str> = audit
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in ["users.disable", "users.enable", "sessions.revoke", "passwd"] {
        assert!(actions.contains(&a), "{a} audited: {actions:?}");
    }
}
