//! The fleet: which agents are connected, what each node should run, and
//! what they report. Desired state is pushed whole (level-triggered): on
//! every (re)connect and on every change, a node receives the full set of
//! workloads placed on it, and converges to it by itself. Reports come back
//! per workload and update the store; Watch subscribers see every change.

pub mod agent_service;
pub mod node_service;
mod reports;
pub mod streams;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lattice_proto::v1;
use prost::Message;
use sea_orm::ActiveValue::Set;
use sea_orm::IntoActiveModel;
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, mpsc};
use tracing::{debug, info, warn};

use crate::catalog::{SecretDoc, SpecDoc};
use crate::clock;
use crate::entity::{node, workload};
use crate::error::{Error, Result};
use crate::repo::Repo;
use crate::secrets::SecretBox;

/// A connected agent's control stream.
struct AgentHandle {
    conn: u64,
    tx: mpsc::Sender<Result<v1::ControlMessage, tonic::Status>>,
}

/// A change to a workload, for Watch.
#[derive(Debug, Clone)]
pub struct Change {
    /// Owner id.
    pub owner: String,
    /// The workload as it is now.
    pub workload: workload::Model,
    /// It was removed for good.
    pub deleted: bool,
}

/// Shared fleet state.
pub struct Fleet {
    /// The store.
    pub repo: Repo,
    /// Credential encryption.
    pub secrets: SecretBox,
    agents: Mutex<HashMap<String, AgentHandle>>,
    next_conn: AtomicU64,
    changes: broadcast::Sender<Change>,
    /// Pending agent-opened streams.
    pub streams: streams::Pending,
    /// A node silent this long is unreachable and its workloads lost.
    pub lease: Duration,
    closing: tokio::sync::watch::Sender<bool>,
    /// Commands waiting for their result, by correlation id.
    results: Mutex<HashMap<String, tokio::sync::oneshot::Sender<v1::CommandResult>>>,
}

impl Fleet {
    /// New fleet over the store.
    pub fn new(repo: Repo, secrets: SecretBox, lease: Duration) -> Arc<Self> {
        Arc::new(Self {
            repo,
            secrets,
            agents: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            changes: broadcast::channel(1024).0,
            streams: streams::Pending::default(),
            lease,
            closing: tokio::sync::watch::channel(false).0,
            results: Mutex::new(HashMap::new()),
        })
    }

    /// Resolves once the server is shutting down: long-lived streams
    /// (watches, log follows) end so the server can drain.
    pub fn closing(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.closing.subscribe();
        async move {
            let _ = rx.wait_for(|c| *c).await;
        }
    }

    /// Starts shutting down: ends every agent control stream and every
    /// watch or log follow (clients reconnect to the next controld).
    pub fn close(&self) {
        self.closing.send_replace(true);
        if let Ok(mut a) = self.agents.lock() {
            a.clear();
        }
    }

    /// Subscribes to workload changes.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Tells Watch subscribers about a workload.
    pub fn publish(&self, w: &workload::Model, deleted: bool) {
        let _ = self.changes.send(Change {
            owner: w.owner_id.clone(),
            workload: w.clone(),
            deleted,
        });
    }

    /// Whether a node has a live control stream.
    pub fn is_connected(&self, node_id: &str) -> bool {
        self.agents
            .lock()
            .map(|a| a.contains_key(node_id))
            .unwrap_or(false)
    }

