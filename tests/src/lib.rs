//! Helpers for the end-to-end tests: start the real `lattice-controld`
//! binary on port 0 in a temp dir, run the real `lattice` CLI against it with
//! an isolated config dir, and collect every byte either printed so tests
//! can search it for secrets.
#![forbid(unsafe_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Path of a workspace binary built next to this test executable.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/debug/deps/e2e-xxxx → target/debug/<name>; a binary of this
    // crate (the benchmark) already sits in target/<profile>/.
    let mut dir = exe.parent().expect("target dir");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().expect("target dir");
    }
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace` first (make test does)",
        p.display()
    );
    p
}

/// Polls `f` until it returns Some or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A running `lattice-controld`.
pub struct Controld {
    /// Its data dir.
    pub data_dir: PathBuf,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// `sha256:…` clients pin.
    pub fingerprint: String,
    args: Vec<String>,
    child: Option<Child>,
    log: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Controld {
    /// Starts controld in a fresh temp data dir with extra flags.
    pub fn start(extra: &[&str]) -> anyhow::Result<Self> {
        let tmp = tempfile::tempdir()?;
        let data_dir = tmp.path().join("control");
        let mut c = Self::start_in(&data_dir, "127.0.0.1:0", extra)?;
        c._tmp = Some(tmp);
        Ok(c)
    }

    /// Starts controld with `data_dir` on `listen`.
    pub fn start_in(data_dir: &Path, listen: &str, extra: &[&str]) -> anyhow::Result<Self> {
        let mut c = Self {
            data_dir: data_dir.to_path_buf(),
            addr: String::new(),
            fingerprint: String::new(),
            args: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
            log: data_dir.with_extension("log"),
            _tmp: None,
        };
        c.spawn(listen)?;
        Ok(c)
    }

    fn spawn(&mut self, listen: &str) -> anyhow::Result<()> {
        let addr_file = self.data_dir.join("controld.addr");
        let _ = fs::remove_file(&addr_file);
        fs::create_dir_all(self.data_dir.parent().context("no parent")?)?;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut child = Command::new(bin("lattice-controld"))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(listen)
            .args(&self.args)
            .env(
                "LATTICE_LOG",
                std::env::var("LATTICE_TEST_CONTROLD_LOG").unwrap_or_else(|_| "debug".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("could not start lattice-controld")?;
        let ready = wait_for(Duration::from_secs(30), || {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(Err(status));
            }
            fs::read_to_string(&addr_file)
                .ok()
                .filter(|s| !s.is_empty())
                .map(Ok)
        });
        match ready {
            Some(Ok(addr)) => self.addr = addr.trim().to_string(),
            Some(Err(status)) => bail!("lattice-controld exited with {status}:\n{}", self.logs()),
            None => {
                let _ = child.kill();
                bail!("lattice-controld did not start in 30s:\n{}", self.logs())
            }
        }
        self.fingerprint = fs::read_to_string(self.data_dir.join("ca-fingerprint"))?
            .trim()
            .to_string();
        self.child = Some(child);
        Ok(())
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status()?;
            let exited = wait_for(Duration::from_secs(20), || child.try_wait().ok().flatten());
            match exited {
                Some(s) if s.success() => {}
                Some(s) => bail!("controld exited with {s} on SIGTERM:\n{}", self.logs()),
                None => {
                    let _ = child.kill();
                    bail!("controld did not stop within 20s of SIGTERM")
                }
            }
        }
        Ok(())
    }

    /// Stops and starts again on the same port and data dir.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        let listen = self.addr.clone();
        self.stop()?;
        self.spawn(&listen)
    }

    /// SIGKILL, as a crash would, then start again on the same port and data dir.
    pub fn crash_and_restart(&mut self) -> anyhow::Result<()> {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let listen = self.addr.clone();
        self.spawn(&listen)
    }

    /// Starts again (after [`Controld::stop`]) on `listen`.
    pub fn restart_at(&mut self, listen: &str) -> anyhow::Result<()> {
        self.stop()?;
        self.spawn(listen)
    }

    /// Everything controld has logged so far.
    pub fn logs(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Process id, if running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `https://ADDR`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The URL of the SQLite database (when not on Postgres).
    pub fn sqlite_url(&self) -> String {
        format!(
            "sqlite://{}?mode=ro",
            self.data_dir.join("lattice.db").display()
        )
    }

    /// The CA PEM, for raw gRPC clients.
    pub fn ca_pem(&self) -> String {
        fs::read_to_string(self.data_dir.join("tls/ca.pem")).unwrap_or_default()
    }

    /// A raw TLS gRPC channel, as a client that knows the CA would open.
    pub async fn channel(&self) -> anyhow::Result<tonic::transport::Channel> {
        let tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(self.ca_pem()))
            .domain_name("localhost");
        Ok(tonic::transport::Endpoint::from_shared(self.url())?
            .tls_config(tls)?
            .connect()
            .await?)
    }
}

