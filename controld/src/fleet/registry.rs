//! The agent registry: which nodes have a live control stream, sending on
//! them (with a deadline, so a stalled node fails one call instead of
//! hanging it), and correlating commands with the results agents send back.

use std::sync::atomic::Ordering;
use std::time::Duration;

use lattice_proto::v1;
use tokio::sync::mpsc;

use super::{AgentHandle, Fleet, streams};
use crate::error::{Error, Result};

/// How long a send may wait for room in a node's queue.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a command may take before its caller gives up.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A connected agent's outgoing half.
pub(super) type AgentTx = mpsc::Sender<Result<v1::ControlMessage, tonic::Status>>;

impl Fleet {
    /// Whether a node has a live control stream.
    pub fn is_connected(&self, node_id: &str) -> bool {
        self.agents
            .lock()
            .map(|a| a.contains_key(node_id))
            .unwrap_or(false)
    }

    /// Records a node's new control stream; a newer connection of the same
    /// node replaces the old one.
    pub(super) fn register(&self, node_id: &str, tx: AgentTx) -> u64 {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut a) = self.agents.lock() {
            a.insert(
                node_id.to_string(),
                AgentHandle {
                    conn,
                    tx,
                    usage: None,
                },
            );
        }
        conn
    }

    /// The load each connected node's agent last reported, by node id.
    pub fn usage(&self) -> std::collections::HashMap<String, v1::NodeUsage> {
        self.agents
            .lock()
            .map(|a| {
                a.iter()
                    .filter_map(|(id, h)| h.usage.map(|u| (id.clone(), u)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The load one node's agent last reported, while it is connected.
    pub fn usage_of(&self, node_id: &str) -> Option<v1::NodeUsage> {
        self.agents.lock().ok()?.get(node_id)?.usage
    }

    /// Records the load a node's agent reported.
    pub(super) fn record_usage(&self, node_id: &str, usage: Option<v1::NodeUsage>) {
        if let (Some(u), Ok(mut a)) = (usage, self.agents.lock())
            && let Some(h) = a.get_mut(node_id)
        {
            h.usage = Some(u);
        }
    }

    /// Forgets a connection if it is still the node's current one.
    pub(super) fn unregister(&self, node_id: &str, conn: u64) -> bool {
        let Ok(mut a) = self.agents.lock() else {
            return false;
        };
        if a.get(node_id).is_some_and(|h| h.conn == conn) {
            a.remove(node_id);
            true
        } else {
            false
        }
    }

    /// Ends a node's control stream, whatever connection it is on.
    pub fn disconnect(&self, node_id: &str) {
        if let Ok(mut a) = self.agents.lock() {
            a.remove(node_id);
        }
    }

    /// Sends a message on a node's control stream.
    pub async fn send(&self, node_id: &str, msg: v1::ControlMessage) -> Result<()> {
        let tx = self
            .agents
            .lock()
            .ok()
            .and_then(|a| a.get(node_id).map(|h| h.tx.clone()))
            .ok_or_else(|| Error::NodeDown(format!("node {node_id} is not connected")))?;
        match tokio::time::timeout(SEND_TIMEOUT, tx.send(Ok(msg))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Error::NodeDown(format!("node {node_id} disconnected"))),
            Err(_) => Err(Error::NodeDown(format!(
                "node {node_id} is not reading its control stream; try again shortly"
            ))),
        }
    }

    /// Asks a node's agent to open a stream (`cmd` carries `stream_id`) and
    /// waits for it to arrive; the id is forgotten whatever happens.
    pub async fn open_stream(
        &self,
        node_id: &str,
        stream_id: &str,
        cmd: v1::control_message::Cmd,
        timeout: Duration,
    ) -> Result<streams::Opened> {
        self.ask_to_open(&self.streams, node_id, (stream_id, cmd), timeout)
            .await
    }

    /// Registers `stream_id` in `pending` for `node_id`, sends `cmd` and
    /// waits for the node's answer; the id is forgotten whatever happens.
    pub(super) async fn ask_to_open<T>(
        &self,
        pending: &streams::Pending<T>,
        node_id: &str,
        (stream_id, cmd): (&str, v1::control_message::Cmd),
        timeout: Duration,
    ) -> Result<T> {
        let waiter = pending.expect(stream_id, node_id);
        let msg = v1::ControlMessage {
            correlation_id: String::new(),
            cmd: Some(cmd),
        };
        if let Err(e) = self.send(node_id, msg).await {
            pending.forget(stream_id);
            return Err(e);
        }
        pending.wait(stream_id, waiter, timeout).await
    }

    /// Hands an agent-opened stream to whoever waits for it.
    pub fn claim_stream(
        &self,
        stream_id: &str,
        node_id: &str,
        opened: streams::Opened,
    ) -> Result<()> {
        self.streams.claim(stream_id, node_id, opened)
    }

    /// Runs a command in a workload's container on its node and waits for the result.
    pub async fn exec(
        &self,
        node_id: &str,
        workload_id: &str,
        command: Vec<String>,
        env: Vec<v1::EnvVar>,
    ) -> Result<v1::CommandResult> {
        let cmd = v1::control_message::Cmd::Exec(v1::ExecInWorkload {
            workload_id: workload_id.into(),
            command,
            env,
        });
        self.command(node_id, cmd).await
    }

    /// Sends a command to a node's agent and waits for its result.
    pub async fn command(
        &self,
        node_id: &str,
        cmd: v1::control_message::Cmd,
    ) -> Result<v1::CommandResult> {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = tokio::sync::oneshot::channel();
        if let Ok(mut r) = self.results.lock() {
            r.insert(id.clone(), (node_id.to_string(), tx));
        }
        let msg = v1::ControlMessage {
            correlation_id: id.clone(),
            cmd: Some(cmd),
        };
        let res = match self.send(node_id, msg).await {
            Ok(()) => match tokio::time::timeout(COMMAND_TIMEOUT, rx).await {
                Ok(Ok(r)) => Ok(r),
                Ok(Err(_)) => Err(Error::NodeDown("the node disconnected".into())),
                Err(_) => Err(Error::NodeDown("the node did not answer in time".into())),
            },
            Err(e) => Err(e),
        };
        if let Ok(mut r) = self.results.lock() {
            r.remove(&id);
        }
        res
    }

    /// Delivers a command result from `node_id`'s agent; a result for a
    /// command sent to another node is dropped.
    pub fn command_result(&self, node_id: &str, r: v1::CommandResult) {
        let tx = self
            .results
            .lock()
            .ok()
            .and_then(|mut m| match m.get(&r.correlation_id) {
                Some((node, _)) if node == node_id => m.remove(&r.correlation_id).map(|(_, tx)| tx),
                _ => None,
            });
        match tx {
            Some(tx) => {
                let _ = tx.send(r);
            }
            None => {
                tracing::warn!(node = %node_id, "dropped a command result this node was not asked for")
            }
        }
    }
}
