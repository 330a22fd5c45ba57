//! `WorkloadService`. Every call is scoped to the caller: another user's
//! workload is NOT_FOUND, exactly like one that does not exist.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use lattice_proto::v1;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use tracing::{info, instrument};

mod deploy;
mod lifecycle;
mod streams;

use lifecycle::Transition;

use super::{Views, closest, endpoints, to_proto};
use crate::audit::{Actor, Audit, source};
use crate::auth::{Authenticator, Caller, Scope};
use crate::catalog::{Catalog, SecretDoc, SpecDoc};
use crate::edge::Edge;
use crate::entity::workload;
use crate::error::{Error, Result};
use crate::fleet::Fleet;
use crate::quota::{KeyedLimit, Policy, Slot};
use crate::repo::Repo;
use crate::secrets::SecretBox;

/// The WorkloadService implementation.
#[derive(Clone)]
pub struct WorkloadApi {
    fleet: Arc<Fleet>,
    repo: Repo,
    secrets: SecretBox,
    authn: Authenticator,
    catalog: Catalog,
    edge: Arc<Edge>,
    audit: Audit,
    policy: Policy,
    /// Watch and Logs streams open per account.
    streams: KeyedLimit,
    /// One credential rotation per workload at a time.
    rotations: crate::keyed_lock::KeyedLocks,
    /// One deploy per account at a time, so two cannot both pass a quota.
    deploys: crate::keyed_lock::KeyedLocks,
}

/// What the workload service is built from.
pub struct Deps {
    /// The nodes.
    pub fleet: Arc<Fleet>,
    /// The state store.
    pub repo: Repo,
    /// Workload credentials' key.
    pub secrets: SecretBox,
    /// Who is calling.
    pub authn: Authenticator,
    /// Kinds and their images.
    pub catalog: Catalog,
    /// The public edge.
    pub edge: Arc<Edge>,
    /// The audit log.
    pub audit: Audit,
    /// Quotas and default limits.
    pub policy: Policy,
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

impl WorkloadApi {
    /// New service.
    pub fn new(d: Deps) -> Self {
        Self {
            streams: KeyedLimit::new(d.policy.quotas.streams),
            rotations: crate::keyed_lock::KeyedLocks::default(),
            deploys: crate::keyed_lock::KeyedLocks::default(),
            fleet: d.fleet,
            repo: d.repo,
            secrets: d.secrets,
            authn: d.authn,
            catalog: d.catalog,
            edge: d.edge,
            audit: d.audit,
            policy: d.policy,
        }
    }

    /// A place for one more stream of the caller's, or the quota's refusal.
    fn stream_slot(&self, c: &Caller) -> Result<Slot> {
        self.streams.try_acquire(&c.user.id).ok_or_else(|| {
            Error::Quota(format!(
                "quota exceeded: open streams — you have {} of {} Watch/Logs streams open \
                 (`ls --watch`, `status --watch`, `logs -f`); end one and try again",
                self.streams.held(&c.user.id),
                self.streams.cap()
            ))
        })
    }

    async fn caller<T>(&self, req: &Request<T>, scope: Scope) -> Result<Caller> {
        let c = self.authn.authenticate(req.metadata()).await?;
        c.require(scope)?;
        Ok(c)
    }

    /// The caller's workload, or NOT_FOUND with a suggestion.
    async fn find(&self, c: &Caller, name: &str) -> Result<workload::Model> {
        lattice_proto::validate::name("name", name)?;
        if let Some(w) = self.repo.workload(&c.user.id, name).await? {
            return Ok(w);
        }
        let names = self.repo.workload_names(&c.user.id).await?;
        let hint = closest(name, &names)
            .map(|n| format!("; did you mean {n:?}?"))
            .unwrap_or_default();
        Err(Error::NotFound(format!(
            "no workload named {name:?}{hint} (see `lattice ls`)"
        )))
    }

