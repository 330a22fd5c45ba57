//! The desired-state push: what a node should run, as fully resolved
//! container specs. Level-triggered: on every (re)connect and every change a
//! node gets the full set of workloads placed on it and converges by itself.

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

    /// Pushes the full desired state to a node (no-op when it is offline).
    pub async fn push(&self, node_id: &str) -> Result<()> {
        if !self.is_connected(node_id) {
            return Ok(());
        }
        let mut workloads = Vec::new();
        for w in self.repo.workloads_on(node_id).await? {
            workloads.push(v1::DesiredWorkload {
                spec: Some(self.container_spec(&w)?),
                run: w.desired.to_wire() as i32,
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
