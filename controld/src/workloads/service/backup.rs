//! `Backup` and `Restore`: a workload's data through its node's agent, on a
//! stream of their own, bounded end to end (a slow reader slows the node's
//! read, never our memory). The catalogue says how each kind is taken and
//! put back; the node computes and checks the SHA-256, so a backup that did
//! not arrive whole is never passed off as one, and a restore that does not
//! match its checksum changes nothing.

use std::time::Duration;

use lattice_proto::v1;
use lattice_proto::v1::restore_chunk::Chunk;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::lifecycle::Transition;
use super::{BoxStream, WorkloadApi, hold};
use crate::audit::{Actor, source};
use crate::auth::{Caller, Scope};
use crate::catalog::SpecDoc;
use crate::catalog::backup::{backup_plan, format, restore_plan};
use crate::error::{Error, Result};
use crate::fleet::streams::Opened;

/// How long the node has to open its side.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);

impl WorkloadApi {
    /// Serves one `Backup` call.
    pub(super) async fn backup_stream(
        &self,
        req: Request<v1::BackupRequest>,
    ) -> std::result::Result<Response<BoxStream<v1::BackupChunk>>, Status> {
        let src = source(&req);
        let c = self.caller(&req, Scope::Deploy).await?;
        let name = req.into_inner().name;
        let slot = self.stream_slot(&c)?;
        let r = self.open_backup(&c, &name).await;
        self.audit
            .record(&Actor::of(&c, src), "backup", &name, &r)
            .await;
        let (info, opened) = r?;
        let out = pump_backup(info, opened, self.fleet.closing());
        Ok(Response::new(
            Box::pin(hold(out, slot)) as BoxStream<v1::BackupChunk>
        ))
    }

    async fn open_backup(&self, c: &Caller, name: &str) -> Result<(v1::BackupInfo, Opened)> {
        let (w, node_id) = self.live(c, name).await?;
        let spec: SpecDoc = serde_json::from_str(&w.spec).map_err(Error::internal)?;
        let plan = backup_plan(w.kind, &spec)?;
        let info = v1::BackupInfo {
            kind: w.kind.as_str().into(),
            format: format(w.kind, &spec)?.into(),
            workload: w.name.clone(),
            created_at: Some(v1::Timestamp::from_millis(crate::clock::now_ms())),
            image: w.image.clone(),
        };
        let stream_id = uuid::Uuid::new_v4().to_string();
        let open = v1::control_message::Cmd::OpenBackup(v1::OpenBackupStream {
            stream_id: stream_id.clone(),
            workload_id: w.id.clone(),
            command: plan.command,
            env: Vec::new(),
            archive_path: plan.archive_path,
        });
        let opened = self
            .fleet
            .open_stream(&node_id, &stream_id, open, OPEN_TIMEOUT)
            .await?;
        Ok((info, opened))
    }

    /// Serves one `Restore` call.
    pub(super) async fn restore_stream(
        &self,
        req: Request<Streaming<v1::RestoreChunk>>,
    ) -> std::result::Result<Response<v1::RestoreResponse>, Status> {
        let src = source(&req);
        let c = self.caller(&req, Scope::Deploy).await?;
        let mut input = req.into_inner();
        let first = tokio::time::timeout(Duration::from_secs(10), input.message())
            .await
            .map_err(|_| {
                Error::FailedPrecondition("expected the restore's header within 10s".into())
            })?;
        let Ok(Some(v1::RestoreChunk {
            chunk: Some(Chunk::Start(start)),
        })) = first
        else {
            return Err(Error::FailedPrecondition(
                "a restore must start by naming the workload and the backup's checksum".into(),
            )
            .into());
        };
        let _slot = self.stream_slot(&c)?;
        let r = self.restore(&c, &start, input).await;
        self.audit
            .record(&Actor::of(&c, src), "restore", &start.name, &r)
            .await;
        Ok(Response::new(r?))
    }

