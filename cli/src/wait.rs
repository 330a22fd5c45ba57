//! Waiting for a workload to settle, driven by the server's Watch stream
//! (no polling): a spinner on a terminal, one line per step otherwise, and
//! fail-fast with the last log lines when the workload fails.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use lattice_proto::state::{ChangeKind, Status};
use lattice_proto::v1;

use crate::api::Api;
use crate::error::CliError;
use crate::view::status_name;

/// What a wait waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Ready.
    Running,
    /// Stopped.
    Stopped,
    /// Deleted.
    Gone,
}

/// Shows progress: a spinner on a terminal, one line per step otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last: String,
}

impl Progress {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        Self {
            bar,
            last: String::new(),
        }
    }

    fn show(&mut self, w: &v1::Workload) {
        let mut step = status_name(w.status).to_string();
        match Status::from_wire(w.status) {
            Status::Pulling if w.progress_percent > 0 => {
                step = format!("pulling {}%", w.progress_percent);
            }
            Status::Pending if !w.status_message.is_empty() => step.clone_from(&w.status_message),
            _ => {}
        }
        let line = format!("{}: {step}", w.name);
        if line == self.last {
            return;
        }
        match &self.bar {
            Some(b) => b.set_message(line.clone()),
            None => eprintln!("{line}"),
        }
        self.last = line;
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// Waits until `name` reaches `target`, failing fast when it fails.
pub async fn wait(
    api: &mut Api,
    name: &str,
    target: Target,
    timeout: Duration,
) -> anyhow::Result<Option<v1::Workload>> {
    let deadline = Instant::now() + timeout;
    let mut progress = Progress::new();
    let req = v1::WatchRequest {
        name: name.to_string(),
    };
    let mut stream = api.watch(req).await?;
    let mut last: Option<v1::Workload> = None;
    let result = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let next = match tokio::time::timeout(left, stream.message()).await {
            Err(_) => {
                let st = last.as_ref().map_or("unknown".to_string(), |w| {
                    match Status::from_wire(w.status) {
                        Status::Pending if !w.status_message.is_empty() => {
                            format!("pending ({})", w.status_message)
                        }
                        _ => status_name(w.status).to_string(),
                    }
                });
                break Err(CliError::Timeout(format!(
                    "{name} is still {st} after {}; see `lattice status {name}`",
                    humantime::format_duration(timeout)
                ))
                .into());
            }
            Ok(Err(s)) => break Err(api.status(&s)),
            Ok(Ok(None)) => {
                break Err(
                    CliError::Unavailable("the server ended the watch; try again".into()).into(),
                );
            }
            Ok(Ok(Some(ev))) => ev,
        };
        let Some(w) = next.workload else { continue };
        if next.kind == ChangeKind::Deleted.as_str() {
            break if target == Target::Gone {
                Ok(None)
            } else {
                Err(CliError::NotFound(format!("{name} was deleted")).into())
            };
        }
        let reached = matches!(
            (target, Status::from_wire(w.status)),
            (Target::Running, Status::Running) | (Target::Stopped, Status::Stopped)
        );
        // The state waited for is said once, by the command's own result.
        if !reached {
            progress.show(&w);
        }
        match (target, Status::from_wire(w.status)) {
            (Target::Running, Status::Running) | (Target::Stopped, Status::Stopped) => {
                break Ok(Some(w));
            }
            (Target::Running, Status::Failed) => {
                let detail = api
                    .get_workload(v1::GetWorkloadRequest {
                        name: name.to_string(),
                    })
                    .await
                    .ok();
                let logs = detail.map(|d| d.last_log_lines).unwrap_or_default();
                let mut msg = format!("{name} failed: {}", w.status_message);
                if !logs.is_empty() {
                    msg.push_str("\nlast log lines:\n  ");
                    msg.push_str(&logs.join("\n  "));
                }
                break Err(CliError::WorkloadFailed(msg).into());
            }
            _ => {}
        }
        last = Some(w);
    };
    progress.finish();
    result
}
