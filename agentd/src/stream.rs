//! Byte streams the agent opens back to controld (`OpenStream`) for a log
//! read, an exec or a backup, each on a connection of its own (relayed TCP
//! connections use raw data connections instead, see [`crate::tunnel`]). The
//! control stream's connection carries no bulk data, so nothing a log reader
//! or a relay client does — read slowly, stall, provoke a GOAWAY — can break
//! the node's control stream, which every tenant on the node depends on
//! (rathole, frp and bore open a data connection per visitor for the same
//! reason).

use std::sync::Arc;

use lattice_proto::v1;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;
use tonic::transport::Channel;

use crate::identity::{Shared, channel};

/// Opens agent-side streams to controld.
#[derive(Clone)]
pub struct Dialer {
    id: Shared,
    tunnels: crate::tunnel::TunnelDialer,
}

/// One open stream: frames from controld, and the connection it runs on
/// (kept until the stream is done).
pub struct Opened {
    /// Frames controld sends.
    pub inbound: Streaming<v1::StreamFrame>,
    _channel: Channel,
}

impl Dialer {
    /// A dialer for this node's identity.
    pub fn new(id: &Shared) -> Self {
        Self {
            id: id.clone(),
            tunnels: crate::tunnel::TunnelDialer::new(id),
        }
    }

    /// The dialer of relay data connections.
    pub fn tunnels(&self) -> &crate::tunnel::TunnelDialer {
        &self.tunnels
    }

    /// Connects and opens the stream; `frames` must already hold the first
    /// frame (the stream id), which controld reads before it answers.
    pub async fn open(&self, frames: mpsc::Receiver<v1::StreamFrame>) -> anyhow::Result<Opened> {
        // The identity as it is now: a rotated secret is used at once.
        let id = self.id.get();
        let ch = channel(&id.control, &id.ca_pem).await?;
        let mut call = tonic::Request::new(ReceiverStream::new(frames));
        call.metadata_mut()
            .insert("authorization", id.authorization().parse()?);
        let inbound = crate::identity::client(ch.clone())
            .open_stream(call)
            .await
            .map_err(|s| anyhow::anyhow!("controld refused the stream: {}", s.message()))?
            .into_inner();
        Ok(Opened {
            inbound,
            _channel: ch,
        })
    }
}

impl Dialer {
    /// Answers an `Open…` request that cannot be served: a stream whose
    /// only frame after the id is the `error`, so the waiter learns why at
    /// once instead of timing out.
    pub async fn refuse(&self, stream_id: &str, error: String) {
        let (tx, rx) = mpsc::channel(2);
        let _ = tx
            .send(v1::StreamFrame {
                stream_id: stream_id.into(),
                ..Default::default()
            })
            .await;
        let _ = tx
            .send(v1::StreamFrame {
                error,
                ..Default::default()
            })
            .await;
        drop(tx);
        if let Ok(opened) = self.open(rx).await {
            opened.finish().await;
        }
    }

    /// Opens a stream for `stream_id` (the id frame sent first) with a
    /// sender for the rest, bounded to `depth` frames.
    pub async fn open_for(
        &self,
        stream_id: &str,
        depth: usize,
    ) -> anyhow::Result<(mpsc::Sender<v1::StreamFrame>, Opened)> {
        let (tx, rx) = mpsc::channel(depth);
        tx.send(v1::StreamFrame {
            stream_id: stream_id.into(),
            ..Default::default()
        })
        .await?;
        Ok((tx, self.open(rx).await?))
    }
}

impl Opened {
    /// Starts following controld's credit grants (log streams): returns
    /// the credit to spend, one permit per data frame, and a task that ends
    /// when controld ends its side — await it instead of [`Opened::finish`].
    pub fn follow_credit(self) -> (Arc<Semaphore>, JoinHandle<()>) {
        let credit = Arc::new(Semaphore::new(lattice_proto::STREAM_CREDIT_WINDOW as usize));
        let grants = credit.clone();
        let mut inbound = self.inbound;
        let channel = self._channel;
        let task = tokio::spawn(async move {
            let _keep = channel;
            while let Ok(Some(f)) = inbound.message().await {
                let more =
                    (f.credit as usize).min(Semaphore::MAX_PERMITS - grants.available_permits());
                grants.add_permits(more);
            }
            // Controld is done: a pump still waiting for credit stops.
            grants.close();
        });
        (credit, task)
    }

    /// Waits until controld ends its side. Our own side must be finished
    /// first (eof sent, sender dropped): dropping the call earlier would
    /// reset the stream and discard frames controld has not read yet.
    pub async fn finish(mut self) {
        while let Some(Ok(_)) = self.inbound.message().await.transpose() {}
    }
}
