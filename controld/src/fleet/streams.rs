//! Streams the agent opens back to controld on request (`OpenStream`): a
//! waiter registers a stream id, tells the agent on its control stream, and
//! gets the agent's inbound frames plus a sender for outbound ones once the
//! agent connects. Unclaimed ids expire with the waiter's timeout.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use lattice_proto::v1;
use tokio::sync::{mpsc, oneshot};
use tonic::Streaming;

use crate::error::{Error, Result};

/// What a waiter receives when the agent opens its stream.
pub struct Opened {
    /// Frames from the agent.
    pub inbound: Streaming<v1::StreamFrame>,
    /// Frames to the agent.
    pub outbound: mpsc::Sender<Result<v1::StreamFrame, tonic::Status>>,
}

/// Stream ids waiting for their agent.
#[derive(Default)]
pub struct Pending {
    waiting: Mutex<HashMap<String, oneshot::Sender<Opened>>>,
}

impl Pending {
    /// Registers `id`; the returned receiver resolves when the agent opens it.
    pub fn expect(&self, id: &str) -> oneshot::Receiver<Opened> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.waiting.lock() {
            w.insert(id.to_string(), tx);
        }
        rx
    }

    /// Forgets `id` (timeout or cancel).
    pub fn forget(&self, id: &str) {
        if let Ok(mut w) = self.waiting.lock() {
            w.remove(id);
        }
    }

    /// Hands an agent-opened stream to its waiter.
    pub fn claim(&self, id: &str, opened: Opened) -> Result<()> {
        let tx = self
            .waiting
            .lock()
            .ok()
            .and_then(|mut w| w.remove(id))
            .ok_or_else(|| {
                Error::NotFound("no one is waiting for this stream (it expired)".into())
            })?;
        tx.send(opened)
            .map_err(|_| Error::NotFound("the waiter went away".into()))
    }

    /// Waits for `rx` up to `timeout`, forgetting `id` if it does not come.
    pub async fn wait(
        &self,
        id: &str,
        rx: oneshot::Receiver<Opened>,
        timeout: Duration,
    ) -> Result<Opened> {
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(o)) => Ok(o),
            _ => {
                self.forget(id);
                Err(Error::Unavailable(
                    "the node did not open the stream in time".into(),
                ))
            }
        }
    }
}
