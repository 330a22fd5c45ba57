//! `NodeService`: join tokens and the node list, for admins.

use std::collections::HashMap;
use std::sync::Arc;

use lattice_proto::state::{Desired, NodeState};
use lattice_proto::v1;
use sea_orm::ActiveValue::Set;
use sea_orm::IntoActiveModel;
use tonic::{Request, Response, Status};
use tracing::{info, instrument};

use super::Fleet;
use crate::audit::{Actor, Audit, source};
use crate::auth::Authenticator;
use crate::auth::tokens::{random_token, token_hash};
use crate::clock;
use crate::entity::node;
use crate::error::{Error, Result};
use crate::repo::{Repo, Reserved};

/// Default lifetime of a join token.
const JOIN_TTL_SECS: i64 = 3600;

/// The NodeService implementation.
#[derive(Clone)]
pub struct NodeApi {
    fleet: Arc<Fleet>,
    repo: Repo,
    authn: Authenticator,
    fingerprint: String,
    audit: Audit,
}

impl NodeApi {
    /// New service; `fingerprint` (the CA's) is embedded in join tokens so
    /// agents can verify controld before sending anything.
    pub fn new(
        fleet: Arc<Fleet>,
        repo: Repo,
        authn: Authenticator,
        fingerprint: String,
        audit: Audit,
    ) -> Self {
        Self {
            fleet,
            repo,
            authn,
            fingerprint,
            audit,
        }
    }

    async fn find(&self, name: &str) -> Result<node::Model> {
        self.repo
            .node_by_name(name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no node named {name:?}; see `lattice nodes`")))
    }

    async fn node_proto(&self, n: &node::Model, used: &HashMap<String, Reserved>) -> v1::Node {
        let on = used.get(&n.id).copied().unwrap_or_default();
        let mut p = to_proto(n, on, self.fleet.is_connected(&n.id));
        p.host = self.fleet.usage_of(&n.id);
        p
    }
}

/// Creates a join token: `LJT.<secret>.<ca fingerprint hex>`.
pub async fn create_join_token(
    repo: &crate::repo::Repo,
    fingerprint: &str,
    by: &str,
    ttl_secs: i64,
) -> Result<(String, i64)> {
    let secret = random_token("");
    let expires = clock::now_ms() + ttl_secs.clamp(60, 7 * 24 * 3600) * 1000;
    repo.insert_join_token(&token_hash(&secret), by, expires)
        .await?;
    Ok((
        lattice_proto::pki::join_token(&secret, fingerprint),
        expires,
    ))
}

/// A node row as the API shows it. `connected` is the same fact the
/// scheduler uses (a live control stream to this controld), so a node is
/// never shown `ready` while deploys to it are refused.
pub fn to_proto(n: &node::Model, on: Reserved, connected: bool) -> v1::Node {
    let (status, message) = if !connected {
        let seen = n
            .last_seen_at
            .map_or_else(|| "never".to_string(), clock::rfc3339);
        (
            NodeState::Unreachable,
            format!(
                "its agent is not connected (last seen {seen}); start or restart lattice-agentd on it"
            ),
        )
    } else if n.draining {
        (
            NodeState::Draining,
            "draining: no new workloads are placed here".to_string(),
        )
    } else if !n.docker_ok {
        (
            NodeState::DockerUnavailable,
            n.docker_error
                .clone()
                .unwrap_or_else(|| "Docker is unavailable".into()),
        )
    } else {
        (NodeState::Ready, String::new())
    };
    v1::Node {
        id: n.id.clone(),
        name: n.name.clone(),
        status: status.to_wire() as i32,
        status_message: message,
        cpu_millis_capacity: u32::try_from(n.cpu_millis_capacity).unwrap_or(0),
        memory_bytes_capacity: u64::try_from(n.memory_bytes_capacity).unwrap_or(0),
        cpu_millis_used: u32::try_from(on.cpu_millis).unwrap_or(0),
        memory_bytes_used: u64::try_from(on.memory_bytes).unwrap_or(0),
        last_seen: n.last_seen_at.map(v1::Timestamp::from_millis),
        address: n.address.clone().unwrap_or_default(),
        workloads: u32::try_from(on.workloads).unwrap_or(0),
        agent_version: n.agent_version.clone().unwrap_or_default(),
        host: None,
    }
}

#[tonic::async_trait]
impl v1::node_service_server::NodeService for NodeApi {
    #[instrument(skip_all, fields(rpc = "ListNodes"))]
    async fn list(
        &self,
        req: Request<v1::ListNodesRequest>,
    ) -> Result<Response<v1::ListNodesResponse>, Status> {
        let c = self.authn.authenticate(req.metadata()).await?;
        // Everyone may see what capacity the cloud has; only admins see
        // where the machines are and what they run.
        c.require(crate::auth::Scope::Read)?;
        let admin = c.require_admin().is_ok();
        let used = self.repo.reservations(None, true).await?;
        let mut nodes = Vec::new();
        for n in self.repo.nodes().await? {
            let mut p = self.node_proto(&n, &used).await;
            if !admin {
                p.address.clear();
                p.agent_version.clear();
            }
            nodes.push(p);
        }
        Ok(Response::new(v1::ListNodesResponse { nodes }))
    }

