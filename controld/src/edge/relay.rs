//! One relayed edge connection: admission (global and per-workload caps),
//! asking the node's agent to open its side (a data connection of its
//! own, see [`lattice_proto::tunnel`]), then copying raw bytes both ways with
//! half-close, an idle timeout, and one log line with the byte counts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use lattice_proto::tunnel::{self, Progress, Side};
use lattice_proto::v1;
use tokio::net::TcpStream;
use tracing::{debug, info, warn};

use super::Edge;
use lattice_proto::state::Desired;

impl Edge {
    pub(super) async fn relay(
        self: Arc<Self>,
        tcp: TcpStream,
        peer: SocketAddr,
        wid: String,
        cport: u32,
    ) {
        let Ok(_global) = self.global.clone().try_acquire_owned() else {
            self.metrics.edge_refused("server_limit");
            warn!(%peer, workload = %wid, "edge connection refused: the server-wide limit is reached");
            return;
        };
        let client = crate::auth::limiter::client_key(peer.ip()).to_string();
        let Some(_client) = self.per_client.try_acquire(&client) else {
            self.metrics.edge_refused("client_limit");
            warn!(%peer, workload = %wid, "edge connection refused: this client address's connection limit is reached");
            return;
        };
        let Ok(_mine) = self.workload_permits(&wid).try_acquire_owned() else {
            self.metrics.edge_refused("workload_limit");
            warn!(%peer, workload = %wid, "edge connection refused: this workload's connection limit is reached");
            return;
        };
        let w = match self.repo.workload_by_id(&wid).await {
            Ok(Some(w)) if w.desired == Desired::Running => w,
            _ => {
                self.metrics.edge_refused("not_running");
                debug!(%peer, workload = %wid, "edge connection refused: the workload is not running");
                return;
            }
        };
        let Some(node) = w.node_id.clone().filter(|n| self.fleet.is_connected(n)) else {
            self.metrics.edge_refused("node_down");
            info!(%peer, workload = %wid, "edge connection refused: its node is not connected");
            return;
        };
        let stream_id = uuid::Uuid::new_v4().to_string();
        let open = v1::control_message::Cmd::OpenTcp(v1::OpenTcpStream {
            stream_id: stream_id.clone(),
            workload_id: wid.clone(),
            container_port: cport,
        });
        let mut tunnel = match self
            .fleet
            .open_tunnel(&node, &stream_id, open, self.cfg.claim_timeout)
            .await
        {
            Ok(t) => t,
            Err(e) => {
                self.metrics.edge_refused("node_did_not_open");
                warn!(%peer, workload = %wid, error = %e, "edge connection dropped: the agent did not open its side");
                return;
            }
        };
        let mut tcp = tcp;
        let _ = tcp.set_nodelay(true);
        let counted = self.metrics.edge_opened();
        let started = Instant::now();
        let progress = Progress::default();
        let both = tunnel::splice(&mut tcp, &mut tunnel, &progress);
        let idle = async {
            let mut tick = tokio::time::interval(Duration::from_secs(1).min(self.cfg.idle_timeout));
            loop {
                tick.tick().await;
                if u128::from(progress.idle_ms()) > self.cfg.idle_timeout.as_millis() {
                    return;
                }
            }
        };
        let mut closer = self.closer(&wid);
        // A clean half-close lets the other direction finish; a failure on
        // either side ends both.
        let outcome = tokio::select! {
            r = both => match r {
                Ok(()) => "closed",
                Err(Side::A) => "the client went away",
                Err(Side::B) => "the node's connection broke",
            },
            _ = closer.changed() => "the workload was stopped or deleted",
            _ = idle => "idle timeout",
        };
        counted.bytes(
            progress.a_to_b.load(Ordering::Relaxed),
            progress.b_to_a.load(Ordering::Relaxed),
        );
        info!(
            workload = %wid,
            name = %w.name,
            %peer,
            bytes_in = progress.a_to_b.load(Ordering::Relaxed),
            bytes_out = progress.b_to_a.load(Ordering::Relaxed),
            duration_ms = started.elapsed().as_millis() as u64,
            outcome,
            "edge connection closed"
        );
    }
}
