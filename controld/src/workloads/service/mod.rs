//! `WorkloadService`. Every call is scoped to the caller: another user's
//! workload is NOT_FOUND, exactly like one that does not exist.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use lattice_proto::state::Desired;
use lattice_proto::v1;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

mod backup;
mod deploy;
mod exec;
mod lifecycle;
mod rpc;
mod streams;
mod versions;
mod volumes;

pub use deploy::Outcome;

use lifecycle::Transition;

use super::{Views, closest, to_proto};
use crate::audit::{Actor, Audit, source};
use crate::auth::{Authenticator, Caller, Scope};
use crate::catalog::Catalog;
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

pub(super) type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

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

    /// The caller's workload and its node, when it should be running and
    /// its node is connected: what exec, backup and restore need.
    async fn live(&self, c: &Caller, name: &str) -> Result<(workload::Model, String)> {
        let w = self.find(c, name).await?;
        if w.desired != Desired::Running {
            return Err(Error::FailedPrecondition(format!(
                "{} is stopped; start it with `lattice start {}` first",
                w.name, w.name
            )));
        }
        let node_id = w.node_id.clone().ok_or_else(|| {
            Error::FailedPrecondition("the workload has not been placed on a node yet".into())
        })?;
        if !self.fleet.is_connected(&node_id) {
            return Err(Error::NodeDown(format!(
                "the node running {} is not connected; try again once it is back",
                w.name
            )));
        }
        Ok((w, node_id))
    }

    /// The row as stored now (taken inside a turn, after waiting for it).
    async fn reload(&self, w: &workload::Model) -> Result<workload::Model> {
        self.repo
            .workload_by_id(&w.id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("{} was removed meanwhile", w.name)))
    }

    /// What showing these workloads needs: their nodes and edge ports only.
    async fn views_for(&self, ws: &[workload::Model]) -> Result<Views> {
        let mut node_ids: Vec<String> = ws.iter().filter_map(|w| w.node_id.clone()).collect();
        node_ids.sort_unstable();
        node_ids.dedup();
        let nodes = self
            .repo
            .nodes_by_ids(&node_ids)
            .await?
            .into_iter()
            .map(|n| (n.id.clone(), n))
            .collect();
        let ids: Vec<String> = ws.iter().map(|w| w.id.clone()).collect();
        let mut edge: HashMap<String, Vec<_>> = HashMap::new();
        for p in self.repo.edge_ports_for(&ids).await? {
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
        Ok(to_proto(w, &self.views_for(std::slice::from_ref(w)).await?))
    }

    /// Deletes the caller's workload (at once when its node is away).
    async fn remove(&self, c: &Caller, name: &str, purge: bool) -> Result<v1::Workload> {
        let w = match self.find(c, name).await {
            Err(Error::NotFound(_)) if self.repo.kept_volume(&c.user.id, name).await?.is_some() => {
                return Err(Error::NotFound(format!(
                    "no workload named {name:?}: it was removed and its data volume kept; \
                     delete that with `lattice volumes rm {name}`"
                )));
            }
            r => r?,
        };
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
pub(super) fn hold<S: Stream + Send + 'static>(
    s: S,
    slot: Slot,
) -> impl Stream<Item = S::Item> + Send {
    use tokio_stream::StreamExt;
    s.map(move |item| {
        let _held = &slot;
        item
    })
}
