//! Helpers the workload tests share: a psql client, a container's env, a
//! workload's public port.

use lattice_e2e::{Cli, docker};
use serde_json::Value;

/// Runs SQL with the real psql client; it must succeed.
#[track_caller]
pub fn psql(url: &str, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-tAc", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The value of `key` in a workload's container env (as Docker has it).
pub fn container_env(workload_id: &str, key: &str) -> Option<String> {
    let env = docker(&[
        "inspect",
        "--format",
        "{{range .Config.Env}}{{println .}}{{end}}",
        &format!("lattice-{workload_id}"),
    ]);
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_string))
}

/// The first public endpoint's port of a workload's JSON.
#[track_caller]
pub fn public_port(w: &Value) -> u64 {
    w["endpoints"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["via"] == "public"))
        .and_then(|e| e["port"].as_u64())
        .unwrap_or_else(|| panic!("no public endpoint: {w}"))
}

/// `lattice access NAME --format url`: the URL with its secrets.
#[track_caller]
pub fn access_url(cli: &Cli, name: &str) -> String {
    cli.run(&["access", name, "--format", "url"], None)
        .ok()
        .stdout
        .trim()
        .to_string()
}
