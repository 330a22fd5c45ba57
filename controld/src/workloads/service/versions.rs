//! Changing a workload in place: a new version of its spec (from a deploy
//! of the same name, `env set`/`unset` or a rollback) keeps its name, id,
//! volume, credentials and public endpoints; the node recreates the
//! container (the spec hash changed) and the usual readiness decides
//! `running`. Every version is kept (up to `KEPT_VERSIONS`) for history and
//! rollback.

use lattice_proto::state::{Desired, Status};
use lattice_proto::v1;
use sea_orm::ActiveValue::Set;
use sea_orm::IntoActiveModel;
use tracing::info;

use super::WorkloadApi;
use crate::auth::Caller;
use crate::catalog::{SecretDoc, check_user_env};
use crate::clock;
use crate::entity::workload;
use crate::error::{Error, Result};
use crate::workloads::template::{Summary, Template, change_env, user_env, with_user_env};

impl WorkloadApi {
    /// Rolls `t` out as the workload's next version; `false` (and nothing
    /// written) when it is what already runs. Changes of one account take
    /// turns with its deploys (quota), and of one workload with rotations.
    pub(super) async fn change(
        &self,
        c: &Caller,
        w: workload::Model,
        t: Template,
        cause: String,
    ) -> Result<(workload::Model, bool)> {
        let _account = self.deploys.lock(&c.user.id).await;
        let _turn = self.rotations.lock(&w.id).await;
        let w = self.reload(&w).await?;
        if w.desired == Desired::Deleted {
            return Err(Error::FailedPrecondition(format!(
                "{} is being deleted; wait for it to go, then deploy it again",
                w.name
            )));
        }
        let secret = SecretDoc::unseal(&self.secrets, &w)?;
        if Template::of(&w, &secret)? == t {
            return Ok((w, false));
        }
        check_user_env(w.kind, &t.env)?;
        let id = w.id.clone();
        let sealed = with_user_env(w.kind, &secret, &t.env).seal(&self.secrets, &id)?;
        // A rotation left unfinished applies its credentials with this env too.
        let pending = match &w.pending_credentials {
            Some(p) => {
                let doc: SecretDoc =
                    serde_json::from_slice(&self.secrets.open(&id, p)?).map_err(Error::internal)?;
                Some(with_user_env(w.kind, &doc, &t.env).seal(&self.secrets, &id)?)
            }
            None => None,
        };
        let spec = serde_json::to_string(&t.spec).map_err(Error::internal)?;
        let bytes =
            crate::quota::stored_bytes(&w.name, &t.image, &spec, Some(&sealed), pending.as_deref());
        self.admit(
            c,
            (t.cpu_millis, t.memory_bytes, t.spec.ports.len(), bytes),
            Some(&id),
        )
        .await?;
        let placing = self.fleet.placement_turn().await;
        let hold = match w.node_id.as_deref() {
            Some(node) => {
                let need = (t.cpu_millis, t.memory_bytes, bytes);
                self.fleet
                    .fits_on(node, need, Some(&id))
                    .await
                    .map_err(|e| {
                        Error::NoNode(format!(
                            "{}'s node cannot take the new version: {e}; ask for less, or remove workloads there",
                            w.name
                        ))
                    })?;
                // The new size is held until a reservation read sees the row.
                Some(self.fleet.hold(node, need))
            }
            None => None,
        };
        drop(placing);
        let version = w.version + 1;
        let now = clock::now_ms();
        let running = w.desired == Desired::Running;
        let (status, message) = if running && w.node_id.is_none() {
            (
                Status::Pending,
                format!("version {version} ({cause}) runs once a node takes it"),
            )
        } else if running {
            (
                Status::Starting,
                format!("rolling out version {version} ({cause})"),
            )
        } else {
            (
                w.status,
                format!("version {version} ({cause}) runs when it starts"),
            )
        };
        let row = self.version_row(&id, version, &t, &cause, now)?;
        let mut am = w.clone().into_active_model();
        am.image = Set(t.image.clone());
        am.spec = Set(spec);
        am.credentials = Set(Some(sealed));
        am.pending_credentials = Set(pending);
        am.cpu_millis = Set(t.cpu_millis);
        am.memory_bytes = Set(t.memory_bytes);
        am.version = Set(version);
        am.status = Set(status);
        am.status_message = Set(message.clone());
        am.restart_count = Set(0);
        am.last_exit_code = Set(None);
        am.updated_at = Set(now);
        let (w, ports) = self
            .repo
            .update_workload(am, row, &t.spec.ports, self.edge.pool())
            .await?;
        drop(hold);
        if status == Status::Pending {
            self.fleet.wake_placer();
        }
        for p in ports.removed {
            self.edge.release_port(p);
        }
        for p in &ports.added {
            self.edge.bind(p.port, &w.id, p.container_port).await;
        }
        self.repo.event(&w.id, status, &message).await?;
        info!(workload = %w.id, version, "new version");
        self.fleet.publish(&w, false);
        self.fleet.push_workload(&w.id).await?;
        Ok((w, true))
    }

