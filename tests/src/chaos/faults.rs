//! The phases and their faults. Kills: SIGKILL to agentd or controld at
//! random moments under churn (SQLite store). Outages (Postgres store, two
//! nodes): controld's database stopped, one agent's Docker Engine cut off,
//! then the other node gone for good (its agent killed and the node removed).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Driver, PhaseReport, SocketGate};
use crate::{Agentd, Cluster, docker, wait_for};

/// How big a run is.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// SIGKILLs in the kill phase.
    pub kills: usize,
    /// Mean time between two kills.
    pub kill_gap: Duration,
    /// Workload names the churn uses.
    pub names: usize,
    /// How long each outage lasts.
    pub outage: Duration,
    /// Port of the phase's own Postgres server (stopped and started).
    pub pg_port: u16,
    /// Seed of every random choice (printed, so a run can be repeated).
    pub seed: u64,
}

/// The phases a run has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Kills under churn.
    Kills,
    /// Outages and a lost node.
    Outages,
}

impl Phase {
    /// Runs this phase.
    pub fn run(self, s: &Sizes) -> Vec<PhaseReport> {
        match self {
            Phase::Kills => vec![kills(s)],
            Phase::Outages => outages(s),
        }
    }
}

fn kills(s: &Sizes) -> PhaseReport {
    let cluster = Cluster::processes();
    let mut d = Driver::new(cluster.admin.clone(), s.names, s.seed);
    d.live_nodes = vec![cluster.node_id.clone()];
    d.start_ledger();
    let cluster = Arc::new(Mutex::new(cluster));
    let done = Arc::new(AtomicBool::new(false));
    let killer = {
        let (cluster, done, s) = (cluster.clone(), done.clone(), s.clone());
        std::thread::spawn(move || {
            let mut rng = fastrand::Rng::with_seed(s.seed ^ 0x6b69_6c6c);
            let gap = s.kill_gap.as_millis() as u64;
            let (mut agent, mut controld) = (0, 0);
            for _ in 0..s.kills {
                std::thread::sleep(Duration::from_millis(rng.u64(gap / 3..gap * 5 / 3)));
                let Ok(mut c) = cluster.lock() else { break };
                if rng.bool() {
                    c.agent.kill9();
                    drop(c);
                    std::thread::sleep(Duration::from_millis(rng.u64(0..1500)));
                    if let Ok(mut c) = cluster.lock() {
                        c.agent.restart();
                    }
                    agent += 1;
                } else {
                    c.controld.crash_and_restart().expect("controld restarts");
                    controld += 1;
                }
            }
            done.store(true, Ordering::SeqCst);
            (agent, controld)
        })
    };
    while !done.load(Ordering::SeqCst) {
        d.step();
    }
    let (agent, controld) = killer.join().expect("the killer thread");
    d.check(
        "kills (SQLite store)",
        vec![format!(
            "{agent} × SIGKILL agentd, {controld} × SIGKILL controld"
        )],
    )
}

fn outages(s: &Sizes) -> Vec<PhaseReport> {
    let tmp = tempfile::tempdir().expect("tmp");
    let pg = ChaosPostgres::start(s.pg_port);
    let gate = SocketGate::start(&tmp.path().join("docker.sock"), &docker_socket())
        .expect("a gate in front of Docker");
    let url = pg.database();
    let cluster = Cluster::start_full(&[("DOCKER_HOST", &gate.url())], &["--database-url", &url]);
    let cli = cluster.admin.clone();
    let mut d = Driver::new(cli.clone(), s.names, s.seed.wrapping_add(1));
    d.live_nodes = vec![cluster.node_id.clone()];
    d.start_ledger();
    // A second node, which will disappear for good.
    let token = cli.join_token();
    let mut b = Agentd::start(
        &tmp.path().join("b"),
        &cluster.controld.url(),
        Some(&token),
        &[],
    );
    let b_node = wait_for(Duration::from_secs(30), || {
        let v = cli.run(&["nodes", "-o", "json"], None).json();
        v.as_array()?
            .iter()
            .find(|n| n["id"] != cluster.node_id.as_str() && n["status"] == "ready")
            .map(|n| {
                (
                    n["id"].as_str().unwrap_or_default().to_string(),
                    n["name"].as_str().unwrap_or_default().to_string(),
                )
            })
    })
    .expect("the second node is ready");
    d.live_nodes.push(b_node.0.clone());
    d.churn_for(Duration::from_secs(5));
    let mut out = Vec::new();

    pg.stop();
    d.churn_for(s.outage);
    pg.start_again();
    d.churn_for(Duration::from_secs(3));
    out.push(d.check(
        "controld's Postgres stopped (Postgres store)",
        vec![format!(
            "database stopped for {} s under churn",
            s.outage.as_secs()
        )],
    ));

    gate.close();
    d.churn_for(s.outage);
    gate.open();
    d.churn_for(Duration::from_secs(3));
    out.push(d.check(
        "Docker Engine unreachable for one agent",
        vec![format!(
            "its socket cut off for {} s under churn",
            s.outage.as_secs()
        )],
    ));

    // The machine is gone, and its containers with it (here the two nodes
    // share one Docker Engine, which no two real machines do).
    b.kill9();
    remove_node_leftovers(&b_node.0);
    d.live_nodes.retain(|n| *n != b_node.0);
    d.churn_for(Duration::from_secs(2));
    cli.run(&["nodes", "rm", &b_node.1, "--force", "--yes"], None)
        .ok();
    d.churn_for(Duration::from_secs(3));
    out.push(d.check(
        "a node gone for good",
        vec!["its agent killed for good, the node removed".into()],
    ));
    remove_node_leftovers(&b_node.0);
    drop(cluster);
    out
}

/// The Docker Engine's socket (DOCKER_HOST's when it names one).
fn docker_socket() -> PathBuf {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"))
}

/// The containers and volumes a vanished node left on this (shared) engine.
fn remove_node_leftovers(node: &str) {
    let filter = format!("label=lattice.node={node}");
    for id in docker(&["ps", "-aq", "--filter", &filter]).lines() {
        docker(&["rm", "-f", "-v", id]);
    }
    for v in docker(&["volume", "ls", "-q", "--filter", &filter]).lines() {
        docker(&["volume", "rm", "-f", v]);
    }
}

/// A Postgres server of the phase's own (scripts/test-postgres.sh on its
/// own port), so stopping it touches no other test.
struct ChaosPostgres {
    port: u16,
    admin: String,
}

impl ChaosPostgres {
    fn script(port: u16, arg: Option<&str>) -> String {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/test-postgres.sh");
        let mut cmd = Command::new("bash");
        cmd.arg(script)
            .env("LATTICE_TEST_PG_PORT", port.to_string())
            .env(
                "LATTICE_TEST_PG_DIR",
                format!("/tmp/lattice-chaos-pg-{port}"),
            );
        if let Some(a) = arg {
            cmd.arg(a);
        }
        let out = cmd.output().expect("scripts/test-postgres.sh");
        assert!(
            out.status.success(),
            "scripts/test-postgres.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn start(port: u16) -> Self {
        Self {
            port,
            admin: Self::script(port, None),
        }
    }

    fn database(&self) -> String {
        let admin = self.admin.clone();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async move { crate::postgres::fresh_database_on(&admin).await })
            .expect("a database")
    }

    fn stop(&self) {
        Self::script(self.port, Some("stop"));
    }

    fn start_again(&self) {
        Self::script(self.port, None);
    }
}

impl Drop for ChaosPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}
