//! `lattice exec`: output and exit codes come back, stdin goes in, a time
//! limit stops (and kills) a command, only the owner may run one, nothing of
//! the command reaches a log, and `-it` is a real terminal: raw keys, Ctrl-C
//! to the remote, the window's size, the shell's exit code.

use std::process::Command;
use std::time::Duration;

use lattice_e2e::{Cluster, docker, on_a_terminal, wait_for};

#[test]
fn exec_runs_commands_with_their_output_input_limits_and_owner() {
    let c = Cluster::processes();
    let cli = &c.admin;
    cli.deploy_web("web");

    let r = cli.run(
        &[
            "exec",
            "web",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
        None,
    );
    assert_eq!(r.code, 3, "the command's exit code is ours: {r:?}");
    assert_eq!(r.stdout, "out\n");
    assert!(r.stderr.contains("err"), "stderr stays stderr: {r:?}");

    // stdin goes in, and its end arrives (wc would wait forever otherwise).
    let r = cli
        .run(
            &["exec", "-i", "web", "--", "wc", "-c"],
            Some("hello, lattice\n"),
        )
        .ok();
    assert_eq!(r.stdout.trim(), "15");
    // Large input and output stream through without loss.
    let big = "x".repeat(3 * 1024 * 1024);
    let r = cli
        .run(
            &["exec", "-i", "web", "--", "sh", "-c", "cat | sha256sum"],
            Some(&big),
        )
        .ok();
    let want = Command::new("sh")
        .args(["-c", "head -c 3145728 /dev/zero | tr '\\0' x | sha256sum"])
        .output()
        .expect("sha256sum");
    assert_eq!(r.stdout, String::from_utf8_lossy(&want.stdout));

    // A time limit stops the command — in the container too.
    let r = cli
        .run(
            &["exec", "--timeout", "1s", "web", "--", "sleep", "4242"],
            None,
        )
        .fails_with_any();
    assert!(r.stderr.contains("did not finish within 1s"), "{r:?}");
    let name = format!(
        "lattice-{}",
        cli.run(&["status", "web", "-o", "json"], None).ok().json()["id"]
            .as_str()
            .expect("id")
    );
    let gone = wait_for(Duration::from_secs(10), || {
        (!docker(&["top", &name]).contains("4242")).then_some(())
    });
    assert!(
        gone.is_some(),
        "the command still runs:\n{}",
        docker(&["top", &name])
    );

    // No command, a stopped workload, another user's workload: clear refusals.
    let r = cli.run(&["exec", "web"], None).fails_with(2);
    assert!(
        r.stderr.contains("--") || r.stderr.contains("COMMAND"),
        "{r:?}"
    );
    let eve = c.user("eve@example.com");
    let r = eve
        .run(&["exec", "web", "--", "true"], None)
        .fails_with_any();
    assert!(r.stderr.contains("no workload named"), "{r:?}");
    cli.run(&["stop", "web", "--wait"], None).ok();
    let r = cli
        .run(&["exec", "web", "--", "true"], None)
        .fails_with_any();
    assert!(r.stderr.contains("web is stopped"), "{r:?}");
    cli.run(&["start", "web", "--wait"], None).ok();

    // Audited without the command, which may hold secrets; in no log either.
    cli.run(&["exec", "web", "--", "echo", "hunter2-exec-secret"], None)
        .ok();
    let audit = cli.run(&["audit", "-o", "json"], None).ok().stdout;
    assert!(audit.contains("\"exec\""), "{audit}");
    for text in [audit, c.controld.logs(), c.agent.logs()] {
        assert!(!text.contains("hunter2-exec-secret"));
    }
}

#[test]
fn exec_it_is_a_real_terminal() {
    let c = Cluster::start();
    let cli = &c.admin;
    cli.deploy_web("web");
    let mut cmd = cli.command(&["exec", "-it", "web", "--", "sh"]);
    cmd.env("TERM", "xterm-256color");
    let (code, shown) = on_a_terminal(
        &cmd,
        &[
            ("# ", "stty size; echo term=$TERM; tty\r"),
            ("/dev/pts/", "sleep 4242\r"),
            ("", "\x03"),
            // The shell survives Ctrl-C (its sleep does not) and prompts again.
            ("# ", "resize 40 120"),
            ("", "stty size\r"),
            ("40 120", "exit 7\r"),
        ],
    );
    assert_eq!(code, Some(7), "the shell's exit code is ours: {shown}");
    assert!(shown.contains("30 100"), "the window's size: {shown}");
    assert!(shown.contains("term=xterm-256color"), "{shown}");
    assert!(
        shown.contains("^C"),
        "Ctrl-C reached the remote terminal: {shown}"
    );
}
