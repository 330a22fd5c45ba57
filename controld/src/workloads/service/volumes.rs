//! Kept data volumes: what `rm` without `--purge` leaves on a node, listed,
//! and removed by the node's agent (which refuses while a container of that
//! workload still exists).

use lattice_proto::state::Desired;
use lattice_proto::v1;
use tracing::info;

use super::WorkloadApi;
use crate::auth::Caller;
use crate::entity::kept_volume;
use crate::error::{Error, Result};

impl WorkloadApi {
    async fn volume_proto(&self, k: &kept_volume::Model) -> v1::Volume {
        let node = self.node_name(k.node_id.as_deref()).await;
        v1::Volume {
            name: k.name.clone(),
            kind: k.kind.to_string(),
            image: k.image.clone(),
            node: node.unwrap_or_default(),
            created_at: Some(v1::Timestamp::from_millis(k.created_at)),
            kept_at: Some(v1::Timestamp::from_millis(k.kept_at)),
            state: "kept".into(),
        }
    }

    /// The caller's kept volumes, and those being kept: from the moment
    /// `rm` answers, a workload whose container its node is still removing
    /// is listed (`removing`), so `volumes ls` agrees with what `rm` said.
    /// The node's confirmation turns it into a record in one transaction.
    pub(super) async fn volumes(&self, c: &Caller) -> Result<Vec<v1::Volume>> {
        let mut out = Vec::new();
        for k in self.repo.kept_volumes_of(&c.user.id).await? {
            out.push(self.volume_proto(&k).await);
        }
        for w in self.repo.workloads_of(&c.user.id).await? {
            let being_kept = w.desired == Desired::Deleted
                && !w.purge
                && w.node_id.is_some()
                && crate::catalog::declares_volume(&w.spec);
            if !being_kept {
                continue;
            }
            let node = self.node_name(w.node_id.as_deref()).await;
            out.push(v1::Volume {
                name: w.name.clone(),
                kind: w.kind.to_string(),
                image: w.image.clone(),
                node: node.unwrap_or_default(),
                created_at: Some(v1::Timestamp::from_millis(w.created_at)),
                kept_at: Some(v1::Timestamp::from_millis(w.updated_at)),
                state: "removing".into(),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Removes the caller's kept volume from its node; `forget` drops only
    /// the record (for a node that is gone for good).
    pub(super) async fn remove_volume(
        &self,
        c: &Caller,
        name: &str,
        forget: bool,
    ) -> Result<v1::Volume> {
        lattice_proto::validate::name("name", name)?;
        let Some(k) = self.repo.kept_volume(&c.user.id, name).await? else {
            let removing = self
                .repo
                .workload(&c.user.id, name)
                .await?
                .is_some_and(|w| w.desired == Desired::Deleted);
            return Err(if removing {
                Error::FailedPrecondition(format!(
                    "{name}'s container is still being removed; try again once `lattice rm {name} --wait` \
                     returns (or delete the data with it: `lattice rm {name} --purge`)"
                ))
            } else {
                Error::NotFound(format!(
                    "no kept volume named {name:?} (see `lattice volumes ls`)"
                ))
            });
        };
        let shown = self.volume_proto(&k).await;
        let node = k.node_id.clone().filter(|_| !shown.node.is_empty());
        match node {
            _ if forget => {}
            None => {
                return Err(Error::FailedPrecondition(format!(
                    "the node that held {name}'s volume was removed; forget the record with `lattice volumes rm {name} --forget`"
                )));
            }
            Some(node) => {
                if !self.fleet.is_connected(&node) {
                    return Err(Error::NodeDown(format!(
                        "node {} holds {name}'s volume and is not connected; start its agent and try again \
                         (or, if it is gone for good, `lattice volumes rm {name} --forget`)",
                        shown.node
                    )));
                }
                let cmd = v1::control_message::Cmd::RemoveVolume(v1::RemoveVolume {
                    workload_id: k.id.clone(),
                });
                let res = self.fleet.command(&node, cmd).await?;
                if !res.ok {
                    return Err(Error::NodeDown(format!(
                        "node {} could not remove {name}'s volume: {}",
                        shown.node, res.error
                    )));
                }
            }
        }
        self.repo.delete_kept_volume(&k.id).await?;
        info!(volume = %k.id, forget, "kept volume removed");
        Ok(shown)
    }
}
