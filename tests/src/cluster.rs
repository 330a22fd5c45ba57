//! controld + one joined agent + a signed-in admin: what most tests start.

use std::time::Duration;

use crate::{Agentd, Cli, Controld, docker, require_images, wait_for};

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
    /// Starts everything in this process (controld and the agent through
    /// their libraries; the CLI is always the real binary) and waits until
    /// the node is ready.
    pub fn start() -> Self {
        Self::launch(true, &[], &[])
    }

    /// Like [`Cluster::start`] with both daemons as processes: for tests
    /// that kill, restart or signal them, or read their logs.
    pub fn processes() -> Self {
        Self::launch(false, &[], &[])
    }

    /// Like [`Cluster::processes`], with extra agent environment.
    pub fn start_with(agent_env: &[(&str, &str)]) -> Self {
        Self::launch(false, agent_env, &[])
    }

    /// Like [`Cluster::processes`], with extra agent environment and controld flags.
    pub fn start_full(agent_env: &[(&str, &str)], controld_extra: &[&str]) -> Self {
        Self::launch(false, agent_env, controld_extra)
    }

    /// Like [`Cluster::start`], with controld reachable from `other` (it
    /// listens on the host's address there, which is also its public host).
    pub fn reachable_from(other: &crate::OtherComputer) -> Self {
        let listen = format!("{}:0", other.host_ip);
        Self::launch_on(&listen, true, &[], &["--public-host", &other.host_ip])
    }

    fn launch(in_process: bool, agent_env: &[(&str, &str)], controld_extra: &[&str]) -> Self {
        Self::launch_on("127.0.0.1:0", in_process, agent_env, controld_extra)
    }

    fn launch_on(
        listen: &str,
        in_process: bool,
        agent_env: &[(&str, &str)],
        controld_extra: &[&str],
    ) -> Self {
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
        let controld = if in_process {
            Controld::in_process_on(listen, &args)
        } else {
            Controld::start(&args)
        }
        .expect("controld");
        let admin = Cli::new(Some(&controld.url()));
        admin.register("admin@example.com", PASSWORD, &controld.fingerprint);
        let token = admin.join_token();
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("agent");
        let agent = if in_process {
            Agentd::in_process(&dir, &controld.url(), &token)
        } else {
            Agentd::start(&dir, &controld.url(), Some(&token), agent_env)
        };
        let node_id = wait_for(Duration::from_secs(30), || {
            let v = admin.run(&["nodes", "-o", "json"], None).json();
            let n = v.as_array()?.first()?.clone();
            (n["status"] != "unreachable")
                .then(|| n["id"].as_str().map(str::to_string))
                .flatten()
        })
        .unwrap_or_else(|| panic!("the agent did not connect:\n{}", agent.log_for_failure()));
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
                self.agent.log_for_failure()
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
        self.agent.stop();
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
        // Owners' networks: Docker's address pools are small, so none may leak.
        let nets: Vec<String> = docker(&["network", "ls", "-q", "--filter", &filter])
            .lines()
            .map(str::to_string)
            .collect();
        if !nets.is_empty() {
            let mut args = vec!["network", "rm"];
            args.extend(nets.iter().map(String::as_str));
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
    // Each test process its own 2000 ports (a suite asks for ~1,500), so two
    // suites on one machine never race for an edge port either.
    let lane = 1 + (std::process::id() % 4) as u16;
    let base = 22000 + lane * 2000 + NEXT.fetch_add(len, Ordering::Relaxed);
    assert!(
        base + len < 22000 + (lane + 1) * 2000 && base + len < 32768,
        "edge test ranges ran out of this process's lane"
    );
    format!("{base}-{}", base + len - 1)
}
