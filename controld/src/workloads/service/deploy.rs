//! Deploy: a new name creates a workload (the catalogue resolves the
//! request, the scheduler picks a node — or the node of the kept volume it
//! reattaches — and one transaction stores the row, its first version and
//! its edge ports); a name the caller already has is an update in place.

use lattice_proto::state::{Desired, Status};
use lattice_proto::v1;
use sea_orm::ActiveValue::Set;
use tracing::info;

use super::WorkloadApi;
use crate::auth::Caller;
use crate::catalog::SecretDoc;
use crate::clock;
use crate::entity::{kept_volume, workload, workload_version};
use crate::error::{Error, Result};
use crate::fleet::Placement;
use crate::quota::Usage;
use crate::repo::NewRows;
use crate::workloads::template::{Template, with_user_env};

/// What a deploy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new workload.
    Created,
    /// A new version is rolling out.
    Updated,
    /// The spec was what already runs.
    Unchanged,
}

impl Outcome {
    /// Its word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
        }
    }
}

impl WorkloadApi {
    /// Refuses a deploy that would take the caller past a quota. `replacing`:
    /// the workload a change replaces, whose use is given back first.
    pub(super) async fn admit(
        &self,
        c: &Caller,
        (cpu, mem, ports, bytes): (i64, i64, usize, u64),
        replacing: Option<&str>,
    ) -> Result<()> {
        let d = self.policy.defaults;
        let mine: Vec<_> = self
            .repo
            .reservations_of(&c.user.id)
            .await?
            .into_iter()
            .filter(|(id, _)| Some(id.as_str()) != replacing)
            .collect();
        let mut used = Usage::default();
        for (_, r) in &mine {
            let (wc, wm) = d.effective(r.cpu_millis, r.memory_bytes);
            used.workloads += 1;
            used.cpu_millis += wc;
            used.memory_bytes += wm;
            used.spec_bytes += u64::try_from(r.spec_bytes).unwrap_or(0);
        }
        let ids: Vec<String> = mine.into_iter().map(|(id, _)| id).collect();
        used.edge_ports = self.repo.edge_ports_for(&ids).await?.len() as u64;
        let (ac, am) = d.effective(cpu, mem);
        let asked = Usage {
            workloads: 1,
            cpu_millis: ac,
            memory_bytes: am,
            edge_ports: ports as u64,
            spec_bytes: bytes,
        };
        self.policy.quotas.admit(used, asked)
    }

