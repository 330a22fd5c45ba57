//! Serves one `OpenTcpStream` request: connects to the container's port,
//! opens a relay data connection to controld (see [`crate::tunnel`]) and
//! copies raw bytes both ways with half-close. Nothing is buffered beyond
//! one read per direction, so backpressure reaches the client end to end.

use std::time::Duration;

use lattice_proto::tunnel::{self, Progress};
use lattice_proto::v1;
use tokio::net::TcpStream;
use tracing::debug;

use crate::docker::container_ip;
use crate::owned::NodeEngine;
use crate::stream::Dialer;

async fn connect(engine: Option<NodeEngine>, req: &v1::OpenTcpStream) -> Result<TcpStream, String> {
    let engine = engine.ok_or("Docker is unavailable on this node")?;
    let (_, c) = engine.container(&req.workload_id).await?;
    let ip = container_ip(&c).ok_or("the container has no address (is it running?)")?;
    let port = u16::try_from(req.container_port).map_err(|_| "bad port")?;
    let tcp = tokio::time::timeout(
        Duration::from_secs(5),
        TcpStream::connect((ip.as_str(), port)),
    )
    .await
    .map_err(|_| "timed out connecting to the container".to_string())?
    .map_err(|e| format!("could not connect to the container: {e}"))?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// Relays one connection until both directions are done or either side fails.
pub async fn serve(dialer: Dialer, engine: Option<NodeEngine>, req: v1::OpenTcpStream) {
    let (container, error) = match connect(engine, &req).await {
        Ok(t) => (Some(t), None),
        Err(e) => (None, Some(e)),
    };
    let mut to_controld = match dialer.tunnels().dial(&req.stream_id, error).await {
        Ok(t) => t,
        Err(e) => {
            debug!(error = %format!("{e:#}"), "could not open the relay connection");
            return;
        }
    };
    let Some(mut container) = container else {
        // controld read why from the hello; nothing follows.
        return;
    };
    let progress = Progress::default();
    if let Err(side) = tunnel::splice(&mut container, &mut to_controld, &progress).await {
        debug!(?side, "relayed connection ended with an error");
    }
}