impl Drop for Controld {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

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
            transcript: Arc::new(Mutex::new(String::new())),
            _tmp: Arc::new(tmp),
        }
    }

    /// Adds an environment variable to every run.
    pub fn with_env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// `lattice ARGS` as this user, ready to spawn.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin("lattice"));
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

    /// `deploy custom NAME --image lattice-local/web:latest --port 80 --wait`, which must succeed.
    #[track_caller]
    pub fn deploy_web(&self, name: &str) -> Run {
        self.run(
            &[
                "deploy",
                "custom",
                name,
                "--image",
                "lattice-local/web:latest",
                "--port",
                "80",
                "--wait",
            ],
            None,
        )
        .ok()
    }

    /// `deploy custom NAME --image lattice-local/web:latest --wait EXTRA… -- sh -c SCRIPT`,
    /// which must succeed.
    #[track_caller]
    pub fn deploy_sh(&self, name: &str, extra: &[&str], script: &str) -> Run {
        let mut args = vec![
            "deploy",
            "custom",
            name,
            "--image",
            "lattice-local/web:latest",
            "--wait",
        ];
        args.extend_from_slice(extra);
        args.extend(["--", "sh", "-c", script]);
        self.run(&args, None).ok()
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

/// A fresh, empty Postgres database for one test, on the server named by
/// `LATTICE_TEST_POSTGRES_URL` (make test starts one). Fails loudly when
/// none is configured: the Postgres backend is part of what we ship.
pub async fn fresh_postgres_database() -> anyhow::Result<String> {
    use sea_orm::ConnectionTrait;
    let admin = std::env::var("LATTICE_TEST_POSTGRES_URL").context(
        "LATTICE_TEST_POSTGRES_URL is not set: run the tests with `make test`, which starts a throwaway Postgres \
         (scripts/test-postgres.sh), or point it at a server where you may create databases",
    )?;
    let name = format!("lattice_e2e_{}", uuid::Uuid::new_v4().simple());
    let db = sea_orm::Database::connect(&admin).await?;
    db.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    db.close().await?;
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b)
        .context("LATTICE_TEST_POSTGRES_URL needs a /database")?;
    Ok(format!("{base}/{name}"))
}