    async fn views(&self) -> Result<Views> {
        let nodes = self
            .repo
            .nodes()
            .await?
            .into_iter()
            .map(|n| (n.id.clone(), n))
            .collect();
        let mut edge: HashMap<String, Vec<_>> = HashMap::new();
        for p in self.repo.all_edge_ports().await? {
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

    /// Deletes the caller's workload (at once when its node is away).
    async fn remove(&self, c: &Caller, name: &str, purge: bool) -> Result<v1::Workload> {
        let w = self.find(c, name).await?;
        let connected = w
            .node_id
            .as_deref()
            .is_some_and(|n| self.fleet.is_connected(n));
        if !connected {
            return self.forget(&w, purge).await;
        }
        let w = self.apply(w, Transition::Delete { purge }).await?;
        self.proto(&w).await
    }

    /// Stop, start or restart of the caller's workload by name.
    async fn transition(
        &self,
        req: Request<v1::WorkloadRef>,
        t: Transition,
    ) -> Result<Response<v1::Workload>, Status> {
        let src = source(&req);
        let c = self.caller(&req, Scope::Deploy).await?;
        let name = &req.get_ref().name;
        let r = async { self.apply(self.find(&c, name).await?, t).await }.await;
        self.audit
            .record(&Actor::of(&c, src), t.action(), name, &r)
            .await;
        Ok(Response::new(self.proto(&r?).await?))
    }
}

/// The stream, holding `slot` for as long as it lives.
fn hold<S: Stream + Send + 'static>(s: S, slot: Slot) -> impl Stream<Item = S::Item> + Send {
    use tokio_stream::StreamExt;
    s.map(move |item| {
        let _held = &slot;
        item
    })
}

#[tonic::async_trait]
impl v1::workload_service_server::WorkloadService for WorkloadApi {
    #[instrument(skip_all, fields(rpc = "Deploy"))]
    async fn deploy(
        &self,
        req: Request<v1::DeployRequest>,
    ) -> Result<Response<v1::Workload>, Status> {
        let src = source(&req);
        let c = self.caller(&req, Scope::Deploy).await?;
        let r = self.create(&c, req.get_ref()).await;
        self.audit
            .record(&Actor::of(&c, src), "deploy", &req.get_ref().name, &r)
            .await;
        Ok(Response::new(self.proto(&r?).await?))
    }

    #[instrument(skip_all, fields(rpc = "List"))]
    async fn list(
        &self,
        req: Request<v1::ListWorkloadsRequest>,
    ) -> Result<Response<v1::ListWorkloadsResponse>, Status> {
        let c = self.caller(&req, Scope::Read).await?;
        let nodes = self.views().await?;
        let workloads = self
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
            .repo
            .events(&w.id, 20)
            .await?
            .into_iter()
            .map(|e| v1::StatusEvent {
                at: Some(v1::Timestamp::from_millis(e.at)),
                status: e.status.to_wire() as i32,
                message: e.message,
            })
            .collect();
        let spec: SpecDoc = serde_json::from_str(&w.spec).map_err(Error::internal)?;
        let secret = SecretDoc::unseal(&self.secrets, &w)?;
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
        let slot = self.stream_slot(&c)?;
        let events = streams::watch(self.clone(), c.user.id.clone(), name);
        Ok(Response::new(
            Box::pin(hold(events, slot)) as Self::WatchStream
        ))
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
        let slot = self.stream_slot(&c)?;
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
        Ok(Response::new(
            Box::pin(hold(lines, slot)) as Self::LogsStream
        ))
    }

    #[instrument(skip_all, fields(rpc = "Stop"))]
    async fn stop(&self, req: Request<v1::WorkloadRef>) -> Result<Response<v1::Workload>, Status> {
        self.transition(req, Transition::Stop).await
    }

    #[instrument(skip_all, fields(rpc = "Start"))]
    async fn start(&self, req: Request<v1::WorkloadRef>) -> Result<Response<v1::Workload>, Status> {
        self.transition(req, Transition::Start).await
    }

    #[instrument(skip_all, fields(rpc = "Restart"))]
    async fn restart(
        &self,
        req: Request<v1::WorkloadRef>,
    ) -> Result<Response<v1::Workload>, Status> {
        self.transition(req, Transition::Restart).await
    }

    #[instrument(skip_all, fields(rpc = "Delete"))]
    async fn delete(
        &self,
        req: Request<v1::DeleteRequest>,
    ) -> Result<Response<v1::Workload>, Status> {
        let src = source(&req);
        let c = self.caller(&req, Scope::Deploy).await?;
        let r = req.into_inner();
        let res = self.remove(&c, &r.name, r.purge).await;
        let action = if r.purge { "rm.purge" } else { "rm" };
        self.audit
            .record(&Actor::of(&c, src), action, &r.name, &res)
            .await;
        Ok(Response::new(res?))
    }

    #[instrument(skip_all, fields(rpc = "GetAccess"))]
    async fn get_access(
        &self,
        req: Request<v1::GetAccessRequest>,
    ) -> Result<Response<v1::Access>, Status> {
        let src = source(&req);
        let c = self.caller(&req, Scope::Deploy).await?;
        let r = req.into_inner();
        let found = async {
            let w = self.find(&c, &r.name).await?;
            if r.rotate {
                self.rotate(w).await
            } else {
                Ok(w)
            }
        }
        .await;
        let action = if r.rotate { "access.rotate" } else { "access" };
        self.audit
            .record(&Actor::of(&c, src), action, &r.name, &found)
            .await;
        let w = found?;
        let nodes = self.views().await?;
        let secret = SecretDoc::unseal(&self.secrets, &w)?;
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
            kind: w.kind.to_string(),
            endpoints: endpoints(&w, &nodes),
            credentials,
        }))
    }
}
