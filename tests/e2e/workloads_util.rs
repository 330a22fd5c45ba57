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

/// The real `aws` CLI signed in to an S3 workload through its public
/// endpoint (credentials from `lattice access NAME --format env`).
pub struct Aws {
    endpoint: String,
    vars: Vec<(String, String)>,
}

impl Aws {
    /// For `name`, as `cli`'s user.
    #[track_caller]
    pub fn of(cli: &Cli, name: &str) -> Self {
        let env = cli
            .run(&["access", name, "--format", "env"], None)
            .ok()
            .stdout;
        let vars = env
            .lines()
            .filter_map(|l| {
                l.strip_prefix("export ")?
                    .split_once('=')
                    .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
            })
            .collect();
        let endpoint = cli
            .run(&["access", name, "--format", "endpoint"], None)
            .ok()
            .stdout
            .trim()
            .to_string();
        Self { endpoint, vars }
    }

    /// The public endpoint it talks to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Runs `aws --endpoint-url … ARGS`; it must succeed.
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("aws")
            .args(["--endpoint-url", &self.endpoint])
            .args(args)
            .envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .expect("aws cli");
        assert!(
            out.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
