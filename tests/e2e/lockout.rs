//! Lockout cannot be turned on a victim: failures count per (account,
//! client address), so an attacker at another address locks only itself
//! out, while the owner still signs in (a little slower).

use std::time::{Duration, Instant};

use lattice_e2e::{Cli, Controld, OtherComputer, PASSWORD};

#[test]
fn lockout_from_one_address_does_not_lock_the_owner_at_another() {
    let other = OtherComputer::new();
    let tmp = tempfile::tempdir().expect("tmp");
    let c = Controld::start_in(
        &tmp.path().join("control"),
        "0.0.0.0:0",
        &[
            "--lockout-threshold",
            "3",
            "--lockout-duration",
            "10m",
            "--public-host",
            &other.host_ip,
        ],
    )
    .expect("controld");
    let port = c.url().rsplit(':').next().expect("port").to_string();
    let owner = Cli::new(Some(&format!("https://127.0.0.1:{port}")));
    owner.register("ada@example.com", PASSWORD, &c.fingerprint);
    owner.run(&["logout"], None).ok();

    // From "another computer", someone guesses until that address is locked.
    let attacker = Cli::new(Some(&format!("https://{}:{port}", other.host_ip))).in_netns(&other.ns);
    attacker
        .run(&["trust", "--trust-fingerprint", &c.fingerprint], None)
        .ok();
    for _ in 0..3 {
        attacker
            .login("ada@example.com", "a wrong guess")
            .fails_with_any();
    }
    let r = attacker.login("ada@example.com", PASSWORD).fails_with(1);
    assert!(
        r.stderr.contains("locked") && r.stderr.contains("from your address"),
        "the attacker's address is locked, even with the right password: {}",
        r.stderr
    );

    // The owner, at their own address, still signs in: slowed down, not locked.
    let started = Instant::now();
    owner.login("ada@example.com", PASSWORD).ok();
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(1), "slowed down: {took:?}");
    owner.run(&["whoami"], None).ok();

    // The owner's own mistakes lock only the owner's address in turn.
    owner.run(&["logout"], None).ok();
    for _ in 0..3 {
        owner.login("ada@example.com", "typo").fails_with_any();
    }
    owner.login("ada@example.com", PASSWORD).fails_with(1);
}
