//! The desired-state push: what a node should run, as fully resolved
//! container specs. Level-triggered: on every (re)connect (and when controld
//! lost track of a node) the node gets the full set of workloads placed on
//! it, in chunks; a change to one workload sends that workload alone. Either
//! way the node converges by itself.

use lattice_proto::v1;
use prost::Message;
use sha2::{Digest, Sha256};
use tracing::debug;

use super::Fleet;
use crate::catalog::{SecretDoc, SpecDoc};
use crate::entity::workload;
use crate::error::{Error, Result};

impl Fleet {
    /// Builds the container spec the agent gets for a workload.
    pub fn container_spec(&self, w: &workload::Model) -> Result<v1::ContainerSpec> {
        let spec: SpecDoc = serde_json::from_str(&w.spec).map_err(Error::internal)?;
        let limits = crate::quota::limits_of(w);
        let secret = SecretDoc::unseal(&self.secrets, w)?;
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
            resources: Some(limits),
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

    /// What a node should do with one workload.
    fn desired_of(&self, w: &workload::Model) -> Result<v1::DesiredWorkload> {
        Ok(v1::DesiredWorkload {
            spec: Some(self.container_spec(w)?),
            run: w.desired.to_wire() as i32,
            purge: w.purge,
        })
    }

    /// Pushes a node's full desired state, in chunks of about
    /// [`CHUNK_BYTES`] (no-op when it is offline). Pushes to one node take
    /// turns and read the store inside their turn, so a node never gets an
    /// older state after a newer one.
    pub async fn push(&self, node_id: &str) -> Result<()> {
        if !self.is_connected(node_id) {
            return Ok(());
        }
        let _turn = self.pushes.lock(node_id).await;
        let rows = self.repo.workloads_on(node_id).await?;
        let workloads = rows
            .iter()
            .map(|w| self.desired_of(w))
            .collect::<Result<Vec<_>>>()?;
        let sync_id = uuid::Uuid::new_v4().to_string();
        let parts = chunks(workloads, CHUNK_BYTES);
        debug!(node = %node_id, count = rows.len(), chunks = parts.len(), "pushing desired state");
        let last = parts.len().saturating_sub(1);
        for (i, part) in parts.into_iter().enumerate() {
            let state = v1::DesiredState {
                workloads: part,
                partial: false,
                sync_id: sync_id.clone(),
                more: i < last,
            };
            if self.send(node_id, desired(state)).await.is_err() {
                // Gone: it gets everything on reconnect. Stalled: again on
                // its next heartbeat.
                self.want_resync(node_id);
                break;
            }
        }
        Ok(())
    }

    /// Tells a workload's node about a change to it alone.
    pub async fn push_workload(&self, workload_id: &str) -> Result<()> {
        let Some(w) = self.repo.workload_by_id(workload_id).await? else {
            return Ok(());
        };
        let Some(node_id) = w.node_id.clone() else {
            return Ok(());
        };
        if !self.is_connected(&node_id) {
            return Ok(());
        }
        let _turn = self.pushes.lock(&node_id).await;
        // Read again inside the node's turn: what is sent is never older
        // than what an earlier turn sent.
        let Some(w) = self.repo.workload_by_id(workload_id).await? else {
            return Ok(());
        };
        if w.node_id.as_deref() != Some(node_id.as_str()) {
            return Ok(());
        }
        let state = v1::DesiredState {
            workloads: vec![self.desired_of(&w)?],
            partial: true,
            sync_id: String::new(),
            more: false,
        };
        if self.send(&node_id, desired(state)).await.is_err() {
            self.want_resync(&node_id);
        }
        Ok(())
    }
}

/// The most bytes of workloads one desired-state message carries (a single
/// larger workload goes alone; validation keeps each well under 1 MiB).
pub const CHUNK_BYTES: usize = 1 << 20;

fn desired(state: v1::DesiredState) -> v1::ControlMessage {
    v1::ControlMessage {
        correlation_id: String::new(),
        cmd: Some(v1::control_message::Cmd::Desired(state)),
    }
}

/// Splits workloads into runs of at most `max_bytes` encoded bytes each, in
/// order; always at least one run (an empty state must reach the node too).
pub fn chunks(
    workloads: Vec<v1::DesiredWorkload>,
    max_bytes: usize,
) -> Vec<Vec<v1::DesiredWorkload>> {
    let mut out = vec![Vec::new()];
    let mut bytes = 0;
    for w in workloads {
        let len = w.encoded_len();
        let current = out.last().map_or(0, Vec::len);
        if current > 0 && bytes + len > max_bytes {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += len;
        if let Some(run) = out.last_mut() {
            run.push(w);
        }
    }
    out
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

    fn workload(env_bytes: usize) -> v1::DesiredWorkload {
        v1::DesiredWorkload {
            spec: Some(v1::ContainerSpec {
                env: vec![v1::EnvVar {
                    key: "K".into(),
                    value: "x".repeat(env_bytes),
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn chunks_stay_under_the_limit_and_keep_everything_in_order() {
        let ws: Vec<_> = (0..100).map(|i| workload(45_000 + i)).collect();
        let total: usize = ws.iter().map(|w| w.encoded_len()).sum();
        assert!(total > 4 << 20, "more than tonic's default message size");
        let parts = chunks(ws.clone(), CHUNK_BYTES);
        assert!(parts.len() >= 3, "{} chunks", parts.len());
        for p in &parts {
            let bytes: usize = p.iter().map(|w| w.encoded_len()).sum();
            assert!(bytes <= CHUNK_BYTES, "{bytes}");
            // Wrapped in its message, a chunk stays far under the gRPC limit.
            let msg = v1::DesiredState {
                workloads: p.clone(),
                ..Default::default()
            };
            assert!(msg.encoded_len() < CHUNK_BYTES + 4096);
        }
        assert_eq!(parts.concat(), ws);
    }

    #[test]
    fn an_empty_state_is_one_empty_chunk_and_a_large_workload_goes_alone() {
        assert_eq!(chunks(Vec::new(), CHUNK_BYTES), vec![Vec::new()]);
        let parts = chunks(vec![workload(10), workload(2000), workload(10)], 1000);
        assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1, 1]);
    }

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
