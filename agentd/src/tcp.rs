//! Serves one `OpenTcpStream` request: connects to the container's port and
//! opens a byte stream back to controld, copying both ways with half-close.
//! Channels are bounded, so backpressure reaches the client end to end.

use std::time::Duration;

use lattice_proto::v1;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_stream::StreamExt;
use tracing::debug;

use crate::docker::{Docker, container_ip, container_name};
use crate::stream::Dialer;

const CHUNK: usize = 32 * 1024;

async fn connect(docker: Option<Docker>, req: &v1::OpenTcpStream) -> Result<TcpStream, String> {
    let docker = docker.ok_or("Docker is unavailable on this node")?;
    let c = docker
        .inspect(&container_name(&req.workload_id))
        .await?
        .ok_or("the workload has no container on this node")?;
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
pub async fn serve(dialer: Dialer, docker: Option<Docker>, req: v1::OpenTcpStream) {
    let tcp = match connect(docker, &req).await {
        Ok(t) => t,
        Err(e) => return dialer.refuse(&req.stream_id, e).await,
    };
    let (tx, opened) = match dialer.open_for(&req.stream_id, 16).await {
        Ok(o) => o,
        Err(e) => {
            debug!(error = %format!("{e:#}"), "could not open the relay stream");
            return;
        }
    };
    let mut inbound = opened.inbound;
    let (rd, mut wr) = tcp.into_split();
    {
        let to_controld = async {
            // Hold no buffer while idle; read into a fresh one that moves into the frame.
            loop {
                let mut buf = Vec::with_capacity(CHUNK);
                let n = match rd.readable().await.and_then(|()| rd.try_read_buf(&mut buf)) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(_) => 0,
                };
                if n == 0 {
                    let _ = tx
                        .send(v1::StreamFrame {
                            eof: true,
                            ..Default::default()
                        })
                        .await;
                    return;
                }
                if tx
                    .send(v1::StreamFrame {
                        data: buf,
                        ..Default::default()
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
        };
        let to_container = async {
            while let Some(Ok(f)) = inbound.next().await {
                if !f.data.is_empty() && wr.write_all(&f.data).await.is_err() {
                    return false;
                }
                if f.eof {
                    let _ = wr.shutdown().await;
                    return true;
                }
            }
            false
        };
        // A clean half-close lets the other direction finish; a broken stream
        // from controld ends the relay at once.
        tokio::pin!(to_controld, to_container);
        tokio::select! {
            () = &mut to_controld => { to_container.await; }
            clean = &mut to_container => if clean { to_controld.await },
        }
    }
    // End our side, then let controld end its own: cancelling the call now
    // could discard our last frames before controld reads them.
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = inbound.next().await {}
    })
    .await;
}