    async fn restore(
        &self,
        c: &Caller,
        start: &v1::RestoreStart,
        mut input: Streaming<v1::RestoreChunk>,
    ) -> Result<v1::RestoreResponse> {
        let (w, node_id) = self.live(c, &start.name).await?;
        let spec: SpecDoc = serde_json::from_str(&w.spec).map_err(Error::internal)?;
        let want = format(w.kind, &spec)?;
        if start.kind != w.kind.as_str() || start.format != want {
            return Err(Error::FailedPrecondition(format!(
                "this is a backup of a {} workload ({}); {} is a {} workload, which takes {want} backups",
                start.kind,
                start.format,
                w.name,
                w.kind.as_str()
            )));
        }
        if start.sha256.len() != 64 || !start.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::FailedPrecondition(
                "the backup's checksum is not a SHA-256".into(),
            ));
        }
        let plan = restore_plan(w.kind, &spec)?;
        // Rotations and updates recreate the container: not in the middle of this.
        let _turn = self.rotations.lock(&w.id).await;
        let stream_id = uuid::Uuid::new_v4().to_string();
        let open = v1::control_message::Cmd::OpenRestore(v1::OpenRestoreStream {
            stream_id: stream_id.clone(),
            workload_id: w.id.clone(),
            command: plan.command,
            env: Vec::new(),
            sha256: start.sha256.to_ascii_lowercase(),
            bytes: start.bytes,
        });
        let Opened {
            mut inbound,
            outbound,
        } = self
            .fleet
            .open_stream(&node_id, &stream_id, open, OPEN_TIMEOUT)
            .await?;
        let lost = || {
            Error::NodeDown(format!(
                "lost the connection to the node running {}; the restore may not have finished",
                w.name
            ))
        };
        let mut sent = 0u64;
        let mut input_open = true;
        let closing = self.fleet.closing();
        tokio::pin!(closing);
        loop {
            tokio::select! {
                _ = &mut closing => return Err(Error::Unavailable("the control plane is restarting; nothing was restored".into())),
                m = input.message(), if input_open => {
                    let frame = match m {
                        Ok(Some(v1::RestoreChunk { chunk: Some(Chunk::Data(data)) })) => {
                            sent += data.len() as u64;
                            if sent > start.bytes {
                                return Err(Error::FailedPrecondition("more data arrived than the backup holds; nothing was restored".into()));
                            }
                            v1::StreamFrame { data, ..Default::default() }
                        }
                        Ok(Some(_)) => return Err(Error::FailedPrecondition("a restore takes one header".into())),
                        Ok(None) => { input_open = false; v1::StreamFrame { eof: true, ..Default::default() } }
                        // Dropping our side unfinished tells the node nothing complete came.
                        Err(_) => return Err(Error::Unavailable("the upload broke off; nothing was restored".into())),
                    };
                    if outbound.send(Ok(frame)).await.is_err() {
                        return Err(lost());
                    }
                }
                f = inbound.next() => match f {
                    Some(Ok(f)) if !f.error.is_empty() => return Err(Error::FailedPrecondition(f.error)),
                    Some(Ok(f)) if f.exit_code == Some(0) => break,
                    Some(Ok(_)) => {}
                    None | Some(Err(_)) => return Err(lost()),
                }
            }
        }
        let w = if plan.restart {
            self.apply(self.reload(&w).await?, Transition::Restart)
                .await?
        } else {
            w
        };
        Ok(v1::RestoreResponse {
            workload: Some(self.proto(&w).await?),
            bytes: sent,
        })
    }
}

/// Forwards the node's frames as chunks: the info first, the checksum last.
fn pump_backup(
    info: v1::BackupInfo,
    opened: Opened,
    closing: impl std::future::Future<Output = ()> + Send + 'static,
) -> ReceiverStream<std::result::Result<v1::BackupChunk, Status>> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let name = info.workload.clone();
        let Opened {
            mut inbound,
            outbound,
        } = opened;
        if tx
            .send(Ok(v1::BackupChunk {
                info: Some(info),
                ..Default::default()
            }))
            .await
            .is_err()
        {
            return;
        }
        tokio::pin!(closing);
        let fail = |e: Error| Err(Status::from(e));
        loop {
            let f = tokio::select! {
                _ = tx.closed() => return,
                _ = &mut closing => {
                    let _ = tx.send(fail(Error::Unavailable("the control plane is restarting; the backup is incomplete".into()))).await;
                    return;
                }
                f = inbound.next() => f,
            };
            let chunk = match f {
                Some(Ok(f)) if !f.error.is_empty() => {
                    let _ = tx
                        .send(fail(Error::FailedPrecondition(format!(
                            "the backup of {name} failed: {}",
                            f.error
                        ))))
                        .await;
                    return;
                }
                Some(Ok(f)) if f.eof => v1::BackupChunk {
                    sha256: f.sha256,
                    ..Default::default()
                },
                Some(Ok(f)) => v1::BackupChunk {
                    data: f.data,
                    ..Default::default()
                },
                None | Some(Err(_)) => {
                    let _ = tx.send(fail(Error::NodeDown(format!("lost the connection to the node running {name}; the backup is incomplete")))).await;
                    return;
                }
            };
            let last = !chunk.sha256.is_empty();
            if tx.send(Ok(chunk)).await.is_err() || last {
                drop(outbound);
                return;
            }
        }
    });
    ReceiverStream::new(rx)
}