    /// Creates the caller's workload, or updates the one of that name.
    pub(super) async fn deploy_or_update(
        &self,
        c: &Caller,
        r: &v1::DeployRequest,
    ) -> Result<(workload::Model, Outcome)> {
        let mut resolved = self.catalog.resolve(r)?;
        // The quota check and the insert are one turn per account.
        let turn = self.deploys.lock(&c.user.id).await;
        if let Some(w) = self.repo.workload(&c.user.id, &r.name).await? {
            drop(turn);
            if w.desired == Desired::Deleted {
                return Err(Error::FailedPrecondition(format!(
                    "{} is still being removed (its node is removing its container{}); \
                     deploy again once `lattice rm {} --wait` returns",
                    w.name,
                    if w.purge { "" } else { "; its volume is kept" },
                    w.name
                )));
            }
            if w.kind != resolved.kind {
                return Err(Error::AlreadyExists(format!(
                    "{} is a {} workload, not {}; pick another name, or remove it first with `lattice rm {}`",
                    w.name, w.kind, resolved.kind, w.name
                )));
            }
            if r.reuse_volume {
                return Err(Error::FailedPrecondition(format!(
                    "{} exists and already has its volume; --reuse-volume is for a name whose workload was removed",
                    w.name
                )));
            }
            // The limits fixed at its first deploy stay its own.
            let spec: crate::catalog::SpecDoc =
                serde_json::from_str(&w.spec).map_err(Error::internal)?;
            resolved.spec.default_limits = spec.default_limits;
            let t = Template::from_resolved(&resolved);
            let (w, changed) = self.change(c, w, t, "deploy".into()).await?;
            let outcome = if changed {
                Outcome::Updated
            } else {
                Outcome::Unchanged
            };
            return Ok((w, outcome));
        }
        let kept = self.repo.kept_volume(&c.user.id, &r.name).await?;
        let kept = match (kept, r.reuse_volume) {
            (Some(k), true) if k.kind != resolved.kind => {
                return Err(Error::FailedPrecondition(format!(
                    "the kept volume of {} holds a {} workload's data, not {}'s; deploy it as {}, or remove it with `lattice volumes rm {}`",
                    r.name, k.kind, resolved.kind, k.kind, r.name
                )));
            }
            (Some(k), true) => Some(k),
            (Some(k), false) => {
                return Err(Error::FailedPrecondition(format!(
                    "{} left a data volume behind when it was removed on {} ({} on node {}); \
                     deploy with --reuse-volume to attach it, or remove it with `lattice volumes rm {}`",
                    r.name,
                    clock::rfc3339(k.kept_at),
                    k.kind,
                    self.node_name(k.node_id.as_deref())
                        .await
                        .unwrap_or_else(|| "a removed node".into()),
                    r.name
                )));
            }
            (None, true) => {
                return Err(Error::NotFound(format!(
                    "no kept volume named {:?} to reuse (see `lattice volumes ls`); deploy without --reuse-volume",
                    r.name
                )));
            }
            (None, false) => None,
        };
        let defaults = self.policy.defaults;
        resolved.spec.default_limits = Some(defaults.doc());
        let id = kept
            .as_ref()
            .map_or_else(|| uuid::Uuid::now_v7().to_string(), |k| k.id.clone());
        let template = Template::from_resolved(&resolved);
        if let Some(k) = &kept {
            // The data was made with the old credentials: keep them.
            let old = match &k.credentials {
                Some(sealed) => {
                    serde_json::from_slice::<SecretDoc>(&self.secrets.open(&k.id, sealed)?)
                        .map_err(Error::internal)?
                }
                None => SecretDoc::default(),
            };
            resolved.secret = with_user_env(resolved.kind, &old, &template.env);
        }
        let spec = serde_json::to_string(&resolved.spec).map_err(Error::internal)?;
        let credentials = resolved.secret.seal(&self.secrets, &id)?;
        let bytes =
            crate::quota::stored_bytes(&r.name, &resolved.image, &spec, Some(&credentials), None);
        let (cpu, mem) = (template.cpu_millis, template.memory_bytes);
        self.admit(c, (cpu, mem, resolved.spec.ports.len(), bytes), None)
            .await?;
        // From the scheduler's snapshot to a hold on the chosen room,
        // placements take turns: two deploys never count the same free room.
        let placing = self.fleet.placement_turn().await;
        let placement = match kept.as_ref().and_then(|k| k.node_id.clone()) {
            Some(node_id) => self
                .fleet
                .place_on(&node_id, (cpu, mem, bytes))
                .await
                .map_err(|e| {
                    Error::NoNode(format!(
                        "the kept volume of {} is on a node that cannot take it: {e}; \
                         make room there, or remove the volume with `lattice volumes rm {} --forget`",
                        r.name, r.name
                    ))
                })?,
            None if kept.is_some() => {
                return Err(Error::FailedPrecondition(format!(
                    "the node that held the kept volume of {} was removed; forget it with `lattice volumes rm {} --forget`",
                    r.name, r.name
                )));
            }
            None => self.fleet.schedule(cpu, mem, bytes).await?,
        };
        // The row is written outside the turn; the hold keeps its room
        // counted until a reservation read sees the row.
        let hold = match &placement {
            Placement::Node(n) | Placement::WaitOn(n, _) => {
                Some(self.fleet.hold(&n.id, (cpu, mem, bytes)))
            }
            Placement::Wait(_) => None,
        };
        drop(placing);
        let now = clock::now_ms();
        let (node, status, message) = match &placement {
            Placement::Node(n) if kept.is_some() => (
                Some(n),
                Status::Scheduled,
                format!("placed on node {} with its kept volume", n.name),
            ),
            Placement::Node(n) => (
                Some(n),
                Status::Scheduled,
                format!("placed on node {}", n.name),
            ),
            Placement::Wait(why) => (None, Status::Pending, why.clone()),
            // On its node already (its room held there): the node's agent
            // starts it when it connects, as every workload placed there.
            Placement::WaitOn(n, why) => (Some(n), Status::Pending, why.clone()),
        };
        let am = workload::ActiveModel {
            id: Set(id.clone()),
            owner_id: Set(c.user.id.clone()),
            name: Set(r.name.clone()),
            kind: Set(resolved.kind),
            image: Set(resolved.image.clone()),
            spec: Set(spec),
            credentials: Set(Some(credentials)),
            pending_credentials: Set(None),
            desired: Set(Desired::Running),
            purge: Set(false),
            generation: Set(0),
            version: Set(1),
            status: Set(status),
            status_message: Set(message.clone()),
            progress_percent: Set(0),
            node_id: Set(node.map(|n| n.id.clone())),
            container_id: Set(None),
            published_ports: Set("{}".into()),
            last_log_lines: Set("[]".into()),
            cpu_millis: Set(cpu),
            memory_bytes: Set(mem),
            spec_bytes: Set(i64::try_from(bytes).unwrap_or(i64::MAX)),
            restart_count: Set(0),
            last_exit_code: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let rows = NewRows {
            version: self.version_row(&id, 1, &template, "deploy", now)?,
            reused_volume: kept.as_ref().map(|k: &kept_volume::Model| k.id.clone()),
        };
        let (w, edge_ports) = self
            .repo
            .insert_workload(
                am,
                &c.user.id,
                &r.name,
                &resolved.spec.ports,
                self.edge.pool(),
                rows,
            )
            .await?;
        drop(hold);
        drop(turn);
        for p in &edge_ports {
            self.edge.bind(p.port, &w.id, p.container_port).await;
        }
        self.repo.event(&w.id, status, &message).await?;
        let node = node.map_or("", |n| n.name.as_str());
        info!(workload = %w.id, name = %w.name, kind = %w.kind, node, reused = kept.is_some(), "workload deployed");
        self.fleet.publish(&w, false);
        self.fleet.push_workload(&w.id).await?;
        Ok((w, Outcome::Created))
    }

    /// A version row for `template`.
    pub(super) fn version_row(
        &self,
        workload_id: &str,
        version: i64,
        template: &Template,
        cause: &str,
        at: i64,
    ) -> Result<workload_version::ActiveModel> {
        Ok(workload_version::ActiveModel {
            workload_id: Set(workload_id.to_string()),
            version: Set(version),
            template: Set(template.seal(&self.secrets, workload_id)?),
            summary: Set(serde_json::to_string(&template.summary()).map_err(Error::internal)?),
            cause: Set(cause.chars().take(200).collect()),
            created_at: Set(at),
        })
    }

    /// A node's name, None when it is gone (removed from the cluster).
    pub(super) async fn node_name(&self, node_id: Option<&str>) -> Option<String> {
        self.repo
            .node(node_id?)
            .await
            .ok()
            .flatten()
            .map(|n| n.name)
    }
}