    #[instrument(skip_all, fields(rpc = "GetNode"))]
    async fn get(&self, req: Request<v1::GetNodeRequest>) -> Result<Response<v1::Node>, Status> {
        let c = self.authn.authenticate(req.metadata()).await?;
        c.require_admin()?;
        let name = req.into_inner().name;
        let n = self.find(&name).await?;
        let used = self.repo.reservations(None, true).await?;
        Ok(Response::new(self.node_proto(&n, &used).await))
    }

    #[instrument(skip_all, fields(rpc = "CreateJoinToken"))]
    async fn create_join_token(
        &self,
        req: Request<v1::CreateJoinTokenRequest>,
    ) -> Result<Response<v1::JoinToken>, Status> {
        let src = source(&req);
        let c = self.authn.authenticate(req.metadata()).await?;
        let asked = req.into_inner().expires_in_seconds;
        let r = async {
            c.require_admin()?;
            let ttl = match asked {
                0 => JOIN_TTL_SECS,
                s if s < 0 => {
                    return Err(lattice_proto::ValidationError::new(
                        "expires_in_seconds",
                        "must be positive",
                    )
                    .into());
                }
                s => s,
            };
            create_join_token(&self.repo, &self.fingerprint, &c.user.id, ttl).await
        }
        .await;
        self.audit
            .record(&Actor::of(&c, src), "nodes.join-token", "join token", &r)
            .await;
        let (token, expires) = r?;
        info!(by = %c.user.id, "join token created");
        Ok(Response::new(v1::JoinToken {
            token,
            expires_at: Some(v1::Timestamp::from_millis(expires)),
        }))
    }

    #[instrument(skip_all, fields(rpc = "RemoveNode"))]
    async fn remove(
        &self,
        req: Request<v1::RemoveNodeRequest>,
    ) -> Result<Response<v1::RemoveNodeResponse>, Status> {
        let src = source(&req);
        let c = self.authn.authenticate(req.metadata()).await?;
        let r = req.into_inner();
        let res = async {
            c.require_admin()?;
            let n = self.find(&r.name).await?;
            let on = self
                .repo
                .workloads_on(&n.id)
                .await?
                .into_iter()
                .filter(|w| w.desired != Desired::Deleted)
                .count();
            if on > 0 && !r.force {
                return Err(Error::FailedPrecondition(format!(
                    "node {} still has {on} workload(s); they would be lost. Remove them first, or pass --force",
                    n.name
                )));
            }
            let msg = format!(
                "node {} was removed by an admin with this workload's data volume; \
                 `lattice restart` it to start it empty on another node (then `lattice restore` a backup), \
                 or `lattice rm` it",
                n.name
            );
            let on = self.repo.remove_node(&n.id, &msg).await?;
            // Its live stream ends now; its secret no longer opens one.
            self.fleet.disconnect(&n.id);
            // What holds no data goes elsewhere by itself, as a cloud does.
            for w in &on {
                if w.desired == Desired::Deleted {
                    // Being deleted, and its container went with the node.
                    self.repo.delete_workload(&w.id, false).await?;
                } else if !crate::catalog::has_volume(w) {
                    self.repo.requeue(w, &n.name).await?;
                }
            }
            self.fleet.wake_placer();
            for w in &on {
                match self.repo.workload_by_id(&w.id).await? {
                    Some(now) => self.fleet.publish(&now, false),
                    None => self.fleet.publish(w, true),
                }
            }
            Ok(u32::try_from(on.len()).unwrap_or(u32::MAX))
        }
        .await;
        let action = if r.force {
            "nodes.rm.force"
        } else {
            "nodes.rm"
        };
        self.audit
            .record(&Actor::of(&c, src), action, &r.name, &res)
            .await;
        let lost = res?;
        info!(node = %r.name, lost, "node removed");
        Ok(Response::new(v1::RemoveNodeResponse {
            workloads_lost: lost,
        }))
    }

    #[instrument(skip_all, fields(rpc = "RotateNodeSecret"))]
    async fn rotate_secret(
        &self,
        req: Request<v1::RotateNodeSecretRequest>,
    ) -> Result<Response<v1::Empty>, Status> {
        let src = source(&req);
        let c = self.authn.authenticate(req.metadata()).await?;
        let name = req.into_inner().name;
        let r = async {
            c.require_admin()?;
            let n = self.find(&name).await?;
            self.fleet.rotate_node_secret(&n.id).await
        }
        .await;
        self.audit
            .record(&Actor::of(&c, src), "nodes.rotate-secret", &name, &r)
            .await;
        r?;
        Ok(Response::new(v1::Empty {}))
    }

    #[instrument(skip_all, fields(rpc = "Drain"))]
    async fn drain(&self, req: Request<v1::DrainRequest>) -> Result<Response<v1::Node>, Status> {
        let src = source(&req);
        let c = self.authn.authenticate(req.metadata()).await?;
        let name = req.into_inner().name;
        let r = async {
            c.require_admin()?;
            let mut am = self.find(&name).await?.into_active_model();
            am.draining = Set(true);
            self.repo.save_node(am).await
        }
        .await;
        self.audit
            .record(&Actor::of(&c, src), "nodes.drain", &name, &r)
            .await;
        let n = r?;
        let used = self.repo.reservations(None, true).await?;
        Ok(Response::new(self.node_proto(&n, &used).await))
    }
}
