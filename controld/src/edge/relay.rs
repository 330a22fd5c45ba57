//! One relayed edge connection: admission (global and per-workload caps),
//! asking the node's agent to open its side, then copying both ways with
//! half-close, an idle timeout, and one log line with the byte counts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lattice_proto::v1;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_stream::StreamExt;
use tracing::{debug, info, warn};

use super::{CHUNK, Edge};
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
        let opened = match self
            .fleet
            .open_stream(&node, &stream_id, open, self.cfg.claim_timeout)
            .await
        {
            Ok(o) => o,
            Err(e) => {
                self.metrics.edge_refused("node_did_not_open");
                warn!(%peer, workload = %wid, error = %e, "edge connection dropped: the agent did not open its side");
                return;
            }
        };
        let _ = tcp.set_nodelay(true);
        let counted = self.metrics.edge_opened();
        let started = Instant::now();
        let up = AtomicU64::new(0);
        let down = AtomicU64::new(0);
        let last = AtomicU64::new(0);
        let touch = || last.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        let (rd, mut wr) = tcp.into_split();
        let outbound = opened.outbound;
        let mut inbound = opened.inbound;
        let client_to_node = async {
            // No buffer is held while the connection is idle: wait until the
            // socket is readable, then read into a fresh buffer that moves
            // into the frame (no copy).
            loop {
                let mut buf = Vec::with_capacity(CHUNK);
                let n = match rd.readable().await.and_then(|()| rd.try_read_buf(&mut buf)) {
                    Ok(0) => 0,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(_) => 0,
                };
                if n == 0 {
                    let _ = outbound
                        .send(Ok(v1::StreamFrame {
                            eof: true,
                            ..Default::default()
                        }))
                        .await;
                    return;
                }
                up.fetch_add(n as u64, Ordering::Relaxed);
                touch();
                let frame = v1::StreamFrame {
                    data: buf,
                    ..Default::default()
                };
                if outbound.send(Ok(frame)).await.is_err() {
                    return;
                }
            }
        };
        let node_to_client = async {
            while let Some(f) = inbound.next().await {
                let Ok(f) = f else {
                    return Err("the node's stream broke");
                };
                if !f.error.is_empty() {
                    return Err("the node could not reach the container");
                }
                if !f.data.is_empty() {
                    down.fetch_add(f.data.len() as u64, Ordering::Relaxed);
                    touch();
                    if wr.write_all(&f.data).await.is_err() {
                        return Err("the client went away");
                    }
                }
                if f.eof {
                    let _ = wr.shutdown().await;
                    return Ok(());
                }
            }
            Err("the node's stream ended")
        };
        let idle = async {
            let mut tick = tokio::time::interval(Duration::from_secs(1).min(self.cfg.idle_timeout));
            loop {
                tick.tick().await;
                let since = started.elapsed().as_millis() as u64 - last.load(Ordering::Relaxed);
                if since > self.cfg.idle_timeout.as_millis() as u64 {
                    return;
                }
            }
        };
        let mut closer = self.closer(&wid);
        // A clean half-close lets the other direction finish; a failure on
        // the node's side ends the client's connection at once.
        let both = async {
            tokio::pin!(client_to_node, node_to_client);
            tokio::select! {
                () = &mut client_to_node => node_to_client.await,
                r = &mut node_to_client => match r {
                    Ok(()) => { client_to_node.await; Ok(()) }
                    Err(why) => Err(why),
                },
            }
        };
        let outcome = tokio::select! {
            r = both => match r {
                Ok(()) => "closed",
                Err(why) => why,
            },
            _ = closer.changed() => "the workload was stopped or deleted",
            _ = idle => "idle timeout",
        };
        counted.bytes(up.load(Ordering::Relaxed), down.load(Ordering::Relaxed));
        info!(
            workload = %wid,
            name = %w.name,
            %peer,
            bytes_in = up.load(Ordering::Relaxed),
            bytes_out = down.load(Ordering::Relaxed),
            duration_ms = started.elapsed().as_millis() as u64,
            outcome,
            "edge connection closed"
        );
    }
}
