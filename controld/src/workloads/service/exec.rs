//! `Exec`: a command in the caller's workload, through its node's agent on
//! a stream of its own. The first input names the workload and the command;
//! then stdin, its end and terminal resizes go to the agent while output
//! comes back, until the command's exit code. A command with nothing
//! attached has a time limit; any command ends when its caller leaves, the
//! limit passes or controld shuts down, and the agent then kills it.

use std::time::Duration;

use lattice_proto::v1;
use lattice_proto::v1::exec_input::Input;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::{BoxStream, WorkloadApi, hold};
use crate::audit::{Actor, source};
use crate::auth::Scope;
use crate::error::Error;
use crate::fleet::streams::Opened;

/// The limit of a command with neither stdin nor a terminal attached, when
/// the caller names none.
const DEFAULT_LIMIT: Duration = Duration::from_secs(5 * 60);
/// The longest limit a caller may ask for.
const MAX_LIMIT: Duration = Duration::from_secs(24 * 3600);

impl WorkloadApi {
    /// Serves one `Exec` call.
    pub(super) async fn exec_session(
        &self,
        req: Request<Streaming<v1::ExecInput>>,
    ) -> std::result::Result<Response<BoxStream<v1::ExecOutput>>, Status> {
        let src = source(&req);
        let c = self.caller(&req, Scope::Deploy).await?;
        let mut input = req.into_inner();
        let first = tokio::time::timeout(Duration::from_secs(10), input.message())
            .await
            .map_err(|_| Error::FailedPrecondition("expected the command within 10s".into()))?;
        let Ok(Some(v1::ExecInput {
            input: Some(Input::Start(start)),
        })) = first
        else {
            return Err(Error::FailedPrecondition(
                "the first message of an exec must name the workload and the command".into(),
            )
            .into());
        };
        let r = async {
            if start.command.is_empty() {
                return Err(Error::FailedPrecondition(
                    "name the command to run after --, e.g. `lattice exec web -- ls /`".into(),
                ));
            }
            lattice_proto::validate::command(&start.command)?;
            self.live(&c, &start.name).await
        }
        .await;
        let action = if start.tty { "exec.tty" } else { "exec" };
        // The command itself is not recorded: its arguments may hold secrets.
        self.audit
            .record(&Actor::of(&c, src), action, &start.name, &r)
            .await;
        let (w, node_id) = r?;
        let slot = self.stream_slot(&c)?;
        let stream_id = uuid::Uuid::new_v4().to_string();
        let term = start.term.clone();
        let open = v1::control_message::Cmd::OpenExec(v1::OpenExecStream {
            stream_id: stream_id.clone(),
            workload_id: w.id,
            command: start.command.clone(),
            tty: start.tty,
            stdin: start.stdin,
            rows: start.size.map_or(0, |s| s.rows),
            cols: start.size.map_or(0, |s| s.cols),
            env: terminal_env(start.tty, &term),
        });
        let opened = self
            .fleet
            .open_stream(&node_id, &stream_id, open, Duration::from_secs(15))
            .await?;
        let limit = match (start.timeout_seconds, start.stdin || start.tty) {
            (0, true) => None,
            (0, false) => Some(DEFAULT_LIMIT),
            (s, _) => Some(Duration::from_secs(u64::from(s)).min(MAX_LIMIT)),
        };
        let out = pump(
            input,
            opened,
            (limit, start.stdin),
            start.name,
            self.fleet.closing(),
        );
        Ok(Response::new(
            Box::pin(hold(out, slot)) as BoxStream<v1::ExecOutput>
        ))
    }
}

/// TERM for a terminal session: the caller's, if it is a plausible name.
fn terminal_env(tty: bool, term: &str) -> Vec<v1::EnvVar> {
    let plausible = !term.is_empty()
        && term.len() <= 64
        && term
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c));
    let value = if plausible { term } else { "xterm" };
    if tty {
        vec![v1::EnvVar {
            key: "TERM".into(),
            value: value.into(),
        }]
    } else {
        Vec::new()
    }
}

/// Carries one session both ways; bounded, so a slow reader slows the
/// command's output, never our memory.
fn pump(
    mut input: Streaming<v1::ExecInput>,
    opened: Opened,
    (limit, stdin): (Option<Duration>, bool),
    name: String,
    closing: impl std::future::Future<Output = ()> + Send + 'static,
) -> ReceiverStream<std::result::Result<v1::ExecOutput, Status>> {
    use v1::exec_output::Output;
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let Opened {
            mut inbound,
            outbound,
        } = opened;
        let deadline = async {
            match limit {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(deadline, closing);
        let fail = |e: Error| Err(Status::from(e));
        let mut input_open = true;
        loop {
            tokio::select! {
                _ = tx.closed() => return,
                _ = &mut closing => {
                    let _ = tx.send(fail(Error::Unavailable("the control plane is restarting; the command was stopped".into()))).await;
                    return;
                }
                _ = &mut deadline => {
                    let secs = limit.map_or(0, |d| d.as_secs());
                    let _ = tx.send(fail(Error::FailedPrecondition(format!(
                        "the command did not finish within {}; it was stopped (allow longer with --timeout)",
                        humantime::format_duration(Duration::from_secs(secs))
                    )))).await;
                    return;
                }
                m = input.message(), if input_open => {
                    let frame = match m {
                        // Without -i the command has no stdin to write to.
                        Ok(Some(v1::ExecInput { input: Some(Input::Stdin(_) | Input::StdinEof(_)) })) if !stdin => continue,
                        Ok(Some(v1::ExecInput { input: Some(Input::Stdin(data)) })) => v1::StreamFrame { data, ..Default::default() },
                        Ok(Some(v1::ExecInput { input: Some(Input::StdinEof(_)) })) => v1::StreamFrame { eof: true, ..Default::default() },
                        Ok(Some(v1::ExecInput { input: Some(Input::Resize(s)) })) => v1::StreamFrame { rows: s.rows, cols: s.cols, ..Default::default() },
                        Ok(Some(v1::ExecInput { input: Some(Input::Start(_)) })) => {
                            let _ = tx.send(fail(Error::FailedPrecondition("an exec takes one command".into()))).await;
                            return;
                        }
                        Ok(Some(_)) => continue,
                        // The caller sends no more, but still reads.
                        Ok(None) => { input_open = false; continue; }
                        Err(_) => return,
                    };
                    if outbound.send(Ok(frame)).await.is_err() {
                        return;
                    }
                }
                f = inbound.next() => {
                    let out = match f {
                        Some(Ok(f)) if !f.error.is_empty() => {
                            let _ = tx.send(fail(Error::FailedPrecondition(format!("could not run the command in {name}: {}", f.error)))).await;
                            return;
                        }
                        Some(Ok(f)) => f,
                        None | Some(Err(_)) => {
                            let _ = tx.send(fail(Error::NodeDown(format!("lost the connection to the node running {name}; the command may not have finished")))).await;
                            return;
                        }
                    };
                    if !out.data.is_empty() {
                        let o = if out.stderr { Output::Stderr(out.data) } else { Output::Stdout(out.data) };
                        if tx.send(Ok(v1::ExecOutput { output: Some(o) })).await.is_err() {
                            return;
                        }
                    }
                    if let Some(code) = out.exit_code {
                        let _ = tx.send(Ok(v1::ExecOutput { output: Some(Output::ExitCode(code)) })).await;
                        return;
                    }
                }
            }
        }
    });
    ReceiverStream::new(rx)
}
