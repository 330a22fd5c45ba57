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

/// Stream ids waiting for their agent, each with the node it was asked of:
/// only that node may claim it (another node that learnt the id gets
/// nothing, exactly as for an id that expired).
pub struct Pending<T = Opened> {
    waiting: Mutex<HashMap<String, (String, oneshot::Sender<T>)>>,
}

impl<T> Default for Pending<T> {
    fn default() -> Self {
        Self {
            waiting: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> Pending<T> {
    /// Registers `id`, to be opened by `node_id`; the returned receiver
    /// resolves when that node opens it.
    pub fn expect(&self, id: &str, node_id: &str) -> oneshot::Receiver<T> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.waiting.lock() {
            w.insert(id.to_string(), (node_id.to_string(), tx));
        }
        rx
    }

    /// Forgets `id` (timeout or cancel).
    pub fn forget(&self, id: &str) {
        if let Ok(mut w) = self.waiting.lock() {
            w.remove(id);
        }
    }

    /// Hands a stream opened by `node_id` to its waiter.
    pub fn claim(&self, id: &str, node_id: &str, opened: T) -> Result<()> {
        let not_waiting =
            || Error::NotFound("no one is waiting for this stream (it expired)".into());
        let tx = {
            let mut w = self.waiting.lock().map_err(|_| not_waiting())?;
            take_if_asked(&mut w, id, node_id)
        }
        .ok_or_else(not_waiting)?;
        tx.send(opened)
            .map_err(|_| Error::NotFound("the waiter went away".into()))
    }

    /// Waits for `rx` up to `timeout`, forgetting `id` if it does not come.
    pub async fn wait(&self, id: &str, rx: oneshot::Receiver<T>, timeout: Duration) -> Result<T> {
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(o)) => Ok(o),
            _ => {
                self.forget(id);
                Err(Error::NodeDown(
                    "the node did not open the stream in time".into(),
                ))
            }
        }
    }
}

/// Removes and returns what waits under `id`, only if it was asked of
/// `node_id` (a stream claim, a command result): no node can answer for
/// another.
pub fn take_if_asked<V>(
    waiting: &mut HashMap<String, (String, V)>,
    id: &str,
    node_id: &str,
) -> Option<V> {
    match waiting.get(id) {
        Some((asked, _)) if asked == node_id => waiting.remove(id).map(|(_, v)| v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_node_asked_can_claim_a_stream() {
        let p: Pending<u32> = Pending::default();
        let mut rx = p.expect("s1", "node-a");
        assert!(
            p.claim("s1", "node-b", 7).is_err(),
            "another node gets nothing"
        );
        assert!(rx.try_recv().is_err(), "and the waiter still waits");
        p.claim("s1", "node-a", 8)
            .expect("the right node claims it");
        assert_eq!(rx.try_recv().ok(), Some(8));
        assert!(
            p.claim("s1", "node-a", 9).is_err(),
            "a stream is claimed once"
        );
    }
}
