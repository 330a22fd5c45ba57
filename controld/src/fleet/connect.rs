//! An agent's control stream starting and ending: the node row follows
//! (capacity, Docker health, address), and a new connection gets the full
//! desired state at once.

use std::sync::Arc;

use lattice_proto::v1;
use sea_orm::ActiveValue::Set;
use sea_orm::IntoActiveModel;
use tracing::{info, warn};

use super::Fleet;
use super::registry::AgentTx;
use crate::clock;
use crate::entity::node;
use crate::error::Result;

impl Fleet {
    /// Called when an agent's control stream starts.
    pub async fn connected(
        self: &Arc<Self>,
        node: node::Model,
        hello: &v1::Hello,
        peer: Option<std::net::IpAddr>,
        tx: AgentTx,
    ) -> Result<u64> {
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
        // Registered only once the row says what the agent said: a node is
        // never seen connected with the capacity and Docker health of an
        // earlier connection (the scheduler would refuse or misplace work).
        let conn = self.register(&node.id, tx);
        info!(node = %node.name, docker_ok = hello.docker_ok, "agent connected");
        self.push(&node.id).await?;
        self.wake_placer();
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

    /// Records a heartbeat from a connected node. A node controld lost
    /// track of (its lease ran out while the stream stayed up, a report
    /// could not be stored) is asked for every report again and gets its
    /// desired state, so its workloads return from `lost` without a reconnect.
    pub async fn heartbeat(self: &Arc<Self>, node_id: &str, h: v1::Heartbeat) -> Result<()> {
        self.record_usage(node_id, h.usage);
        let err = (!h.docker_error.is_empty()).then_some(h.docker_error);
        if let Err(e) = self.repo.heartbeat(node_id, h.docker_ok, err).await {
            self.want_resync(node_id);
            return Err(e);
        }
        let due = self.resync.lock().is_ok_and(|mut s| s.remove(node_id));
        if due {
            info!(node = %node_id, "asking the node for all its reports again");
            let msg = v1::ControlMessage {
                correlation_id: String::new(),
                cmd: Some(v1::control_message::Cmd::Resync(v1::Resync {})),
            };
            if self.send(node_id, msg).await.is_err() {
                self.want_resync(node_id);
            }
            // The full state of a busy node takes a while to build and send:
            // never on the control loop, whose next heartbeat must not wait.
            let (fleet, node) = (self.clone(), node_id.to_string());
            tokio::spawn(async move {
                if let Err(e) = fleet.push(&node).await {
                    fleet.want_resync(&node);
                    warn!(node = %node, error = %e, "could not push the desired state");
                }
            });
        }
        Ok(())
    }

    /// Marks a node for a full resync on its next heartbeat.
    pub fn want_resync(&self, node_id: &str) {
        if let Ok(mut s) = self.resync.lock() {
            s.insert(node_id.to_string());
        }
    }
}
