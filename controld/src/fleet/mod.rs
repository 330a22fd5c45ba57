//! The fleet: which agents are connected, what each node should run, and
//! what they report. One concern per file:
//!
//! - `registry`: live control streams, sending on them, command results;
//! - `connect`: a control stream starting and ending;
//! - `desired`: the desired-state push (full in chunks, or one workload) and spec hashes;
//! - `node_secret`: rotating a node's secret in place (pending, then promoted);
//! - `schedule`: placement, a pure choice over a snapshot of nodes;
//! - `ledger`: what placement counts as reserved (a read sum plus in-flight holds);
//! - `placement`: that choice against the store, and the placer of waiting workloads;
//! - `reports`: observed state from agents, statuses controld sets, leases;
//! - `streams`: agent-opened byte streams (logs, exec, backups) waiting for a claim;
//! - `tunnel`: relay data connections (raw bytes over TLS) waiting for a claim.
//!
//! Watch subscribers see every change through [`Fleet::subscribe`].

pub mod agent_service;
mod connect;
mod desired;
mod ledger;
pub mod node_secret;
pub mod node_service;
mod placement;
mod registry;
mod reports;
pub mod schedule;
pub mod streams;
mod tunnel;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lattice_proto::v1;
use tokio::sync::broadcast;

pub use desired::spec_hash;
pub use ledger::HoldGuard;
pub use placement::Placement;
pub use tunnel::Tunnel;

use crate::entity::workload;
use crate::keyed_lock::KeyedLocks;
use crate::repo::Repo;
use crate::secrets::SecretBox;

/// A connected agent's control stream.
struct AgentHandle {
    conn: u64,
    tx: registry::AgentTx,
    /// The machine's load from the agent's last heartbeat on this connection.
    usage: Option<v1::NodeUsage>,
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
    repo: Repo,
    secrets: SecretBox,
    agents: Mutex<HashMap<String, AgentHandle>>,
    next_conn: AtomicU64,
    changes: broadcast::Sender<Change>,
    streams: streams::Pending,
    /// Relay data connections waiting for their agent.
    tunnels: streams::Pending<tunnel::Answer>,
    /// A node silent this long is unreachable and its workloads lost.
    lease: Duration,
    closing: tokio::sync::watch::Sender<bool>,
    /// Commands waiting for their result, by correlation id, with the node asked.
    results: Mutex<HashMap<String, (String, tokio::sync::oneshot::Sender<v1::CommandResult>)>>,
    /// Nodes whose reports controld lost track of (lease ran out on a live
    /// stream, a report failed to store): resynced on their next heartbeat.
    resync: Mutex<std::collections::HashSet<String>>,
    /// Pushes to one node take turns (see [`Fleet::push`]).
    pushes: KeyedLocks,
    /// The most spec bytes one node may hold (its desired state's size).
    node_spec_bytes: u64,
    /// Placements take turns (see [`Fleet::placement_turn`]).
    placing: tokio::sync::Mutex<()>,
    /// What placement counts as reserved on each node.
    ledger: Arc<ledger::Ledger>,
    /// Wakes the placer of waiting workloads.
    placer: tokio::sync::Notify,
}

impl Fleet {
    /// New fleet over the store.
    pub fn new(repo: Repo, secrets: SecretBox, lease: Duration, node_spec_bytes: u64) -> Arc<Self> {
        Arc::new(Self {
            repo,
            secrets,
            agents: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            changes: broadcast::channel(1024).0,
            streams: streams::Pending::default(),
            tunnels: streams::Pending::default(),
            lease,
            closing: tokio::sync::watch::channel(false).0,
            results: Mutex::new(HashMap::new()),
            resync: Mutex::new(std::collections::HashSet::new()),
            pushes: KeyedLocks::default(),
            node_spec_bytes,
            placing: tokio::sync::Mutex::new(()),
            ledger: Arc::default(),
            placer: tokio::sync::Notify::new(),
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

    /// Whether the server is shutting down.
    pub fn is_closing(&self) -> bool {
        *self.closing.borrow()
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
}
