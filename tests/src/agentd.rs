//! `lattice-agentd` for a test: the real binary as a process (for kill -9,
//! restarts, its environment and its log), or the same agent in this
//! process through the library.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::bin;
use crate::inproc::InProcess;

/// A running `lattice-agentd`.
pub struct Agentd {
    /// Its data dir.
    pub data_dir: PathBuf,
    child: Option<Child>,
    inproc: Option<InProcess>,
    log: PathBuf,
    env: Vec<(String, String)>,
    args: Vec<String>,
}

impl Agentd {
    /// Starts an agent in this process through its library (joining with
    /// `token`): for tests that need no process boundary.
    pub fn in_process(data_dir: &Path, control: &str, token: &str) -> Self {
        use clap::Parser;
        let mut a = Self::new(data_dir, control, Some(token), &[]);
        let mut argv = vec!["lattice-agentd".to_string()];
        argv.extend(a.args.iter().cloned());
        let args = lattice_agentd::args::Args::try_parse_from(argv).expect("agent flags");
        a.inproc = Some(InProcess::spawn("agentd", move |shutdown| {
            lattice_agentd::run(args, shutdown)
        }));
        a
    }

    /// Starts an agent (joining with `token` if it has no identity yet).
    pub fn start(
        data_dir: &Path,
        control: &str,
        token: Option<&str>,
        env: &[(&str, &str)],
    ) -> Self {
        let mut a = Self::new(data_dir, control, token, env);
        a.spawn();
        a
    }

    fn new(data_dir: &Path, control: &str, token: Option<&str>, env: &[(&str, &str)]) -> Self {
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
        Self {
            data_dir: data_dir.to_path_buf(),
            child: None,
            inproc: None,
            log: data_dir.with_extension("log"),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            args,
        }
    }

    fn process_only(&self, what: &str) {
        assert!(
            self.inproc.is_none(),
            "{what} needs the agent as a process: start the cluster with Cluster::processes"
        );
    }

    /// Stops it: SIGKILL for a process, the shutdown for one in process.
    pub fn stop(&mut self) {
        if let Some(mut d) = self.inproc.take() {
            let _ = d.stop();
        }
        self.kill9();
    }

    fn spawn(&mut self) {
        fs::create_dir_all(self.data_dir.parent().expect("parent")).expect("dir");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log");
        let mut cmd = Command::new(bin("lattice-agentd"));
        crate::set_daemon_log(
            &mut cmd,
            "LATTICE_TEST_AGENTD_LOG",
            "debug,h2=info,hyper=info,tower=info",
        );
        cmd.args(&self.args)
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
        self.process_only("kill -9");
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again (it rejoins with its stored identity).
    pub fn restart(&mut self) {
        self.process_only("a restart");
        self.kill9();
        self.args.retain(|a| !a.starts_with("LJT."));
        if let Some(i) = self.args.iter().position(|a| a == "--join-token") {
            self.args.remove(i);
        }
        self.spawn();
    }

    /// Everything it logged.
    pub fn logs(&self) -> String {
        self.process_only("reading its log");
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its log for a failure message (an in-process agent logs nowhere).
    pub fn log_for_failure(&self) -> String {
        if self.inproc.is_some() {
            "(the agent runs in process; use Cluster::processes for its log)".into()
        } else {
            self.logs()
        }
    }

    /// Process id, if running.
    pub fn pid(&self) -> Option<u32> {
        self.process_only("a pid");
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.process_only("liveness of a process");
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Agentd {
    fn drop(&mut self) {
        self.stop();
    }
}
