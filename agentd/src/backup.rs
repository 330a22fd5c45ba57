//! Backups and restores of a workload's data over a stream of their own.
//!
//! A backup is a command's stdout (Postgres: `pg_dump`) or a container path
//! as a tar taken while the container is paused (S3); every byte goes into
//! a SHA-256 sent on the last frame, so controld and the CLI can prove the
//! copy whole. A failed command, or a stream that ends early, is an error
//! frame, never a short backup that looks complete; a paused container is
//! let go whatever happens.
//!
//! A restore is staged first: the bytes go into a file in the container
//! while their digest is computed; only when size and digest match what
//! the backup promised does the restore command run on it. A damaged or
//! cut stream changes nothing. The staged copy is removed either way.

use std::time::Duration;

use bollard::container::LogOutput;
use futures_util::{Stream, StreamExt};
use lattice_proto::v1;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::docker::{Docker, ExecRequest};
use crate::owned::NodeEngine;
use crate::stream::Dialer;

/// The most of a failing command's output quoted back.
const TAIL: usize = 2048;

fn env_of(vars: &[v1::EnvVar]) -> Vec<String> {
    vars.iter()
        .map(|e| format!("{}={}", e.key, e.value))
        .collect()
}

fn tail(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(TAIL)..]);
    s.trim().replace('\n', " | ")
}

type Chunks = std::pin::Pin<Box<dyn Stream<Item = Result<(bool, bytes::Bytes), String>> + Send>>;

/// Streams one backup.
pub async fn serve_backup(dialer: Dialer, engine: Option<NodeEngine>, req: v1::OpenBackupStream) {
    let Some(engine) = engine else {
        return dialer
            .refuse(&req.stream_id, "Docker is unavailable on this node".into())
            .await;
    };
    let name = match engine.container(&req.workload_id).await {
        Ok((name, _)) => name,
        Err(e) => return dialer.refuse(&req.stream_id, e).await,
    };
    let docker = engine.docker;
    let paused = !req.archive_path.is_empty();
    let (chunks, exec_id): (Chunks, Option<String>) = if paused {
        if let Err(e) = docker.pause(&name).await {
            return dialer
                .refuse(
                    &req.stream_id,
                    format!("could not pause the container: {e}"),
                )
                .await;
        }
        (
            Box::pin(
                docker
                    .archive(&name, &req.archive_path)
                    .map(|r| r.map(|b| (false, b))),
            ),
            None,
        )
    } else {
        let started = docker
            .exec_attached(ExecRequest {
                container: &name,
                cmd: &req.command,
                env: env_of(&req.env),
                tty: false,
                stdin: false,
            })
            .await;
        match started {
            Ok((id, output, _)) => {
                let out = output.map(|r| match r {
                    Ok(LogOutput::StdErr { message }) => Ok((true, message)),
                    Ok(o) => Ok((false, o.into_bytes())),
                    Err(e) => Err(e.to_string()),
                });
                (Box::pin(out), Some(id))
            }
            Err(e) => {
                return dialer
                    .refuse(&req.stream_id, format!("could not start the backup: {e}"))
                    .await;
            }
        }
    };
    let outcome = pump_backup(&dialer, &req.stream_id, chunks, &docker, exec_id.as_deref()).await;
    if paused && let Err(e) = docker.unpause(&name).await {
        warn!(workload = %req.workload_id, error = %e, "could not unpause after a backup");
    }
    match outcome {
        Ok(bytes) => info!(workload = %req.workload_id, bytes, "backup streamed"),
        Err(e) => warn!(workload = %req.workload_id, error = %e, "backup failed"),
    }
}

async fn pump_backup(
    dialer: &Dialer,
    stream_id: &str,
    mut chunks: Chunks,
    docker: &Docker,
    exec_id: Option<&str>,
) -> Result<u64, String> {
    let (tx, rx) = mpsc::channel::<v1::StreamFrame>(16);
    let _ = tx
        .send(v1::StreamFrame {
            stream_id: stream_id.into(),
            ..Default::default()
        })
        .await;
    let opened = dialer.open(rx).await.map_err(|e| format!("{e:#}"))?;
    let mut h = Sha256::new();
    let (mut bytes, mut stderr) = (0u64, Vec::new());
    let mut failure = None;
    while let Some(c) = chunks.next().await {
        match c {
            Ok((true, b)) => {
                stderr.extend_from_slice(&b);
                let cut = stderr.len().saturating_sub(TAIL);
                stderr.drain(..cut);
            }
            Ok((false, b)) => {
                h.update(&b);
                bytes += b.len() as u64;
                if tx
                    .send(v1::StreamFrame {
                        data: b.to_vec(),
                        ..Default::default()
                    })
                    .await
                    .is_err()
                {
                    return Err("controld went away".into());
                }
            }
            Err(e) => {
                failure = Some(format!("reading the data failed: {e}"));
                break;
            }
        }
    }
    if failure.is_none()
        && let Some(id) = exec_id
    {
        let code = crate::exec::exit_code(docker, id).await;
        if code != 0 {
            failure = Some(format!(
                "the backup command failed (exit {code}): {}",
                tail(&stderr)
            ));
        }
    }
    let last = match &failure {
        Some(e) => v1::StreamFrame {
            error: e.clone(),
            ..Default::default()
        },
        None => v1::StreamFrame {
            eof: true,
            sha256: hex::encode(h.finalize()),
            ..Default::default()
        },
    };
    let _ = tx.send(last).await;
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_secs(10), opened.finish()).await;
    failure.map_or(Ok(bytes), Err)
}

