//! Hollow nodes, after Kubernetes' kubemark: many real agents in this
//! process — each with its own identity, join, TLS connection, heartbeats,
//! reports and convergence — over in-memory container engines, so the real
//! control plane meets a fleet's worth of nodes on one machine.

use std::sync::Arc;
use std::time::Duration;

use lattice_agentd::runtime::memory::Memory;

use crate::inproc::InProcess;

/// A fleet of hollow nodes.
pub struct HollowFleet {
    /// Each node's engine (to crash containers or fail the engine), in
    /// node order: node `i` joined as `hollow-i`.
    pub engines: Vec<Arc<Memory>>,
    agents: InProcess,
    _tmp: tempfile::TempDir,
}

impl HollowFleet {
    /// Starts one hollow node per join token, against `control`; their
    /// containers take `start_delay` to start.
    pub fn start(control: &str, tokens: &[String], start_delay: Duration) -> Self {
        use clap::Parser;
        let tmp = tempfile::tempdir().expect("tmp");
        let mut engines = Vec::new();
        let mut nodes = Vec::new();
        for (i, token) in tokens.iter().enumerate() {
            let mut m = Memory::new();
            m.start_delay = start_delay;
            let engine = Arc::new(m);
            engines.push(engine.clone());
            let dir = tmp.path().join(format!("hollow-{i}"));
            let argv = [
                "lattice-agentd",
                "--data-dir",
                dir.to_str().expect("utf-8"),
                "--control",
                control,
                "--join-token",
                token,
                "--node-name",
                &format!("hollow-{i}"),
                "--heartbeat",
                "2s",
            ];
            let args = lattice_agentd::args::Args::try_parse_from(argv).expect("agent flags");
            nodes.push((args, engine));
        }
        let agents = InProcess::spawn("hollow-fleet", move |shutdown| async move {
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let mut set = tokio::task::JoinSet::new();
            for (args, engine) in nodes {
                let mut stopped = stopped.clone();
                let rt: lattice_agentd::runtime::SharedRuntime = engine;
                set.spawn(lattice_agentd::run_on(args, Some(rt), async move {
                    let _ = stopped.wait_for(|s| *s).await;
                }));
            }
            shutdown.await;
            stop.send_replace(true);
            while let Some(r) = set.join_next().await {
                r??;
            }
            Ok(())
        });
        Self {
            engines,
            agents,
            _tmp: tmp,
        }
    }

    /// Stops every hollow node (their "containers" go with them).
    pub fn stop(&mut self) -> anyhow::Result<()> {
        self.agents.stop()
    }
}

impl Drop for HollowFleet {
    fn drop(&mut self) {
        let _ = self.agents.stop();
    }
}
