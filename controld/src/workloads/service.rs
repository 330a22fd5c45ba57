//! `WorkloadService`. Every call is scoped to the caller: another user's
//! workload is NOT_FOUND, exactly like one that does not exist.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use lattice_proto::v1;
use sea_orm::ActiveValue::Set;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use tracing::{info, instrument};

mod lifecycle;
mod streams;

use super::{Views, closest, endpoints, to_proto};
use crate::auth::{Authenticator, Caller, Scope};
use crate::catalog::{Catalog, SecretDoc};
use crate::clock;
use crate::edge::Edge;
use crate::entity::workload;
use crate::error::{Error, Result};
use crate::fleet::Fleet;
use crate::repo::desired;
use crate::status;

/// The WorkloadService implementation.
#[derive(Clone)]
pub struct WorkloadApi {
    fleet: Arc<Fleet>,
    authn: Authenticator,
    catalog: Catalog,
    edge: Arc<Edge>,
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

impl WorkloadApi {
    /// New service.
    pub fn new(fleet: Arc<Fleet>, authn: Authenticator, catalog: Catalog, edge: Arc<Edge>) -> Self {
        Self {
            fleet,
            authn,
            catalog,
            edge,
        }
    }

    async fn caller<T>(&self, req: &Request<T>, scope: Scope) -> Result<Caller> {
        let c = self.authn.authenticate(req.metadata()).await?;
        c.require(scope)?;
        Ok(c)
    }

    /// The caller's workload, or NOT_FOUND with a suggestion.
    async fn find(&self, c: &Caller, name: &str) -> Result<workload::Model> {
        lattice_proto::validate::name("name", name)?;
        if let Some(w) = self.fleet.repo.workload(&c.user.id, name).await? {
            return Ok(w);
        }
        let names = self.fleet.repo.workload_names(&c.user.id).await?;
        let hint = closest(name, &names)
            .map(|n| format!("; did you mean {n:?}?"))
            .unwrap_or_default();
        Err(Error::NotFound(format!(
            "no workload named {name:?}{hint} (see `lattice ls`)"
        )))
    }

    async fn views(&self) -> Result<Views> {
        let nodes = self
            .fleet
            .repo
            .nodes()
            .await?
            .into_iter()
            .map(|n| (n.id.clone(), n))
            .collect();
        let mut edge: HashMap<String, Vec<_>> = HashMap::new();
        for p in self.fleet.repo.all_edge_ports().await? {
            edge.entry(p.workload_id.clone()).or_default().push(p);
        }
        Ok(Views {
            nodes,
            edge,
            public_host: self.edge.public_host(),
            edge_problems: self.edge.problems(),
        })
    }

