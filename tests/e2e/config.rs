//! Flags that make no sense are refused at start, by the real binaries,
//! with a sentence naming the flag — never a panic, never a busy loop.

use std::process::Command;

use lattice_e2e::bin;

fn refused(program: &str, args: &[&str]) -> String {
    let out = Command::new(bin(program))
        .args(args)
        .env("LATTICE_LOG", "info")
        .output()
        .expect("run the daemon");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{program} {args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn zero_durations_and_limits_are_refused_at_start() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().display().to_string();
    for (flag, value, says) in [
        ("--edge-idle-timeout", "0", "more than 0"),
        ("--node-lease", "0s", "more than 0"),
        ("--edge-max-connections", "0", "at least 1"),
        ("--edge-max-connections-per-workload", "0", "at least 1"),
    ] {
        let e = refused("lattice-controld", &["--data-dir", &data, flag, value]);
        assert!(e.contains(flag) && e.contains(says), "{flag}: {e}");
    }
    for (flag, value) in [("--heartbeat", "0s"), ("--ready-timeout", "0")] {
        let e = refused(
            "lattice-agentd",
            &[
                "--data-dir",
                &data,
                "--control",
                "https://127.0.0.1:1",
                flag,
                value,
            ],
        );
        assert!(e.contains(flag) && e.contains("more than 0"), "{flag}: {e}");
    }
    // Nothing was created for a refused start.
    assert!(
        std::fs::read_dir(dir.path()).expect("dir").next().is_none(),
        "a refused start wrote files"
    );
}
