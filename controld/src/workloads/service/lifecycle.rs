//! Desired-state changes of one workload as typed transitions: each one
//! plans (purely, from the row) the desired state, the status shown
//! meanwhile and whether it starts a new generation; applying a plan saves
//! the row with an event, tells watchers and pushes to the node. Credential
//! rotation is a transition too.

use lattice_proto::state::{Desired, Kind, Status};
use lattice_proto::v1;
use sea_orm::ActiveValue::Set;
use sea_orm::IntoActiveModel;
use tracing::info;

use super::WorkloadApi;
use crate::catalog::SecretDoc;
use crate::clock;
use crate::entity::workload;
use crate::error::{Error, Result};

/// Bounds on the password change inside Postgres (rotation).
const ROTATE_PG_OPTIONS: &str = "-c lock_timeout=5s -c statement_timeout=10s";

/// A change of desired state the owner asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Stop it (container and volume kept).
    Stop,
    /// Start it; a failed workload gets a fresh attempt.
    Start,
    /// Recreate its container (new generation), data kept.
    Restart,
    /// Remove it; with `purge` its data volume too.
    Delete {
        /// Also remove the data volume.
        purge: bool,
    },
    /// Recreate it with new credentials, keeping its desired state.
    ApplyCredentials,
}

impl Transition {
    /// Its name in the audit log.
    pub fn action(self) -> &'static str {
        match self {
            Transition::Stop => "stop",
            Transition::Start => "start",
            Transition::Restart => "restart",
            Transition::Delete { purge: false } => "rm",
            Transition::Delete { purge: true } => "rm.purge",
            Transition::ApplyCredentials => "access.rotate",
        }
    }
}

/// What a transition does to a workload row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The new desired state.
    pub desired: Desired,
    /// Starts a new generation (the container is recreated).
    pub new_generation: bool,
    /// With [`Desired::Deleted`]: remove the volume too.
    pub purge: bool,
    /// Status shown until the node reports.
    pub status: Status,
    /// Why, for the event.
    pub message: &'static str,
}

impl Transition {
    /// The plan for a workload as it is now, or None when it already is
    /// where the transition leads (nothing to do, nothing recorded).
    pub fn plan(self, w: &workload::Model) -> Option<Plan> {
        let plan = |desired, new_generation, purge, status, message| Plan {
            desired,
            new_generation,
            purge,
            status,
            message,
        };
        match self {
            Transition::Stop => (w.desired != Desired::Stopped).then(|| {
                plan(
                    Desired::Stopped,
                    false,
                    false,
                    Status::Stopping,
                    "stop requested",
                )
            }),
            Transition::Start => {
                let failed = w.status == Status::Failed;
                (w.desired != Desired::Running || failed).then(|| {
                    plan(
                        Desired::Running,
                        failed,
                        false,
                        Status::Starting,
                        "start requested",
                    )
                })
            }
            Transition::Restart => Some(plan(
                Desired::Running,
                true,
                false,
                Status::Starting,
                "restart requested",
            )),
            Transition::Delete { purge } => (w.desired != Desired::Deleted || w.purge != purge)
                .then(|| {
                    plan(
                        Desired::Deleted,
                        false,
                        purge,
                        Status::Deleting,
                        "delete requested",
                    )
                }),
            Transition::ApplyCredentials => Some(if w.desired == Desired::Running {
                plan(
                    Desired::Running,
                    false,
                    false,
                    Status::Starting,
                    "applying new credentials",
                )
            } else {
                plan(
                    Desired::Stopped,
                    false,
                    false,
                    Status::Stopped,
                    "applying new credentials",
                )
            }),
        }
    }
}