    /// Every kept version of the caller's workload, newest first.
    pub(super) async fn history(&self, c: &Caller, name: &str) -> Result<Vec<v1::Version>> {
        let w = self.find(c, name).await?;
        let rows = self.repo.versions(&w.id).await?;
        if rows.is_empty() {
            // Deployed before versions were kept: what runs is the one there is.
            let t = Template::of(&w, &SecretDoc::unseal(&self.secrets, &w)?)?;
            return Ok(vec![t.summary().to_proto(
                w.version,
                "deploy",
                w.created_at,
                true,
            )]);
        }
        Ok(rows
            .iter()
            .map(|v| {
                let s: Summary = serde_json::from_str(&v.summary).unwrap_or_default();
                s.to_proto(v.version, &v.cause, v.created_at, v.version == w.version)
            })
            .collect())
    }

    /// Rolls an earlier version out again, as a new version.
    pub(super) async fn rollback(
        &self,
        c: &Caller,
        name: &str,
        to: i64,
    ) -> Result<(workload::Model, bool)> {
        let w = self.find(c, name).await?;
        let to = if to > 0 {
            to
        } else {
            self.repo
                .versions(&w.id)
                .await?
                .iter()
                .map(|v| v.version)
                .find(|v| *v < w.version)
                .ok_or_else(|| {
                    Error::FailedPrecondition(format!(
                        "{} has no version before {} to roll back to (see `lattice history {}`)",
                        w.name, w.version, w.name
                    ))
                })?
        };
        if to == w.version {
            return Err(Error::FailedPrecondition(format!(
                "{} already runs version {to}",
                w.name
            )));
        }
        let v = self.repo.version(&w.id, to).await?.ok_or_else(|| {
            Error::NotFound(format!(
                "{} has no version {to} (see `lattice history {}`)",
                w.name, w.name
            ))
        })?;
        let t = Template::open(&self.secrets, &w.id, &v.template)?;
        self.change(c, w, t, format!("rollback to v{to}")).await
    }

    /// Sets and unsets env vars of the caller's workload, as a new version.
    pub(super) async fn set_env(
        &self,
        c: &Caller,
        r: &v1::SetEnvRequest,
    ) -> Result<(workload::Model, bool)> {
        let w = self.find(c, &r.name).await?;
        if r.set.is_empty() && r.unset.is_empty() {
            return Err(Error::Invalid(lattice_proto::ValidationError {
                field: "env",
                rule: "name at least one KEY=value to set or KEY to unset".into(),
            }));
        }
        let mut t = Template::of(&w, &SecretDoc::unseal(&self.secrets, &w)?)?;
        let set: Vec<(String, String)> = r
            .set
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect();
        check_user_env(w.kind, &set)?;
        t.env = change_env(&t.env, &set, &r.unset)?;
        let mut keys: Vec<&str> = set.iter().map(|(k, _)| k.as_str()).collect();
        keys.extend(r.unset.iter().map(String::as_str));
        let cause = match (set.is_empty(), r.unset.is_empty()) {
            (false, true) => format!("env set {}", keys.join(" ")),
            (true, false) => format!("env unset {}", keys.join(" ")),
            _ => format!("env change {}", keys.join(" ")),
        };
        self.change(c, w, t, cause).await
    }

    /// The user's env vars of the caller's workload (values when asked).
    pub(super) async fn env_of(
        &self,
        c: &Caller,
        name: &str,
        values: bool,
    ) -> Result<Vec<v1::EnvVar>> {
        let w = self.find(c, name).await?;
        let secret = SecretDoc::unseal(&self.secrets, &w)?;
        Ok(user_env(w.kind, &secret.env)
            .into_iter()
            .map(|(key, value)| v1::EnvVar {
                key,
                value: if values { value } else { String::new() },
            })
            .collect())
    }
}