    async fn proto(&self, w: &workload::Model) -> Result<v1::Workload> {
        Ok(to_proto(w, &self.views().await?))
    }
}

#[tonic::async_trait]
impl v1::workload_service_server::WorkloadService for WorkloadApi {
    #[instrument(skip_all, fields(rpc = "Deploy"))]
    async fn deploy(
        &self,
        req: Request<v1::DeployRequest>,
    ) -> Result<Response<v1::Workload>, Status> {
        let c = self.caller(&req, Scope::Deploy).await?;
        let r = req.into_inner();
        let resolved = self.catalog.resolve(&r)?;
        if self
            .fleet
            .repo
            .workload(&c.user.id, &r.name)
            .await?
            .is_some()
        {
            return Err(Error::AlreadyExists(format!(
                "you already have a workload named {:?}; pick another name, or remove it with `lattice rm {}`",
                r.name, r.name
            ))
            .into());
        }
        let cpu = i64::from(resolved.cpu_millis);
        let mem = i64::try_from(resolved.memory_bytes).unwrap_or(i64::MAX);
        let node = self.fleet.schedule(cpu, mem).await?;
        let id = uuid::Uuid::now_v7().to_string();
        let secret = serde_json::to_vec(&resolved.secret).map_err(Error::internal)?;
        let now = clock::now_ms();
        let message = format!("placed on node {}", node.name);
        let am = workload::ActiveModel {
            id: Set(id.clone()),
            owner_id: Set(c.user.id.clone()),
            name: Set(r.name.clone()),
            kind: Set(resolved.kind.as_str().to_string()),
            image: Set(resolved.image.clone()),
            spec: Set(serde_json::to_string(&resolved.spec).map_err(Error::internal)?),
            credentials: Set(Some(self.fleet.secrets.seal(&id, &secret)?)),
            desired: Set(desired::RUNNING.into()),
            purge: Set(false),
            generation: Set(0),
            status: Set(status::SCHEDULED.into()),
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
            .fleet
            .repo
            .insert_workload(
                am,
                &c.user.id,
                &r.name,
                &resolved.spec.ports,
                self.edge.range(),
            )
            .await?;
        for p in &edge_ports {
            self.edge.bind(p.port, &w.id, p.container_port).await;
        }
        self.fleet
            .repo
            .event(&w.id, status::SCHEDULED, &message)
            .await?;
        info!(workload = %w.id, name = %w.name, kind = %w.kind, node = %node.name, "workload deployed");
        self.fleet.publish(&w, false);
        self.fleet.push(&node.id).await?;
        Ok(Response::new(self.proto(&w).await?))
    }

    #[instrument(skip_all, fields(rpc = "List"))]
    async fn list(
        &self,
        req: Request<v1::ListWorkloadsRequest>,
    ) -> Result<Response<v1::ListWorkloadsResponse>, Status> {
        let c = self.caller(&req, Scope::Read).await?;
        let nodes = self.views().await?;
        let workloads = self
            .fleet
            .repo
            .workloads_of(&c.user.id)
            .await?
            .iter()
            .map(|w| to_proto(w, &nodes))
            .collect();
        Ok(Response::new(v1::ListWorkloadsResponse { workloads }))
    }

    #[instrument(skip_all, fields(rpc = "Get"))]
    async fn get(
        &self,
        req: Request<v1::GetWorkloadRequest>,
    ) -> Result<Response<v1::WorkloadDetail>, Status> {
        let c = self.caller(&req, Scope::Read).await?;
        let w = self.find(&c, &req.get_ref().name).await?;
        let events = self
            .fleet
            .repo
            .events(&w.id, 20)
            .await?
            .into_iter()
            .map(|e| v1::StatusEvent {
                at: Some(v1::Timestamp::from_millis(e.at)),
                status: status::to_proto(&e.status) as i32,
                message: e.message,
            })
            .collect();
        let spec: crate::catalog::SpecDoc =
            serde_json::from_str(&w.spec).map_err(Error::internal)?;
        let secret: SecretDoc = match &w.credentials {
            Some(s) => serde_json::from_slice(&self.fleet.secrets.open(&w.id, s)?)
                .map_err(Error::internal)?,
            None => SecretDoc::default(),
        };
        // Values are not shown here: `lattice access` is the one place secrets appear.
        let env = secret
            .env
            .into_iter()
            .map(|(key, _)| v1::EnvVar {
                key,
                value: String::new(),
            })
            .collect();
        Ok(Response::new(v1::WorkloadDetail {
            last_log_lines: serde_json::from_str(&w.last_log_lines).unwrap_or_default(),
            workload: Some(self.proto(&w).await?),
            events,
            env,
            command: spec.command,
        }))
    }

    type WatchStream = BoxStream<v1::WorkloadEvent>;

    #[instrument(skip_all, fields(rpc = "Watch"))]
    async fn watch(
        &self,
        req: Request<v1::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let c = self.caller(&req, Scope::Read).await?;
        let name = req.into_inner().name;
        if !name.is_empty() {
            self.find(&c, &name).await?;
        }
        let events = streams::watch(self.clone(), c.user.id.clone(), name);
        Ok(Response::new(Box::pin(events) as Self::WatchStream))
    }

    type LogsStream = BoxStream<v1::LogLine>;

    #[instrument(skip_all, fields(rpc = "Logs"))]
    async fn logs(
        &self,
        req: Request<v1::LogsRequest>,
    ) -> Result<Response<Self::LogsStream>, Status> {
        let c = self.caller(&req, Scope::Read).await?;
        let r = req.into_inner();
        let w = self.find(&c, &r.name).await?;
        let node_id = w.node_id.clone().ok_or_else(|| {
            Error::FailedPrecondition("the workload has not been placed on a node yet".into())
        })?;
        if !self.fleet.is_connected(&node_id) {
            return Err(Error::Unavailable(format!(
                "the node running {} is not connected; its logs are unavailable until it returns",
                w.name
            ))
            .into());
        }
        let stream_id = uuid::Uuid::new_v4().to_string();
        let open = v1::control_message::Cmd::OpenLogs(v1::OpenLogStream {
            stream_id: stream_id.clone(),
            workload_id: w.id.clone(),
            tail: r.tail,
            follow: r.follow,
            since_unix_millis: r.since.map_or(0, |t| t.unix_millis),
        });
        let opened = self
            .fleet
            .open_stream(&node_id, &stream_id, open, Duration::from_secs(15))
            .await?;
        let lines = streams::logs(opened, r.after_cursor, w.name, self.fleet.closing());
        Ok(Response::new(Box::pin(lines) as Self::LogsStream))
    }

    #[instrument(skip_all, fields(rpc = "Stop"))]
    async fn stop(&self, req: Request<v1::WorkloadRef>) -> Result<Response<v1::Workload>, Status> {
        let c = self.caller(&req, Scope::Deploy).await?;
        let w = self.find(&c, &req.get_ref().name).await?;
        let w = if w.desired == desired::STOPPED {
            w
        } else {
            self.transition(
                w,
                desired::STOPPED,
                false,
                false,
                status::STOPPING,
                "stop requested",
            )
            .await?
        };
        Ok(Response::new(self.proto(&w).await?))
    }

    #[instrument(skip_all, fields(rpc = "Start"))]
    async fn start(&self, req: Request<v1::WorkloadRef>) -> Result<Response<v1::Workload>, Status> {
        let c = self.caller(&req, Scope::Deploy).await?;
        let w = self.find(&c, &req.get_ref().name).await?;
        let w = if w.desired == desired::RUNNING && w.status != status::FAILED {
            w
        } else {
            // A failed workload gets a fresh attempt (new generation).
            let retry = w.status == status::FAILED;
            self.transition(
                w,
                desired::RUNNING,
                retry,
                false,
                status::STARTING,
                "start requested",
            )
            .await?
        };
        Ok(Response::new(self.proto(&w).await?))
    }

    #[instrument(skip_all, fields(rpc = "Restart"))]
    async fn restart(
        &self,
        req: Request<v1::WorkloadRef>,
    ) -> Result<Response<v1::Workload>, Status> {
        let c = self.caller(&req, Scope::Deploy).await?;
        let w = self.find(&c, &req.get_ref().name).await?;
        let w = self
            .transition(
                w,
                desired::RUNNING,
                true,
                false,
                status::STARTING,
                "restart requested",
            )
            .await?;
        Ok(Response::new(self.proto(&w).await?))
    }

    #[instrument(skip_all, fields(rpc = "Delete"))]
    async fn delete(
        &self,
        req: Request<v1::DeleteRequest>,
    ) -> Result<Response<v1::Workload>, Status> {
        let c = self.caller(&req, Scope::Deploy).await?;
        let purge = req.get_ref().purge;
        let w = self.find(&c, &req.get_ref().name).await?;
        let connected = w
            .node_id
            .as_deref()
            .is_some_and(|n| self.fleet.is_connected(n));
        if !connected {
            // The node is away: forget the workload now; when the node returns,
            // its agent removes the orphaned container (the volume is kept).
            self.fleet.repo.delete_workload(&w.id).await?;
            self.fleet.publish(&w, true);
            let mut p = self.proto(&w).await?;
            p.status = v1::WorkloadStatus::Deleted as i32;
            p.status_message = if purge {
                "deleted; its node is offline, so its data volume is kept until you remove it there"
                    .into()
            } else {
                "deleted".into()
            };
            return Ok(Response::new(p));
        }
        let w = if w.desired == desired::DELETED && w.purge == purge {
            w
        } else {
            self.transition(
                w,
                desired::DELETED,
                false,
                purge,
                status::DELETING,
                "delete requested",
            )
            .await?
        };
        Ok(Response::new(self.proto(&w).await?))
    }

    #[instrument(skip_all, fields(rpc = "GetAccess"))]
    async fn get_access(
        &self,
        req: Request<v1::GetAccessRequest>,
    ) -> Result<Response<v1::Access>, Status> {
        let c = self.caller(&req, Scope::Deploy).await?;
        let r = req.into_inner();
        let w = self.find(&c, &r.name).await?;
        let w = if r.rotate { self.rotate(w).await? } else { w };
        let nodes = self.views().await?;
        let secret: SecretDoc = match &w.credentials {
            Some(s) => serde_json::from_slice(&self.fleet.secrets.open(&w.id, s)?)
                .map_err(Error::internal)?,
            None => SecretDoc::default(),
        };
        let credentials = secret
            .credentials
            .into_iter()
            .map(|(key, value)| v1::Credential {
                secret: key.contains("password") || key.contains("secret"),
                key,
                value,
            })
            .collect();
        info!(workload = %w.id, user = %c.user.id, "access details read");
        Ok(Response::new(v1::Access {
            name: w.name.clone(),
            kind: w.kind.clone(),
            endpoints: endpoints(&w, &nodes),
            credentials,
        }))
    }
}
