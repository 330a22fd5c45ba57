//! The real `lattice` CLI as one user on one machine: its own config dir,
//! one way to spawn it with its environment, and a deploy builder.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::bin;

/// Result of one CLI run.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 if killed).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Panics with both streams unless the run succeeded.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    /// Panics unless the run failed with `code`.
    #[track_caller]
    pub fn fails_with(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts the run failed (any non-zero code).
    #[track_caller]
    pub fn fails_with_any(self) -> Self {
        assert_ne!(
            self.code, 0,
            "expected a failure\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    /// Parses stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// A `lattice` user on some machine: its own config dir (and so its own
/// pins and tokens), with every run's output recorded.
#[derive(Clone)]
pub struct Cli {
    /// The config dir (`LATTICE_CONFIG_DIR`).
    pub config_dir: PathBuf,
    server: Option<String>,
    env: Vec<(String, String)>,
    netns: Option<String>,
    transcript: Arc<Mutex<String>>,
    _tmp: Arc<tempfile::TempDir>,
}

impl Cli {
    /// A new user pointed at `server` (pass None to rely on the saved current server).
    pub fn new(server: Option<&str>) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        Self {
            config_dir: tmp.path().join("cli"),
            server: server.map(str::to_string),
            env: vec![("LATTICE_TOKEN_STORE".into(), "file".into())],
            netns: None,
            transcript: Arc::new(Mutex::new(String::new())),
            _tmp: Arc::new(tmp),
        }
    }

    /// Adds an environment variable to every run.
    pub fn with_env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// The same user on "another computer": every run inside network namespace `ns`.
    pub fn in_netns(mut self, ns: &str) -> Self {
        self.netns = Some(ns.to_string());
        self
    }

    /// `lattice ARGS` as this user, ready to spawn.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(bin("lattice"));
                c
            }
            None => Command::new(bin("lattice")),
        };
        if let Some(s) = &self.server {
            cmd.arg("--server").arg(s);
        }
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "HOME",
                self.config_dir.parent().unwrap_or(Path::new("/tmp")),
            )
            .env("LATTICE_CONFIG_DIR", &self.config_dir);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `lattice ARGS` with its standard output already closed, as
    /// `lattice … | head` ends up once `head` has read enough.
    pub fn run_into_closed_pipe(&self, args: &[&str]) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn lattice");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait lattice");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::new(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `lattice ARGS`, with `stdin` piped in (no TTY either way).
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut cmd = self.command(args);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn lattice");
        if let Some(input) = stdin {
            let mut si = child.stdin.take().expect("stdin");
            let _ = si.write_all(input.as_bytes());
        }
        let out = child.wait_with_output().expect("wait lattice");
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        if let Ok(mut t) = self.transcript.lock() {
            t.push_str(&format!(
                "$ lattice {}\n{}{}",
                args.join(" "),
                run.stdout,
                run.stderr
            ));
        }
        run
    }

    /// Registers (and so signs in) `email` with `password`, trusting `fp`.
    #[track_caller]
    pub fn register(&self, email: &str, password: &str, fp: &str) -> Run {
        self.run(
            &[
                "register",
                "--email",
                email,
                "--password-stdin",
                "--trust-fingerprint",
                fp,
            ],
            Some(&format!("{password}\n")),
        )
        .ok()
    }

    /// `deploy KIND NAME`, to be given flags and run.
    pub fn deploy<'a>(&'a self, kind: &str, name: &str) -> Deploy<'a> {
        Deploy {
            cli: self,
            args: vec!["deploy".into(), kind.into(), name.into()],
            command: Vec::new(),
        }
    }

    /// `deploy custom NAME --image lattice-local/web:latest --port 80 --wait`, which must succeed.
    #[track_caller]
    pub fn deploy_web(&self, name: &str) -> Run {
        self.deploy("custom", name).web().port(80).wait().ok()
    }

    /// `deploy custom NAME --image lattice-local/web:latest --wait EXTRA… -- sh -c SCRIPT`,
    /// which must succeed.
    #[track_caller]
    pub fn deploy_sh(&self, name: &str, extra: &[&str], script: &str) -> Run {
        self.deploy("custom", name)
            .web()
            .wait()
            .flags(extra)
            .sh(script)
            .ok()
    }

    /// A new node join token (`nodes join-token`), which must be issued.
    #[track_caller]
    pub fn join_token(&self) -> String {
        self.run(&["nodes", "join-token", "-o", "json"], None)
            .ok()
            .json()["token"]
            .as_str()
            .expect("a join token")
            .to_string()
    }

    /// Signs in.
    pub fn login(&self, email: &str, password: &str) -> Run {
        self.run(
            &["login", "--email", email, "--password-stdin"],
            Some(&format!("{password}\n")),
        )
    }

    /// Everything printed by every run so far.
    pub fn transcript(&self) -> String {
        self.transcript
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default()
    }

    /// The stored session for `url` (file token store), as JSON.
    pub fn stored_session(&self, url: &str) -> Option<serde_json::Value> {
        let s = fs::read_to_string(self.config_dir.join("credentials.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&s).ok()?;
        v.get(url).cloned()
    }

    /// Path of the file token store.
    pub fn credentials_file(&self) -> PathBuf {
        self.config_dir.join("credentials.json")
    }
}

/// A `lattice deploy` being put together: `cli.deploy("custom", "web").web().port(80).wait().ok()`.
#[must_use = "a deploy does nothing until .run() or .ok()"]
pub struct Deploy<'a> {
    cli: &'a Cli,
    args: Vec<String>,
    command: Vec<String>,
}

