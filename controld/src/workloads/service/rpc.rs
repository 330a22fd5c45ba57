//! The gRPC face of `WorkloadService`: authenticate with the right scope,
//! call the service's own method, audit what changes, map to the wire.

use std::time::Duration;

use lattice_proto::v1;
use tonic::{Request, Response, Status};
use tracing::{info, instrument};

use super::lifecycle::Transition;
use super::{BoxStream, Outcome, WorkloadApi, hold, streams};
use crate::audit::{Actor, source};
use crate::auth::Scope;
use crate::catalog::{SecretDoc, SpecDoc};
use crate::error::Error;
use crate::workloads::{endpoints, to_proto};

#[tonic::async_trait]
impl v1::workload_service_server::WorkloadService for WorkloadApi {
    #[instrument(skip_all, fields(rpc = "Deploy"))]
    async fn deploy(
        &self,
        req: Request<v1::DeployRequest>,
    ) -> Result<Response<v1::DeployResponse>, Status> {
        let src = source(&req);
        let c = self.caller(&req, Scope::Deploy).await?;
        let r = self.deploy_or_update(&c, req.get_ref()).await;
        let action = match &r {
            Ok((_, Outcome::Updated)) => "deploy.update",
            Ok((_, Outcome::Unchanged)) => "deploy.unchanged",
            _ if req.get_ref().reuse_volume => "deploy.reuse-volume",
            _ => "deploy",
        };
        self.audit
            .record(&Actor::of(&c, src), action, &req.get_ref().name, &r)
            .await;
        let (w, outcome) = r?;
        self.deployed(&w, outcome).await
    }

