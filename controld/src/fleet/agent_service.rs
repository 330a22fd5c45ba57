//! `AgentService`: join with a one-time token, then one long-lived control
//! stream per node, plus agent-opened byte streams.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use lattice_proto::v1;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};
use tracing::{info, instrument, warn};

use super::Fleet;
use super::node_secret::NODE_SECRET_PREFIX;
use super::streams::Opened;
use crate::auth::tokens::{random_token, token_hash};
use crate::entity::node;
use crate::error::Result;
use crate::repo::Repo;

/// The AgentService implementation.
#[derive(Clone)]
pub struct AgentApi {
    fleet: Arc<Fleet>,
    repo: Repo,
}

impl AgentApi {
    /// New service over the fleet and the store.
    pub fn new(fleet: Arc<Fleet>, repo: Repo) -> Self {
        Self { fleet, repo }
    }

    /// The node presenting `authorization: Node <id>.<secret>`.
    async fn node<T>(&self, req: &Request<T>) -> Result<node::Model> {
        let header = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        self.fleet.node_by_authorization(header).await
    }
}

/// Makes a DNS-label node name from a hostname.
fn node_name(hostname: &str) -> String {
    let mut s: String = hostname
        .split('.')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s = s.trim_matches('-').chars().take(50).collect();
    if s.is_empty() { "node".into() } else { s }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Reports waiting to be stored, per node; past this the node is asked to
/// send them all again.
const REPORT_QUEUE: usize = 1024;

/// Stores a node's reports in the order they came, off its control loop; ends
/// when the sender (the connection) goes.
fn report_writer(fleet: Arc<Fleet>, node_id: String) -> mpsc::Sender<v1::WorkloadReport> {
    let (tx, mut rx) = mpsc::channel::<v1::WorkloadReport>(REPORT_QUEUE);
    tokio::spawn(async move {
        while let Some(r) = rx.recv().await {
            if let Err(e) = fleet.apply_report(&node_id, r).await {
                // Not dropped: the node sends it again on request.
                fleet.want_resync(&node_id);
                warn!(node = %node_id, error = %e, "could not store a report");
            }
        }
    });
    tx
}

#[tonic::async_trait]
impl v1::agent_service_server::AgentService for AgentApi {
    #[instrument(skip_all, fields(rpc = "Join"))]
    async fn join(
        &self,
        req: Request<v1::JoinRequest>,
    ) -> Result<Response<v1::JoinResponse>, Status> {
        let r = req.into_inner();
        let secret = lattice_proto::pki::parse_join_token(&r.join_token)
            .map(|(secret, _)| secret)
            .filter(|s| s.len() <= 256)
            .ok_or_else(|| {
                Status::invalid_argument("join_token is not a Lattice join token (LJT.…)")
            })?;
        let node_secret = random_token(NODE_SECRET_PREFIX);
        let n = self
            .repo
            .join(
                &token_hash(secret),
                &node_name(&r.hostname),
                &token_hash(&node_secret),
            )
            .await?;
        info!(node = %n.name, id = %n.id, "node joined");
        Ok(Response::new(v1::JoinResponse {
            node_id: n.id,
            node_name: n.name,
            node_secret,
        }))
    }

    type ConnectStream = BoxStream<v1::ControlMessage>;

    #[instrument(skip_all, fields(rpc = "Connect"))]
    async fn connect(
        &self,
        req: Request<Streaming<v1::AgentMessage>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        let node = self.node(&req).await?;
        let peer = req.remote_addr().map(|a| a.ip());
        let mut inbound = req.into_inner();
        let first = tokio::time::timeout(Duration::from_secs(10), inbound.next())
            .await
            .map_err(|_| Status::deadline_exceeded("expected Hello within 10s"))?;
        let hello = match first {
            Some(Ok(v1::AgentMessage {
                msg: Some(v1::agent_message::Msg::Hello(h)),
            })) => h,
            _ => return Err(Status::invalid_argument("the first message must be Hello")),
        };
        let (tx, rx) = mpsc::channel(64);
        let conn = self.fleet.connected(node.clone(), &hello, peer, tx).await?;
        let fleet = self.fleet.clone();
        let reports = report_writer(fleet.clone(), node.id.clone());
        tokio::spawn(async move {
            while let Some(msg) = inbound.next().await {
                let msg = match msg {
                    Ok(m) => m,
                    Err(e) => {
                        warn!(node = %node.name, error = %e.message(), "control stream broke");
                        break;
                    }
                };
                let res = match msg.msg {
                    Some(v1::agent_message::Msg::Heartbeat(h)) => {
                        fleet.heartbeat(&node.id, h).await
                    }
                    Some(v1::agent_message::Msg::Report(r)) => {
                        // Reports are stored by a task of their own, in order:
                        // a burst of them (a resync of a full node) never holds
                        // up the heartbeat behind it, which would miss the lease
                        // and mark every workload lost, again and again.
                        if reports.try_send(r).is_err() {
                            // Full: level-triggered, so ask for all of them again.
                            fleet.want_resync(&node.id);
                        }
                        Ok(())
                    }
                    Some(v1::agent_message::Msg::Result(r)) => {
                        fleet.command_result(&node.id, r);
                        Ok(())
                    }
                    Some(v1::agent_message::Msg::Hello(_)) | None => Ok(()),
                };
                if let Err(e) = res {
                    warn!(node = %node.name, error = %e, "could not apply an agent message");
                }
            }
            fleet.disconnected(&node.id, conn).await;
        });
        Ok(Response::new(
            Box::pin(ReceiverStream::new(rx)) as Self::ConnectStream
        ))
    }

    type OpenStreamStream = BoxStream<v1::StreamFrame>;

    #[instrument(skip_all, fields(rpc = "OpenStream"))]
    async fn open_stream(
        &self,
        req: Request<Streaming<v1::StreamFrame>>,
    ) -> Result<Response<Self::OpenStreamStream>, Status> {
        let node = self.node(&req).await?;
        let mut inbound = req.into_inner();
        let first = tokio::time::timeout(Duration::from_secs(10), inbound.next())
            .await
            .map_err(|_| Status::deadline_exceeded("expected the stream id within 10s"))?;
        let id = match first {
            Some(Ok(f)) if !f.stream_id.is_empty() => f.stream_id,
            _ => {
                return Err(Status::invalid_argument(
                    "the first frame must carry the stream id",
                ));
            }
        };
        let (tx, rx) = mpsc::channel(16);
        self.fleet.claim_stream(
            &id,
            &node.id,
            Opened {
                inbound,
                outbound: tx,
            },
        )?;
        Ok(Response::new(
            Box::pin(ReceiverStream::new(rx)) as Self::OpenStreamStream
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_are_labels() {
        assert_eq!(node_name("Build-Box.local"), "build-box");
        assert_eq!(node_name("___"), "node");
        assert_eq!(node_name("my_laptop"), "my-laptop");
    }
}