    fn register(
        &self,
        node_id: &str,
        tx: mpsc::Sender<Result<v1::ControlMessage, tonic::Status>>,
    ) -> u64 {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut a) = self.agents.lock() {
            // A newer connection of the same node replaces the old one.
            a.insert(node_id.to_string(), AgentHandle { conn, tx });
        }
        conn
    }

    /// Forgets a connection if it is still the node's current one.
    fn unregister(&self, node_id: &str, conn: u64) -> bool {
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

    /// Sends a message on a node's control stream.
    pub async fn send(&self, node_id: &str, msg: v1::ControlMessage) -> Result<()> {
        let tx = self
            .agents
            .lock()
            .ok()
            .and_then(|a| a.get(node_id).map(|h| h.tx.clone()))
            .ok_or_else(|| Error::Unavailable(format!("node {node_id} is not connected")))?;
        tx.send(Ok(msg))
            .await
            .map_err(|_| Error::Unavailable(format!("node {node_id} disconnected")))
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
        let waiter = self.streams.expect(stream_id);
        let msg = v1::ControlMessage {
            correlation_id: String::new(),
            cmd: Some(cmd),
        };
        if let Err(e) = self.send(node_id, msg).await {
            self.streams.forget(stream_id);
            return Err(e);
        }
        self.streams.wait(stream_id, waiter, timeout).await
    }

    /// Runs a command in a workload's container on its node and waits for the result.
    pub async fn exec(
        &self,
        node_id: &str,
        workload_id: &str,
        command: Vec<String>,
        env: Vec<v1::EnvVar>,
    ) -> Result<v1::CommandResult> {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = tokio::sync::oneshot::channel();
        if let Ok(mut r) = self.results.lock() {
            r.insert(id.clone(), tx);
        }
        let msg = v1::ControlMessage {
            correlation_id: id.clone(),
            cmd: Some(v1::control_message::Cmd::Exec(v1::ExecInWorkload {
                workload_id: workload_id.into(),
                command,
                env,
            })),
        };
        let res = match self.send(node_id, msg).await {
            Ok(()) => match tokio::time::timeout(Duration::from_secs(30), rx).await {
                Ok(Ok(r)) => Ok(r),
                Ok(Err(_)) => Err(Error::Unavailable("the node disconnected".into())),
                Err(_) => Err(Error::Unavailable("the node did not answer in time".into())),
            },
            Err(e) => Err(e),
        };
        if let Ok(mut r) = self.results.lock() {
            r.remove(&id);
        }
        res
    }

    /// Delivers a command result from an agent.
    pub fn command_result(&self, r: v1::CommandResult) {
        let tx = self
            .results
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&r.correlation_id));
        if let Some(tx) = tx {
            let _ = tx.send(r);
        }
    }

    /// Builds the container spec the agent gets for a workload.
    pub fn container_spec(&self, w: &workload::Model) -> Result<v1::ContainerSpec> {
        let spec: SpecDoc = serde_json::from_str(&w.spec).map_err(Error::internal)?;
        let secret: SecretDoc = match &w.credentials {
            Some(sealed) => serde_json::from_slice(&self.secrets.open(&w.id, sealed)?)
                .map_err(Error::internal)?,
            None => SecretDoc::default(),
        };
        let mut s = v1::ContainerSpec {
            workload_id: w.id.clone(),
            name: w.name.clone(),
            image: w.image.clone(),
            env: secret
                .env
                .into_iter()
                .map(|(key, value)| v1::EnvVar { key, value })
                .collect(),
            command: spec.command,
            ports: spec.ports,
            resources: Some(v1::Resources {
                cpu_millis: u32::try_from(w.cpu_millis).unwrap_or(0),
                memory_bytes: u64::try_from(w.memory_bytes).unwrap_or(0),
            }),
            volume_path: spec.volume_path,
            owner: w.owner_id.clone(),
            readiness: spec.readiness,
            readiness_args: spec.readiness_args,
            // 0 (the default) adds nothing to the hash of older specs.
            stop_timeout_seconds: spec.stop_timeout_seconds,
            spec_hash: String::new(),
        };
        s.spec_hash = spec_hash(&s, w.generation);
        Ok(s)
    }

    /// Pushes the full desired state to a node (no-op when it is offline).
    pub async fn push(&self, node_id: &str) -> Result<()> {
        if !self.is_connected(node_id) {
            return Ok(());
        }
        let mut workloads = Vec::new();
        for w in self.repo.workloads_on(node_id).await? {
            workloads.push(v1::DesiredWorkload {
                spec: Some(self.container_spec(&w)?),
                state: w.desired.clone(),
                purge: w.purge,
            });
        }
        debug!(node = %node_id, count = workloads.len(), "pushing desired state");
        let msg = v1::ControlMessage {
            correlation_id: String::new(),
            cmd: Some(v1::control_message::Cmd::Desired(v1::DesiredState {
                workloads,
            })),
        };
        // A node that dropped in between gets the state on reconnect.
        let _ = self.send(node_id, msg).await;
        Ok(())
    }

    /// Chooses a node for a workload: ready, not draining, Docker healthy,
    /// with room, preferring the most free memory.
    pub async fn schedule(&self, cpu_millis: i64, memory_bytes: i64) -> Result<node::Model> {
        let nodes = self.repo.nodes().await?;
        if nodes.is_empty() {
            return Err(Error::FailedPrecondition(
                "no node is ready: no machine has joined yet; create a token with `lattice nodes join-token` and start lattice-agentd".into(),
            ));
        }
        let all = self.repo.all_workloads().await?;
        let mut reasons = Vec::new();
        let mut best: Option<(i64, node::Model)> = None;
        for n in nodes {
            if !self.is_connected(&n.id) {
                reasons.push(format!("{} is not connected", n.name));
                continue;
            }
            if n.draining {
                reasons.push(format!("{} is draining", n.name));
                continue;
            }
            if !n.docker_ok {
                reasons.push(format!(
                    "{} cannot run containers: {}",
                    n.name,
                    n.docker_error
                        .clone()
                        .unwrap_or_else(|| "Docker is unavailable".into())
                ));
                continue;
            }
            let on: Vec<_> = all
                .iter()
                .filter(|w| w.node_id.as_deref() == Some(n.id.as_str()))
                .collect();
            let used_mem: i64 = on.iter().map(|w| w.memory_bytes).sum();
            let used_cpu: i64 = on.iter().map(|w| w.cpu_millis).sum();
            let free_mem = n.memory_bytes_capacity - used_mem;
            let free_cpu = n.cpu_millis_capacity - used_cpu;
            if (memory_bytes > 0 && memory_bytes > free_mem)
                || (cpu_millis > 0 && cpu_millis > free_cpu)
            {
                reasons.push(format!("{} has not enough free capacity", n.name));
                continue;
            }
            if best.as_ref().is_none_or(|(m, _)| free_mem > *m) {
                best = Some((free_mem, n));
            }
        }
        best.map(|(_, n)| n).ok_or_else(|| {
            Error::FailedPrecondition(format!("no node is ready: {}", reasons.join("; ")))
        })
    }

    /// Called when an agent's control stream starts.
    pub async fn connected(
        self: &Arc<Self>,
        node: node::Model,
        hello: &v1::Hello,
        peer: Option<std::net::IpAddr>,
        tx: mpsc::Sender<Result<v1::ControlMessage, tonic::Status>>,
    ) -> Result<u64> {
        let conn = self.register(&node.id, tx);
        let address = if hello.advertise_host.trim().is_empty() {
            peer.map(|p| p.to_string())
        } else {
            Some(hello.advertise_host.trim().to_string())
        };
        let mut am = node.clone().into_active_model();
        am.connected = Set(true);
        am.last_seen_at = Set(Some(clock::now_ms()));
        am.docker_ok = Set(hello.docker_ok);
        am.docker_error = Set((!hello.docker_error.is_empty()).then(|| hello.docker_error.clone()));
        am.cpu_millis_capacity = Set(i64::from(hello.cpu_millis_capacity));
        am.memory_bytes_capacity =
            Set(i64::try_from(hello.memory_bytes_capacity).unwrap_or(i64::MAX));
        am.address = Set(address);
        am.agent_version = Set(Some(hello.agent_version.chars().take(64).collect()));
        self.repo.save_node(am).await?;
        info!(node = %node.name, docker_ok = hello.docker_ok, "agent connected");
        self.push(&node.id).await?;
        Ok(conn)
    }

    /// Called when an agent's control stream ends.
    pub async fn disconnected(&self, node_id: &str, conn: u64) {
        if self.unregister(node_id, conn) {
            if let Err(e) = self.repo.node_disconnected(node_id).await {
                warn!(error = %e, "could not record disconnect");
            }
            info!(node = %node_id, "agent disconnected");
        }
    }
}

/// Hash of a spec (without its hash field) and the workload's generation.
pub fn spec_hash(s: &v1::ContainerSpec, generation: i64) -> String {
    let mut s = s.clone();
    s.spec_hash.clear();
    let mut h = Sha256::new();
    h.update(s.encode_to_vec());
    h.update(generation.to_le_bytes());
    hex::encode(&h.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_hash_follows_spec_and_generation() {
        let s = v1::ContainerSpec {
            image: "a".into(),
            ..Default::default()
        };
        let h0 = spec_hash(&s, 0);
        assert_eq!(h0, spec_hash(&s, 0));
        assert_ne!(h0, spec_hash(&s, 1));
        let mut t = s.clone();
        t.image = "b".into();
        assert_ne!(h0, spec_hash(&t, 0));
        let mut u = s.clone();
        u.spec_hash = "ignored".into();
        assert_eq!(h0, spec_hash(&u, 0));
    }
}