impl WorkloadApi {
    /// Applies a transition: saves the row with an event, tells watchers,
    /// pushes to the node. A no-op transition returns the row unchanged.
    pub(super) async fn apply(&self, w: workload::Model, t: Transition) -> Result<workload::Model> {
        // An acknowledged delete is never undone (found by `make chaos`: a
        // start during a slow delete brought the workload back).
        if w.desired == Desired::Deleted && !matches!(t, Transition::Delete { .. }) {
            return Err(Error::FailedPrecondition(format!(
                "{} is being deleted; wait for it to go, then deploy it again",
                w.name
            )));
        }
        let Some(mut p) = t.plan(&w) else {
            return Ok(w);
        };
        if w.node_id.is_none() {
            // Not placed (waiting, or its node was removed): no node to tell.
            (p.status, p.message) = match p.desired {
                Desired::Running => (Status::Pending, "waiting for a node"),
                Desired::Stopped => (Status::Stopped, "stopped before a node took it"),
                Desired::Deleted => (p.status, p.message),
            };
        }
        let generation = w.generation;
        let mut am = w.into_active_model();
        am.desired = Set(p.desired);
        am.purge = Set(p.purge);
        if p.new_generation {
            am.generation = Set(generation + 1);
        }
        am.status = Set(p.status);
        am.status_message = Set(p.message.to_string());
        am.updated_at = Set(clock::now_ms());
        let w = self
            .repo
            .save_workload(am, Some((p.status, p.message)))
            .await?;
        self.fleet.publish(&w, false);
        if w.status == Status::Pending {
            self.fleet.wake_placer();
        }
        self.fleet.push_workload(&w.id).await?;
        Ok(w)
    }

    /// The credentials a rotation applies: those an unfinished rotation left
    /// pending, or new ones, stored as pending first.
    async fn pending_rotation(&self, w: workload::Model) -> Result<(workload::Model, SecretDoc)> {
        if let Some(sealed) = &w.pending_credentials {
            let doc = serde_json::from_slice(&self.secrets.open(&w.id, sealed)?)
                .map_err(Error::internal)?;
            return Ok((w, doc));
        }
        let mut secret = SecretDoc::unseal(&self.secrets, &w)?;
        let fresh = self.catalog.fresh_credentials(w.kind)?;
        for (k, v) in &fresh.credentials {
            secret.credentials.insert(k.clone(), v.clone());
        }
        for (k, v) in &fresh.env {
            if let Some(slot) = secret.env.iter_mut().find(|(ek, _)| ek == k) {
                slot.1.clone_from(v);
            }
        }
        let mut am = w.clone().into_active_model();
        am.pending_credentials = Set(Some(secret.seal(&self.secrets, &w.id)?));
        let w = self.repo.save_workload(am, None).await?;
        Ok((w, secret))
    }

    /// Forgets a workload whose node is away; when the node returns, its
    /// agent removes the orphaned container (the volume is kept).
    pub(super) async fn forget(&self, w: &workload::Model, purge: bool) -> Result<v1::Workload> {
        // Its node is away, so its volume (if any) stays there, purge or not.
        self.repo.delete_workload(&w.id, true).await?;
        self.fleet.publish(w, true);
        let mut p = self.proto(w).await?;
        p.status = Status::Deleted.to_wire() as i32;
        p.status_message = if purge {
            "deleted; its node is offline, so its data volume is kept: remove it with `lattice volumes rm` once the node is back"
                .into()
        } else {
            "deleted".into()
        };
        Ok(p)
    }