/// Strings that must never be printed, and where each came from.
pub fn leaked<'a>(haystack: &str, secrets: &'a [(String, &'a str)]) -> Vec<&'a str> {
    secrets
        .iter()
        .filter(|(s, _)| !s.is_empty() && haystack.contains(s.as_str()))
        .map(|(_, what)| *what)
        .collect()
}

/// Runs `docker ARGS` and returns stdout (trimmed); panics if docker is missing.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Fails with instructions when the local images are missing.
pub fn require_images() {
    for i in [
        "lattice-local/postgres:latest",
        "lattice-local/s3:latest",
        "lattice-local/web:latest",
    ] {
        assert!(
            !docker(&["image", "inspect", "--format", "{{.Id}}", i]).is_empty(),
            "{i} is missing: run `make images` (make test does) — no registry is reachable here"
        );
    }
}

/// A running `lattice-agentd`.
pub struct Agentd {
    /// Its data dir.
    pub data_dir: PathBuf,
    child: Option<Child>,
    log: PathBuf,
    env: Vec<(String, String)>,
    args: Vec<String>,
}

impl Agentd {
    /// Starts an agent (joining with `token` if it has no identity yet).
    pub fn start(
        data_dir: &Path,
        control: &str,
        token: Option<&str>,
        env: &[(&str, &str)],
    ) -> Self {
        let mut args = vec![
            "--data-dir".to_string(),
            data_dir.display().to_string(),
            "--control".into(),
            control.into(),
        ];
        args.extend(["--heartbeat".into(), "1s".into()]);
        if let Some(t) = token {
            args.extend(["--join-token".into(), t.into()]);
        }
        let mut a = Self {
            data_dir: data_dir.to_path_buf(),
            child: None,
            log: data_dir.with_extension("log"),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            args,
        };
        a.spawn();
        a
    }

    fn spawn(&mut self) {
        fs::create_dir_all(self.data_dir.parent().expect("parent")).expect("dir");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log");
        let mut cmd = Command::new(bin("lattice-agentd"));
        cmd.args(&self.args)
            .env("LATTICE_LOG", "debug,h2=info,hyper=info,tower=info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("start lattice-agentd"));
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again (it rejoins with its stored identity).
    pub fn restart(&mut self) {
        self.kill9();
        self.args.retain(|a| !a.starts_with("LJT."));
        if let Some(i) = self.args.iter().position(|a| a == "--join-token") {
            self.args.remove(i);
        }
        self.spawn();
    }

    /// Everything it logged.
    pub fn logs(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Process id, if running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Agentd {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// controld + one joined agent + a signed-in admin, with the local images
/// as the catalogue. Containers and volumes of its node are removed on drop.
pub struct Cluster {
    /// The control plane.
    pub controld: Controld,
    /// The node agent.
    pub agent: Agentd,
    /// The first (admin) user.
    pub admin: Cli,
    /// The node's id (its containers carry it as a label).
    pub node_id: String,
    _tmp: tempfile::TempDir,
}

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery staple";

impl Cluster {
    /// Starts everything and waits until the node is ready.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Like [`Cluster::start`], with extra agent environment.
    pub fn start_with(agent_env: &[(&str, &str)]) -> Self {
        Self::start_full(agent_env, &[])
    }

    /// Like [`Cluster::start`], with extra agent environment and controld flags.
    pub fn start_full(agent_env: &[(&str, &str)], controld_extra: &[&str]) -> Self {
        require_images();
        let range = edge_range(20);
        let mut args = vec![
            "--postgres-image",
            "lattice-local/postgres:latest",
            "--s3-image",
            "lattice-local/s3:latest",
            "--node-lease",
            "3s",
        ];
        if !controld_extra.contains(&"--edge-ports") {
            args.extend(["--edge-ports", range.as_str()]);
        }
        args.extend_from_slice(controld_extra);
        let controld = Controld::start(&args).expect("controld");
        let admin = Cli::new(Some(&controld.url()));
        admin.register("admin@example.com", PASSWORD, &controld.fingerprint);
        let token = admin
            .run(&["nodes", "join-token", "-o", "json"], None)
            .ok()
            .json()["token"]
            .as_str()
            .expect("token")
            .to_string();
        let tmp = tempfile::tempdir().expect("tmp");
        let agent = Agentd::start(
            &tmp.path().join("agent"),
            &controld.url(),
            Some(&token),
            agent_env,
        );
        let node_id = wait_for(Duration::from_secs(30), || {
            let v = admin.run(&["nodes", "-o", "json"], None).json();
            let n = v.as_array()?.first()?.clone();
            (n["status"] != "unreachable")
                .then(|| n["id"].as_str().map(str::to_string))
                .flatten()
        })
        .unwrap_or_else(|| panic!("the agent did not connect:\n{}", agent.logs()));
        Self {
            controld,
            agent,
            admin,
            node_id,
            _tmp: tmp,
        }
    }

    /// A second user of the same control plane.
    pub fn user(&self, email: &str) -> Cli {
        let c = Cli::new(Some(&self.controld.url()));
        c.register(email, PASSWORD, &self.controld.fingerprint);
        c
    }

    /// Polls `lattice status NAME -o json` until `status` (or panics after `secs`).
    #[track_caller]
    pub fn wait_status(&self, cli: &Cli, name: &str, status: &str, secs: u64) -> serde_json::Value {
        wait_for(Duration::from_secs(secs), || {
            let r = cli.run(&["status", name, "-o", "json"], None);
            (r.code == 0)
                .then(|| r.json())
                .filter(|v| v["status"] == status)
        })
        .unwrap_or_else(|| {
            let r = cli.run(&["status", name], None);
            panic!(
                "{name} did not become {status}:\n{}{}\nagent:\n{}",
                r.stdout,
                r.stderr,
                self.agent.logs()
            )
        })
    }

    /// Ids of the containers of a workload on this node.
    pub fn containers_of(&self, workload_id: &str) -> Vec<String> {
        docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=lattice.workload={workload_id}"),
        ])
        .lines()
        .map(str::to_string)
        .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.agent.kill9();
        let filter = format!("label=lattice.node={}", self.node_id);
        let ids: Vec<String> = docker(&["ps", "-aq", "--filter", &filter])
            .lines()
            .map(str::to_string)
            .collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids.iter().map(String::as_str));
            docker(&args);
        }
        let vols: Vec<String> = docker(&["volume", "ls", "-q", "--filter", &filter])
            .lines()
            .map(str::to_string)
            .collect();
        if !vols.is_empty() {
            let mut args = vec!["volume", "rm", "-f"];
            args.extend(vols.iter().map(String::as_str));
            docker(&args);
        }
    }
}

/// A port range for one test's edge, distinct from every other test's in
/// this process (tests run in parallel). Below Linux's ephemeral range
/// (32768–60999), so no outgoing connection of a parallel test can hold one.
pub fn edge_range(len: u16) -> String {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 22000 + NEXT.fetch_add(len, Ordering::Relaxed);
    assert!(
        base + len < 32768,
        "edge test ranges ran into the ephemeral range"
    );
    format!("{base}-{}", base + len - 1)
}

/// "Another computer": a network namespace joined to this host by a veth
/// pair, whose only route is to the host's end. Removed on drop.
pub struct OtherComputer {
    /// Namespace name.
    pub ns: String,
    /// The host's address, as seen from the namespace.
    pub host_ip: String,
    veth: String,
}

impl OtherComputer {
    /// Creates the namespace (needs root, as CI has).
    pub fn new() -> Self {
        use std::sync::atomic::{AtomicU8, Ordering};
        static N: AtomicU8 = AtomicU8::new(1);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}{n}", std::process::id() % 10000);
        let ns = format!("lt{tag}");
        let veth = format!("lth{tag}");
        let peer = format!("ltc{tag}");
        let subnet = format!("10.231.{n}");
        let host_ip = format!("{subnet}.1");
        let ip = |args: &[&str]| {
            let out = Command::new("ip")
                .args(args)
                .output()
                .expect("ip (iproute2)");
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        let _ = Command::new("ip").args(["link", "del", &veth]).output();
        ip(&["netns", "add", &ns]);
        ip(&["link", "add", &veth, "type", "veth", "peer", "name", &peer]);
        ip(&["link", "set", &peer, "netns", &ns]);
        ip(&["addr", "add", &format!("{host_ip}/24"), "dev", &veth]);
        ip(&["link", "set", &veth, "up"]);
        ip(&[
            "netns",
            "exec",
            &ns,
            "ip",
            "addr",
            "add",
            &format!("{subnet}.2/24"),
            "dev",
            &peer,
        ]);
        ip(&["netns", "exec", &ns, "ip", "link", "set", &peer, "up"]);
        ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"]);
        Self { ns, host_ip, veth }
    }

    /// A command that runs inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns, program]);
        c
    }
}

impl Default for OtherComputer {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for OtherComputer {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .output();
    }
}

/// An HTTP GET to `url` (`http://host:port/path`), returning the status code.
pub fn http_status(url: &str) -> Option<u16> {
    use std::io::Read;
    let rest = url.strip_prefix("http://")?;
    let (hostport, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut s = std::net::TcpStream::connect(hostport).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}
