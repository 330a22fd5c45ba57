//! `make demo`'s script, end to end, in a directory and on ports of its
//! own: every step it announces runs, each shows what it should, no secret
//! is printed, and `demo.sh stop` leaves nothing running.

use std::path::PathBuf;
use std::process::Command;

fn demo(root: &std::path::Path, edge: &str, arg: Option<&str>) -> std::process::Output {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/demo.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(script)
        .args(arg)
        .env("LATTICE_DEMO_ROOT", root)
        .env("LATTICE_DEMO_LISTEN", "127.0.0.1:0")
        .env("LATTICE_DEMO_EDGE_PORTS", edge)
        .env_remove("LATTICE_SERVER")
        .env_remove("LATTICE_TOKEN");
    cmd.output().expect("demo.sh")
}

#[test]
fn the_demo_runs_every_step_and_stops_cleanly() {
    lattice_e2e::require_images();
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("demo");
    let edge = lattice_e2e::edge_range(10);
    let out = demo(&root, &edge, None);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stop = demo(&root, &edge, Some("stop"));
    assert!(out.status.success(), "{text}");
    for want in [
        "==> lattice deploy postgres demo-db --wait",
        "visits so far: 1",
        "==> aws s3 cp / ls through the public endpoint",
        "hello.txt",
        "<h1>lattice-local/web</h1>",
        "==> lattice logs demo-web --tail 5",
        "response:200",
        "demo-web: stopped",
        "The web console: https://",
        "Try next:",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let password = std::fs::read_to_string(root.join("demo-password")).expect("password file");
    assert!(
        !text.contains(password.trim()),
        "the demo printed its password"
    );
    let stopped = String::from_utf8_lossy(&stop.stdout);
    assert!(
        stop.status.success() && stopped.contains("removed demo-db"),
        "{stopped}"
    );
    assert!(stopped.contains("stopped controld"), "{stopped}");
}
