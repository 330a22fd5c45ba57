//! What a person at a terminal sees: `register` asks to trust the server
//! before it asks for the password, and checks the password's rules before
//! asking for it twice — driven on a real pseudo-terminal.

use std::process::Command;

use lattice_e2e::{Cluster, on_a_terminal};

#[test]
fn register_asks_trust_first_and_checks_the_password_before_asking_twice() {
    let c = Cluster::start();
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().display().to_string();
    let mut cmd = Command::new(lattice_e2e::bin("lattice"));
    cmd.args([
        "--server",
        &c.controld.url(),
        "register",
        "--email",
        "tty@example.com",
    ])
    .env("LATTICE_CONFIG_DIR", &config)
    .env("LATTICE_TOKEN_STORE", "file");
    let (code, shown) = on_a_terminal(
        &cmd,
        &[
            ("Trust this server?", "y\n"),
            ("Password: ", "short\n"),
            ("try again", "correct horse battery staple\n"),
            ("Repeat password: ", "correct horse battery staple\n"),
        ],
    );
    assert_eq!(code, Some(0), "{shown}");
    let trust = shown.find("Trust this server?").expect("trust prompt");
    let password = shown.find("Password: ").expect("password prompt");
    assert!(trust < password, "the trust prompt comes first: {shown}");
    let rule = shown.find("must be at least").expect("the rule, at once");
    let repeat = shown.find("Repeat password").expect("repeat prompt");
    assert!(rule < repeat, "checked before asking twice: {shown}");
    assert!(shown.contains("Registered tty@example.com"), "{shown}");
    assert!(
        !shown.contains("short"),
        "passwords are not echoed: {shown}"
    );
}
