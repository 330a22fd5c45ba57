//! Desired-state changes of one workload: a transition (desired state,
//! the status it shows meanwhile, a push to its node) and credential
//! rotation, which is a transition to a new generation.

use lattice_proto::v1;
use sea_orm::ActiveValue::Set;
use sea_orm::IntoActiveModel;
use tracing::info;

use super::WorkloadApi;
use crate::catalog::SecretDoc;
use crate::clock;
use crate::entity::workload;
use crate::error::{Error, Result};
use crate::repo::desired;
use crate::status;

impl WorkloadApi {
    /// Issues new credentials and applies them: Postgres changes the role's
    /// password in the running server first (so the old one stops working at
    /// once); then the container is recreated with the new env (data kept).
    pub(super) async fn rotate(&self, w: workload::Model) -> Result<workload::Model> {
        let mut secret: SecretDoc = match &w.credentials {
            Some(s) => serde_json::from_slice(&self.fleet.secrets.open(&w.id, s)?)
                .map_err(Error::internal)?,
            None => SecretDoc::default(),
        };
        let fresh = self.catalog.fresh_credentials(&w.kind)?;
        if w.kind == "postgres" {
            let node = w.node_id.clone().filter(|n| self.fleet.is_connected(n));
            let (Some(node), true) = (node, w.status == status::RUNNING) else {
                return Err(Error::FailedPrecondition(format!(
                    "{} must be running to rotate its password; start it with `lattice start {}`",
                    w.name, w.name
                )));
            };
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
                    vec![v1::EnvVar {
                        key: "LATTICE_NEW_PASSWORD".into(),
                        value: fresh.credentials["password"].clone(),
                    }],
                )
                .await?;
            if !res.ok {
                return Err(Error::FailedPrecondition(format!(
                    "could not change the password inside {}: {}",
                    w.name, res.error
                )));
            }
        }
        for (k, v) in &fresh.credentials {
            secret.credentials.insert(k.clone(), v.clone());
        }
        for (k, v) in &fresh.env {
            if let Some(slot) = secret.env.iter_mut().find(|(ek, _)| ek == k) {
                slot.1.clone_from(v);
            }
        }
        let sealed = self.fleet.secrets.seal(
            &w.id,
            &serde_json::to_vec(&secret).map_err(Error::internal)?,
        )?;
        let mut am = w.clone().into_active_model();
        am.credentials = Set(Some(sealed));
        am.updated_at = Set(clock::now_ms());
        let w = self.fleet.repo.save_workload(am, None).await?;
        info!(workload = %w.id, "credentials rotated");
        let (want, st) = if w.desired == desired::RUNNING {
            (desired::RUNNING, status::STARTING)
        } else {
            (desired::STOPPED, status::STOPPED)
        };
        self.transition(w, want, false, false, st, "applying new credentials")
            .await
    }

    /// Changes desired state, records the transitional status, pushes to the node.
    pub(super) async fn transition(
        &self,
        w: workload::Model,
        want: &str,
        bump: bool,
        purge: bool,
        st: &str,
        message: &str,
    ) -> Result<workload::Model> {
        let node_id = w.node_id.clone();
        let mut am = w.clone().into_active_model();
        am.desired = Set(want.to_string());
        am.purge = Set(purge);
        if bump {
            am.generation = Set(w.generation + 1);
        }
        am.status = Set(st.to_string());
        am.status_message = Set(message.to_string());
        am.updated_at = Set(clock::now_ms());
        let w = self
            .fleet
            .repo
            .save_workload(am, Some((st, message)))
            .await?;
        self.fleet.publish(&w, false);
        if let Some(n) = node_id {
            self.fleet.push(&n).await?;
        }
        Ok(w)
    }
}
