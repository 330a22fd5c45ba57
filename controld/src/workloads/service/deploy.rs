//! A new workload: the catalogue resolves the request, the scheduler picks
//! a node, one transaction stores the row with its edge ports, and the node
//! gets its new desired state.

use lattice_proto::state::{Desired, Status};
use lattice_proto::v1;
use sea_orm::ActiveValue::Set;
use tracing::info;

use super::WorkloadApi;
use crate::auth::Caller;
use crate::clock;
use crate::entity::workload;
use crate::error::{Error, Result};
use crate::quota::Usage;

impl WorkloadApi {
    /// Refuses a deploy that would take the caller past a quota.
    async fn admit(&self, c: &Caller, cpu: i64, mem: i64, ports: usize, bytes: u64) -> Result<()> {
        let d = self.policy.defaults;
        let mine = self.repo.workloads_of(&c.user.id).await?;
        let mut used = Usage::default();
        for w in &mine {
            let (wc, wm) = d.effective(w.cpu_millis, w.memory_bytes);
            used.workloads += 1;
            used.cpu_millis += wc;
            used.memory_bytes += wm;
            used.spec_bytes += crate::quota::spec_bytes(w);
        }
        let ids: std::collections::HashSet<&str> = mine.iter().map(|w| w.id.as_str()).collect();
        used.edge_ports = self
            .repo
            .all_edge_ports()
            .await?
            .iter()
            .filter(|p| ids.contains(p.workload_id.as_str()))
            .count() as u64;
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

    /// Creates, places and starts a workload for the caller.
    pub(super) async fn create(
        &self,
        c: &Caller,
        r: &v1::DeployRequest,
    ) -> Result<workload::Model> {
        let mut resolved = self.catalog.resolve(r)?;
        // The quota check and the insert are one turn per account.
        let _turn = self.deploys.lock(&c.user.id).await;
        if self.repo.workload(&c.user.id, &r.name).await?.is_some() {
            return Err(Error::AlreadyExists(format!(
                "you already have a workload named {:?}; pick another name, or remove it with `lattice rm {}`",
                r.name, r.name
            )));
        }
        let cpu = i64::from(resolved.cpu_millis);
        let mem = i64::try_from(resolved.memory_bytes).unwrap_or(i64::MAX);
        let defaults = self.policy.defaults;
        resolved.spec.default_limits = Some(defaults.doc());
        let id = uuid::Uuid::now_v7().to_string();
        let spec = serde_json::to_string(&resolved.spec).map_err(Error::internal)?;
        let credentials = resolved.secret.seal(&self.secrets, &id)?;
        let bytes =
            crate::quota::stored_bytes(&r.name, &resolved.image, &spec, Some(&credentials), None);
        self.admit(c, cpu, mem, resolved.spec.ports.len(), bytes)
            .await?;
        let node = self.fleet.schedule(cpu, mem, bytes).await?;
        let now = clock::now_ms();
        let message = format!("placed on node {}", node.name);
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
            status: Set(Status::Scheduled),
            status_message: Set(message.clone()),
            progress_percent: Set(0),
            node_id: Set(Some(node.id.clone())),
            container_id: Set(None),
            published_ports: Set("{}".into()),
            last_log_lines: Set("[]".into()),
            cpu_millis: Set(cpu),
            memory_bytes: Set(mem),
            restart_count: Set(0),
            last_exit_code: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let (w, edge_ports) = self
            .repo
            .insert_workload(
                am,
                &c.user.id,
                &r.name,
                &resolved.spec.ports,
                self.edge.pool(),
            )
            .await?;
        for p in &edge_ports {
            self.edge.bind(p.port, &w.id, p.container_port).await;
        }
        self.repo.event(&w.id, Status::Scheduled, &message).await?;
        info!(workload = %w.id, name = %w.name, kind = %w.kind, node = %node.name, "workload deployed");
        self.fleet.publish(&w, false);
        self.fleet.push_workload(&w.id).await?;
        Ok(w)
    }
}
