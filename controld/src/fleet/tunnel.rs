//! Relay data connections (see [`lattice_proto::tunnel`]): an agent answers
//! an `OpenTcpStream` by dialling controld's port with ALPN
//! `lattice-tunnel/1`; its first message names the stream and carries the
//! node's credentials, and the connection goes to the edge connection that
//! waits for it — only if that node was asked, as for every agent stream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lattice_proto::{tunnel, v1};
use tokio_rustls::server::TlsStream;
use tracing::debug;

use super::Fleet;
use crate::error::{Error, Result};

/// A relay data connection from an agent, after its hello.
pub type Tunnel = TlsStream<tunnel::Socket>;

/// What a waiter gets: the connection, or why the agent could not open it.
pub type Answer = std::result::Result<Tunnel, String>;

/// How long an agent has to send its hello after the handshake.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

impl Fleet {
    /// Asks a node's agent to open a relay data connection for `stream_id`
    /// (`cmd` carries it) and waits for it; the id is forgotten whatever
    /// happens.
    pub async fn open_tunnel(
        &self,
        node_id: &str,
        stream_id: &str,
        cmd: v1::control_message::Cmd,
        timeout: Duration,
    ) -> Result<Tunnel> {
        self.ask_to_open(&self.tunnels, node_id, (stream_id, cmd), timeout)
            .await?
            .map_err(Error::NodeDown)
    }

    /// Serves a connection that asked for ALPN `lattice-tunnel/1`: reads
    /// its hello, checks the node's credentials and hands it to its waiter.
    /// Anything wrong closes it.
    pub async fn accept_tunnel(self: Arc<Self>, mut tls: Tunnel, remote: SocketAddr) {
        let hello = match tokio::time::timeout(HELLO_TIMEOUT, tunnel::read_hello(&mut tls)).await {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => {
                debug!(%remote, error = %e, "relay connection without a valid hello");
                return;
            }
            Err(_) => {
                debug!(%remote, "relay connection sent no hello in time");
                return;
            }
        };
        let node = match self.node_by_authorization(Some(&hello.authorization)).await {
            Ok(n) => n,
            Err(e) => {
                debug!(%remote, error = %e, "relay connection with bad node credentials");
                return;
            }
        };
        let answer = if hello.error.is_empty() {
            Ok(tls)
        } else {
            Err(hello.error.chars().take(500).collect())
        };
        if let Err(e) = self.tunnels.claim(&hello.stream_id, &node.id, answer) {
            debug!(node = %node.name, error = %e, "relay connection for a stream no one waits for");
        }
    }
}
