//! Serves one `OpenExecStream` (`lattice exec`): runs the command attached
//! in the workload's container and opens a byte stream back to controld —
//! output (stderr marked) one way, stdin, its end and terminal resizes the
//! other — ending with the command's exit code. If controld ends the stream
//! first (the user left, the time ran out), the command is killed rather
//! than left running in the container.

use std::time::Duration;

use bollard::container::LogOutput;
use futures_util::StreamExt;
use lattice_proto::v1;
use tokio::io::AsyncWriteExt;
use tracing::{debug, warn};

use crate::docker::{Docker, ExecInput, ExecOutput, ExecRequest};
use crate::owned::NodeEngine;
use crate::stream::Dialer;

async fn start(
    engine: Option<&NodeEngine>,
    req: &v1::OpenExecStream,
) -> Result<(String, ExecOutput, ExecInput), String> {
    let engine = engine.ok_or("Docker is unavailable on this node")?;
    if req.command.is_empty() {
        return Err("no command to run".into());
    }
    let (name, c) = engine.container(&req.workload_id).await?;
    let docker = &engine.docker;
    let running = c.state.and_then(|s| s.running).unwrap_or(false);
    if !running {
        return Err("the workload's container is not running".into());
    }
    let env = req
        .env
        .iter()
        .map(|e| format!("{}={}", e.key, e.value))
        .collect();
    docker
        .exec_attached(ExecRequest {
            container: &name,
            cmd: &req.command,
            env,
            tty: req.tty,
            stdin: req.stdin,
        })
        .await
}

/// Runs the command until it exits or controld ends the stream.
pub async fn serve(dialer: Dialer, engine: Option<NodeEngine>, req: v1::OpenExecStream) {
    let (id, mut output, mut input) = match start(engine.as_ref(), &req).await {
        Ok(s) => s,
        Err(error) => return dialer.refuse(&req.stream_id, error).await,
    };
    let Some(docker) = engine.map(|e| e.docker) else {
        return;
    };
    let Ok((tx, opened)) = dialer.open_for(&req.stream_id, 16).await else {
        kill(&docker, &id).await;
        return;
    };
    if req.tty && req.rows > 0 && req.cols > 0 {
        resize(&docker, &id, req.rows, req.cols).await;
    }
    let mut inbound = opened.inbound;
    let to_controld = async {
        while let Some(item) = output.next().await {
            let frame = match item {
                Ok(LogOutput::StdErr { message }) => v1::StreamFrame {
                    data: message.to_vec(),
                    stderr: true,
                    ..Default::default()
                },
                Ok(other) => v1::StreamFrame {
                    data: other.into_bytes().to_vec(),
                    ..Default::default()
                },
                Err(e) => {
                    debug!(error = %e, "exec output ended with an error");
                    break;
                }
            };
            if tx.send(frame).await.is_err() {
                return false;
            }
        }
        true
    };
    let from_controld = async {
        let mut stdin_open = true;
        while let Some(Ok(f)) = inbound.next().await {
            if f.rows > 0 && f.cols > 0 {
                resize(&docker, &id, f.rows, f.cols).await;
            }
            // A command that closed its stdin just does not read the rest.
            if stdin_open && !f.data.is_empty() && input.write_all(&f.data).await.is_err() {
                stdin_open = false;
            }
            if stdin_open && f.eof {
                let _ = input.shutdown().await;
                stdin_open = false;
            }
        }
    };
    tokio::pin!(from_controld);
    let finished = {
        tokio::pin!(to_controld);
        tokio::select! {
            done = &mut to_controld => done,
            () = &mut from_controld => false,
        }
    };
    if finished {
        let code = exit_code(&docker, &id).await;
        let _ = tx
            .send(v1::StreamFrame {
                exit_code: Some(code),
                eof: true,
                ..Default::default()
            })
            .await;
    } else {
        kill(&docker, &id).await;
    }
    drop(tx);
    // Let controld end its side: cancelling the call now could discard the
    // exit code before controld reads it.
    let _ = tokio::time::timeout(Duration::from_secs(5), from_controld).await;
}

async fn resize(docker: &Docker, id: &str, rows: u32, cols: u32) {
    let (rows, cols) = (
        u16::try_from(rows).unwrap_or(u16::MAX),
        u16::try_from(cols).unwrap_or(u16::MAX),
    );
    if let Err(e) = docker.resize_exec(id, rows, cols).await {
        debug!(error = %e, "could not resize the exec's terminal");
    }
}

/// The command's exit code once Docker has recorded it; -1 if it never was.
pub(crate) async fn exit_code(docker: &Docker, id: &str) -> i32 {
    docker
        .exit_code(id)
        .await
        .map_or(-1, |c| i32::try_from(c).unwrap_or(-1))
}

/// Kills a command nobody is attached to any more (Docker has no API for
/// it: its process is signalled on this host, where Docker reports it).
async fn kill(docker: &Docker, id: &str) {
    let Ok((None, Some(pid))) = docker.exec_state(id).await else {
        return;
    };
    let Ok(pid) = i32::try_from(pid) else { return };
    match nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    ) {
        Ok(()) => debug!(pid, "killed an exec whose client left"),
        Err(e) => warn!(pid, error = %e, "could not kill an exec whose client left"),
    }
}