    #[instrument(skip_all, fields(rpc = "List"))]
    async fn list(
        &self,
        req: Request<v1::ListWorkloadsRequest>,
    ) -> Result<Response<v1::ListWorkloadsResponse>, Status> {
        let c = self.caller(&req, Scope::Read).await?;
        let rows = self.repo.workloads_of(&c.user.id).await?;
        let views = self.views_for(&rows).await?;
        let workloads = rows.iter().map(|w| to_proto(w, &views)).collect();
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
            return Err(Error::NodeDown(format!(
                "the node running {} is not connected; its logs are unavailable until it returns",
                w.name
            ))
            .into());
        }
        let stream_id = uuid::Uuid::new_v4().to_string();
        let open = v1::control_message::Cmd::OpenLogs(v1::OpenLogStream {
            stream_id: stream_id.clone(),
            workload_id: w.id.clone(),
            // Old clients sent 0 for "all".
            tail: r.tail.filter(|n| *n > 0 || r.follow),
            follow: r.follow,
            since_unix_millis: r.since.map_or(0, |t| t.unix_millis),
            without_times: !r.timestamps
                && !r.follow
                && r.since.is_none()
                && r.after_cursor.is_empty(),
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

    type ExecStream = BoxStream<v1::ExecOutput>;

    #[instrument(skip_all, fields(rpc = "Exec"))]
    async fn exec(
        &self,
        req: Request<tonic::Streaming<v1::ExecInput>>,
    ) -> Result<Response<Self::ExecStream>, Status> {
        self.exec_session(req).await
    }

    type BackupStream = BoxStream<v1::BackupChunk>;

    #[instrument(skip_all, fields(rpc = "Backup"))]
    async fn backup(
        &self,
        req: Request<v1::BackupRequest>,
    ) -> Result<Response<Self::BackupStream>, Status> {
        self.backup_stream(req).await
    }

    #[instrument(skip_all, fields(rpc = "Restore"))]
    async fn restore(
        &self,
        req: Request<tonic::Streaming<v1::RestoreChunk>>,
    ) -> Result<Response<v1::RestoreResponse>, Status> {
        self.restore_stream(req).await
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
        let nodes = self.views_for(std::slice::from_ref(&w)).await?;
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

    #[instrument(skip_all, fields(rpc = "SetEnv"))]
    async fn set_env(
        &self,
        req: Request<v1::SetEnvRequest>,
    ) -> Result<Response<v1::DeployResponse>, Status> {
        let src = source(&req);
        let c = self.caller(&req, Scope::Deploy).await?;
        let r = self.set_env(&c, req.get_ref()).await;
        self.audit
            .record(&Actor::of(&c, src), "env.set", &req.get_ref().name, &r)
            .await;
        let (w, changed) = r?;
        self.deployed(&w, changed_outcome(changed)).await
    }

    #[instrument(skip_all, fields(rpc = "GetEnv"))]
    async fn get_env(
        &self,
        req: Request<v1::GetEnvRequest>,
    ) -> Result<Response<v1::EnvList>, Status> {
        let src = source(&req);
        let r = req.get_ref().clone();
        if !r.show_values {
            let c = self.caller(&req, Scope::Read).await?;
            let env = self.env_of(&c, &r.name, false).await?;
            return Ok(Response::new(v1::EnvList { env }));
        }
        // Values are secrets: the same scope as `access`, and audited.
        let c = self.caller(&req, Scope::Deploy).await?;
        let env = self.env_of(&c, &r.name, true).await;
        self.audit
            .record(&Actor::of(&c, src), "env.reveal", &r.name, &env)
            .await;
        Ok(Response::new(v1::EnvList { env: env? }))
    }

    #[instrument(skip_all, fields(rpc = "History"))]
    async fn history(
        &self,
        req: Request<v1::WorkloadRef>,
    ) -> Result<Response<v1::HistoryResponse>, Status> {
        let c = self.caller(&req, Scope::Read).await?;
        let versions = self.history(&c, &req.get_ref().name).await?;
        Ok(Response::new(v1::HistoryResponse { versions }))
    }

    #[instrument(skip_all, fields(rpc = "Rollback"))]
    async fn rollback(
        &self,
        req: Request<v1::RollbackRequest>,
    ) -> Result<Response<v1::DeployResponse>, Status> {
        let src = source(&req);
        let c = self.caller(&req, Scope::Deploy).await?;
        let r = req.get_ref();
        let res = self.rollback(&c, &r.name, r.version).await;
        self.audit
            .record(&Actor::of(&c, src), "rollback", &r.name, &res)
            .await;
        let (w, changed) = res?;
        self.deployed(&w, changed_outcome(changed)).await
    }

    #[instrument(skip_all, fields(rpc = "ListVolumes"))]
    async fn list_volumes(
        &self,
        req: Request<v1::ListVolumesRequest>,
    ) -> Result<Response<v1::ListVolumesResponse>, Status> {
        let c = self.caller(&req, Scope::Read).await?;
        let volumes = self.volumes(&c).await?;
        Ok(Response::new(v1::ListVolumesResponse { volumes }))
    }

    #[instrument(skip_all, fields(rpc = "DeleteVolume"))]
    async fn delete_volume(
        &self,
        req: Request<v1::DeleteVolumeRequest>,
    ) -> Result<Response<v1::Volume>, Status> {
        let src = source(&req);
        let c = self.caller(&req, Scope::Deploy).await?;
        let r = req.get_ref();
        let res = self.remove_volume(&c, &r.name, r.forget).await;
        let action = if r.forget {
            "volumes.forget"
        } else {
            "volumes.rm"
        };
        self.audit
            .record(&Actor::of(&c, src), action, &r.name, &res)
            .await;
        Ok(Response::new(res?))
    }
}

fn changed_outcome(changed: bool) -> Outcome {
    if changed {
        Outcome::Updated
    } else {
        Outcome::Unchanged
    }
}

impl WorkloadApi {
    async fn deployed(
        &self,
        w: &crate::entity::workload::Model,
        outcome: Outcome,
    ) -> Result<Response<v1::DeployResponse>, Status> {
        Ok(Response::new(v1::DeployResponse {
            workload: Some(self.proto(w).await?),
            outcome: outcome.as_str().into(),
        }))
    }
}