impl Deploy<'_> {
    fn flag(mut self, name: &str, value: impl Into<String>) -> Self {
        self.args.push(name.into());
        self.args.push(value.into());
        self
    }

    /// `--image IMAGE`.
    pub fn image(self, image: &str) -> Self {
        self.flag("--image", image)
    }

    /// `--image lattice-local/web:latest` (the test web server, with a shell).
    pub fn web(self) -> Self {
        self.image("lattice-local/web:latest")
    }

    /// `--port PORT`.
    pub fn port(self, port: u32) -> Self {
        self.flag("--port", port.to_string())
    }

    /// `--env KEY=VALUE`.
    pub fn env(self, key: &str, value: &str) -> Self {
        self.flag("--env", format!("{key}={value}"))
    }

    /// `--cpu CPUS`.
    pub fn cpu(self, cpus: &str) -> Self {
        self.flag("--cpu", cpus)
    }

    /// `--memory SIZE`.
    pub fn memory(self, size: &str) -> Self {
        self.flag("--memory", size)
    }

    /// `--wait`.
    pub fn wait(mut self) -> Self {
        self.args.push("--wait".into());
        self
    }

    /// Any other flags, as typed.
    pub fn flags(mut self, flags: &[&str]) -> Self {
        self.args.extend(flags.iter().map(|f| f.to_string()));
        self
    }

    /// `-- ARGV…`: the container's command.
    pub fn command(mut self, argv: &[&str]) -> Self {
        self.command = argv.iter().map(|a| a.to_string()).collect();
        self
    }

    /// `-- sh -c SCRIPT`.
    pub fn sh(self, script: &str) -> Self {
        self.command(&["sh", "-c", script])
    }

    /// The full argument list.
    pub fn args(&self) -> Vec<String> {
        let mut all = self.args.clone();
        if !self.command.is_empty() {
            all.push("--".into());
            all.extend(self.command.iter().cloned());
        }
        all
    }

    /// Runs it, whatever the outcome.
    pub fn run(self) -> Run {
        let args = self.args();
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.cli.run(&refs, None)
    }

    /// Runs it; it must succeed.
    #[track_caller]
    pub fn ok(self) -> Run {
        self.run().ok()
    }
}