/// Receives, verifies and applies one restore.
pub async fn serve_restore(dialer: Dialer, engine: Option<NodeEngine>, req: v1::OpenRestoreStream) {
    let Some(engine) = engine else {
        return dialer
            .refuse(&req.stream_id, "Docker is unavailable on this node".into())
            .await;
    };
    let name = match engine.container(&req.workload_id).await {
        Ok((name, _)) => name,
        Err(e) => return dialer.refuse(&req.stream_id, e).await,
    };
    let docker = engine.docker;
    let staged = format!("/tmp/.lattice-restore-{}", req.stream_id);
    let stage_cmd: Vec<String> = vec![
        "sh".into(),
        "-c".into(),
        "umask 077 && cat > \"$0\"".into(),
        staged.clone(),
    ];
    let started = docker
        .exec_attached(ExecRequest {
            container: &name,
            cmd: &stage_cmd,
            env: Vec::new(),
            tty: false,
            stdin: true,
        })
        .await;
    let (stage_id, mut input, output) = match started {
        Ok((id, output, input)) => (id, input, output),
        Err(e) => {
            return dialer
                .refuse(&req.stream_id, format!("could not stage the restore: {e}"))
                .await;
        }
    };
    let (tx, rx) = mpsc::channel::<v1::StreamFrame>(4);
    let _ = tx
        .send(v1::StreamFrame {
            stream_id: req.stream_id.clone(),
            ..Default::default()
        })
        .await;
    let Ok(opened) = dialer.open(rx).await else {
        let _ = docker
            .exec(&name, &["rm".into(), "-f".into(), staged])
            .await;
        return;
    };
    let mut inbound = opened.inbound;
    let mut h = Sha256::new();
    let mut bytes = 0u64;
    let mut complete = false;
    while let Some(Ok(f)) = inbound.next().await {
        if !f.data.is_empty() {
            h.update(&f.data);
            bytes += f.data.len() as u64;
            if input.write_all(&f.data).await.is_err() {
                break;
            }
        }
        if f.eof {
            complete = true;
            break;
        }
    }
    let _ = input.shutdown().await;
    drop(input);
    // The stage's own output (errors of cat) ends when it exits.
    let mut stage_out = Vec::new();
    let mut output = output;
    while let Some(Ok(o)) = output.next().await {
        stage_out.extend_from_slice(&o.into_bytes());
        let cut = stage_out.len().saturating_sub(TAIL);
        stage_out.drain(..cut);
    }
    let stage_code = crate::exec::exit_code(&docker, &stage_id).await;
    let digest = hex::encode(h.finalize());
    let result = if !complete {
        Err("the backup stopped arriving before its end; nothing was restored".to_string())
    } else if stage_code != 0 {
        Err(format!(
            "could not stage the backup in the container (exit {stage_code}): {}",
            tail(&stage_out)
        ))
    } else if bytes != req.bytes || digest != req.sha256 {
        Err(format!(
            "the backup does not match its checksum ({bytes} of {} bytes arrived); nothing was restored",
            req.bytes
        ))
    } else {
        let mut cmd = req.command.clone();
        cmd.push(staged.clone());
        match docker.exec_env(&name, &cmd, &env_of(&req.env)).await {
            Ok((0, _)) => Ok(()),
            Ok((code, out)) => Err(format!(
                "the restore command failed (exit {code}): {}",
                tail(&out)
            )),
            Err(e) => Err(format!("could not run the restore: {e}")),
        }
    };
    if let Err(e) = docker
        .exec(&name, &["rm".into(), "-f".into(), staged])
        .await
    {
        warn!(workload = %req.workload_id, error = %e, "could not remove a staged restore");
    }
    let last = match &result {
        Ok(()) => v1::StreamFrame {
            eof: true,
            exit_code: Some(0),
            ..Default::default()
        },
        Err(e) => v1::StreamFrame {
            error: e.clone(),
            ..Default::default()
        },
    };
    match &result {
        Ok(()) => info!(workload = %req.workload_id, bytes, "restored"),
        Err(e) => warn!(workload = %req.workload_id, error = %e, "restore refused or failed"),
    }
    let _ = tx.send(last).await;
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(_)) = inbound.next().await {}
    })
    .await;
}
