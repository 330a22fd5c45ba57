//! `lattice-controld` for a test: the real binary as a process (for
//! signals, kill -9 and its log), or the same server in this process
//! through the library (for everything else).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::inproc::InProcess;
use crate::{bin, wait_for};

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
    inproc: Option<InProcess>,
    in_process: bool,
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

    /// Starts controld in this process (through its library) in a fresh temp
    /// data dir with extra flags: for tests that need no process boundary.
    pub fn in_process(extra: &[&str]) -> anyhow::Result<Self> {
        Self::in_process_on("127.0.0.1:0", extra)
    }

    /// Like [`Controld::in_process`], listening on `listen`.
    pub fn in_process_on(listen: &str, extra: &[&str]) -> anyhow::Result<Self> {
        let tmp = tempfile::tempdir()?;
        let mut c = Self::new(&tmp.path().join("control"), extra, true);
        c._tmp = Some(tmp);
        c.spawn(listen)?;
        Ok(c)
    }

    /// Starts controld with `data_dir` on `listen`.
    pub fn start_in(data_dir: &Path, listen: &str, extra: &[&str]) -> anyhow::Result<Self> {
        let mut c = Self::new(data_dir, extra, false);
        c.spawn(listen)?;
        Ok(c)
    }

    fn new(data_dir: &Path, extra: &[&str], in_process: bool) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            addr: String::new(),
            fingerprint: String::new(),
            args: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
            inproc: None,
            in_process,
            log: data_dir.with_extension("log"),
            _tmp: None,
        }
    }

    fn spawn(&mut self, listen: &str) -> anyhow::Result<()> {
        let addr_file = self.data_dir.join("controld.addr");
        let _ = fs::remove_file(&addr_file);
        fs::create_dir_all(self.data_dir.parent().context("no parent")?)?;
        if self.in_process {
            return self.spawn_in_process(listen, &addr_file);
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        // `LATTICE_TEST_CONTROLD_WRAPPER="PROGRAM ARGS"` runs controld as
        // `PROGRAM ARGS <controld> <flags>`, e.g. under a profiler
        // (`make scale-heap` does).
        let wrapper = std::env::var("LATTICE_TEST_CONTROLD_WRAPPER").unwrap_or_default();
        let mut words = wrapper.split_whitespace();
        let mut cmd = match words.next() {
            Some(program) => {
                let mut c = Command::new(program);
                c.args(words).arg(bin("lattice-controld"));
                c
            }
            None => Command::new(bin("lattice-controld")),
        };
        crate::set_daemon_log(&mut cmd, "LATTICE_TEST_CONTROLD_LOG", "debug");
        let mut child = cmd
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(listen)
            .args(&self.args)
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

    /// The same server through `lattice_controld`'s library, with the same
    /// flags parsed by the same parser.
    fn spawn_in_process(&mut self, listen: &str, addr_file: &Path) -> anyhow::Result<()> {
        use clap::Parser;
        use lattice_controld::args::{Args, Command as Sub};
        let dir = self.data_dir.display().to_string();
        let mut argv = vec!["lattice-controld", "--data-dir", &dir, "--listen", listen];
        argv.extend(self.args.iter().map(String::as_str));
        let args = Args::try_parse_from(argv)?;
        let serve = match args.command {
            None => args.serve,
            Some(Sub::Serve(s)) => *s,
            Some(_) => bail!("an in-process controld only serves"),
        };
        let cfg = lattice_controld::Config {
            database_url: lattice_controld::store::database_url(
                args.common.database_url.as_deref(),
                &args.common.data_dir,
            ),
            data_dir: args.common.data_dir,
            serve,
        };
        let mut daemon = InProcess::spawn("controld", move |shutdown| async move {
            lattice_controld::Server::bind(cfg)
                .await?
                .run(shutdown)
                .await
        });
        let ready = wait_for(Duration::from_secs(30), || {
            if daemon.finished() {
                return Some(None);
            }
            fs::read_to_string(addr_file)
                .ok()
                .filter(|s| !s.is_empty())
                .map(Some)
        });
        match ready {
            Some(Some(addr)) => self.addr = addr.trim().to_string(),
            _ => {
                let why = daemon.stop().err().map(|e| format!("{e:#}"));
                bail!("the in-process controld did not start: {why:?}")
            }
        }
        self.fingerprint = fs::read_to_string(self.data_dir.join("ca-fingerprint"))?
            .trim()
            .to_string();
        self.inproc = Some(daemon);
        Ok(())
    }

    fn process_only(&self, what: &str) {
        assert!(
            !self.in_process,
            "{what} needs controld as a process: start it with Controld::start or Cluster::processes"
        );
    }

    /// SIGTERM (in process: the same shutdown) and wait for a clean exit.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut d) = self.inproc.take() {
            return d.stop();
        }
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
        self.process_only("kill -9");
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
        self.process_only("reading its log");
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Process id, if running.
    pub fn pid(&self) -> Option<u32> {
        self.process_only("a pid");
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
        if let Some(mut d) = self.inproc.take() {
            let _ = d.stop();
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