    /// Issues new credentials and applies them: Postgres changes the role's
    /// password in the running server first (so the old one stops working at
    /// once); then the container is recreated with the new env (data kept).
    ///
    /// Never loses a password: the new credentials are stored (sealed) as
    /// pending before they are applied, and promoted only once they are; a
    /// rotation that failed half-way is finished by the next one, which
    /// applies the same pending credentials again. Rotations of one workload
    /// take turns.
    pub(super) async fn rotate(&self, w: workload::Model) -> Result<workload::Model> {
        let _turn = self.rotations.lock(&w.id).await;
        let w = self.reload(&w).await?;
        let node = w.node_id.clone().filter(|n| self.fleet.is_connected(n));
        let node = match (w.kind, node) {
            (Kind::Postgres, Some(n)) if w.status == Status::Running => Some(n),
            (Kind::Postgres, _) => {
                return Err(Error::FailedPrecondition(format!(
                    "{} must be running to rotate its password; start it with `lattice start {}`",
                    w.name, w.name
                )));
            }
            _ => None,
        };
        let (w, secret) = self.pending_rotation(w).await?;
        if let Some(node) = node {
            // The new password travels in the exec's env and a shell builtin,
            // never on a command line.
            let sql = "echo \"ALTER ROLE \\\"$POSTGRES_USER\\\" PASSWORD '$LATTICE_NEW_PASSWORD';\" | \
                       psql -v ON_ERROR_STOP=1 -q -h /var/run/postgresql -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\"";
            let res = self
                .fleet
                .exec(
                    &node,
                    &w.id,
                    vec!["sh".into(), "-c".into(), sql.into()],
                    vec![
                        v1::EnvVar {
                            key: "LATTICE_NEW_PASSWORD".into(),
                            value: secret
                                .credentials
                                .get("password")
                                .cloned()
                                .unwrap_or_default(),
                        },
                        // Never wait long on the user's own locks: the
                        // rotate fails cleanly and the old password stays.
                        v1::EnvVar {
                            key: "PGOPTIONS".into(),
                            value: ROTATE_PG_OPTIONS.into(),
                        },
                    ],
                )
                .await?;
            if !res.ok {
                // psql's output is not repeated: on some errors it quotes
                // the statement, which holds the new password.
                let out = String::from_utf8_lossy(&res.output);
                let why = if out.contains("lock timeout") || out.contains("statement timeout") {
                    "another session holds a lock on the role (an open transaction?); end it and try again"
                        .to_string()
                } else {
                    res.error
                };
                return Err(Error::FailedPrecondition(format!(
                    "could not change the password inside {}: {why}; the old password still works",
                    w.name
                )));
            }
        }
        // Applied: the pending credentials become the workload's.
        let mut am = w.clone().into_active_model();
        am.credentials = Set(w.pending_credentials.clone());
        am.pending_credentials = Set(None);
        am.updated_at = Set(clock::now_ms());
        let w = self.repo.save_workload(am, None).await?;
        info!(workload = %w.id, "credentials rotated");
        self.apply(w, Transition::ApplyCredentials).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(desired: Desired, status: Status, purge: bool) -> workload::Model {
        workload::Model {
            id: "w".into(),
            owner_id: "u".into(),
            name: "db".into(),
            kind: Kind::Postgres,
            image: "postgres:17".into(),
            spec: "{}".into(),
            credentials: None,
            pending_credentials: None,
            desired,
            purge,
            generation: 3,
            version: 1,
            status,
            status_message: String::new(),
            progress_percent: 0,
            node_id: None,
            container_id: None,
            published_ports: "{}".into(),
            last_log_lines: "[]".into(),
            cpu_millis: 0,
            memory_bytes: 0,
            spec_bytes: 0,
            restart_count: 0,
            last_exit_code: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn stop_and_start_are_idempotent() {
        let stopped = row(Desired::Stopped, Status::Stopped, false);
        assert_eq!(Transition::Stop.plan(&stopped), None);
        let running = row(Desired::Running, Status::Running, false);
        assert_eq!(Transition::Start.plan(&running), None);
        let p = Transition::Stop
            .plan(&running)
            .expect("a running workload stops");
        assert_eq!(
            (p.desired, p.status, p.new_generation),
            (Desired::Stopped, Status::Stopping, false)
        );
        let p = Transition::Start
            .plan(&stopped)
            .expect("a stopped workload starts");
        assert_eq!(
            (p.desired, p.status, p.new_generation),
            (Desired::Running, Status::Starting, false)
        );
    }

    #[test]
    fn a_failed_workload_starts_a_new_generation() {
        let failed = row(Desired::Running, Status::Failed, false);
        let p = Transition::Start
            .plan(&failed)
            .expect("a failed workload gets a new attempt");
        assert!(p.new_generation);
        let running = row(Desired::Running, Status::Running, false);
        assert!(
            Transition::Restart
                .plan(&running)
                .is_some_and(|p| p.new_generation)
        );
    }

    #[test]
    fn delete_repeats_only_when_purge_changes() {
        let deleting = row(Desired::Deleted, Status::Deleting, false);
        assert_eq!(Transition::Delete { purge: false }.plan(&deleting), None);
        let p = Transition::Delete { purge: true }
            .plan(&deleting)
            .expect("purge is new");
        assert_eq!(
            (p.desired, p.purge, p.status),
            (Desired::Deleted, true, Status::Deleting)
        );
    }

    #[test]
    fn new_credentials_keep_the_desired_state() {
        let stopped = row(Desired::Stopped, Status::Stopped, false);
        let p = Transition::ApplyCredentials
            .plan(&stopped)
            .expect("always applies");
        assert_eq!((p.desired, p.status), (Desired::Stopped, Status::Stopped));
        let running = row(Desired::Running, Status::Running, false);
        let p = Transition::ApplyCredentials
            .plan(&running)
            .expect("always applies");
        assert_eq!((p.desired, p.status), (Desired::Running, Status::Starting));
    }
}
