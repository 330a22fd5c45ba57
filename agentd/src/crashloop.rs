//! After a workload has been ready once, Docker restarts its container
//! whenever it exits (with Docker's own growing backoff, and even while the
//! agent is away). This step watches those restarts so none is hidden: a
//! restart count, the last exit code, and `crash-looping` until a restarted
//! container has stayed up long enough to count as running again (as
//! Kubernetes' CrashLoopBackOff).

use std::time::{Duration, SystemTime};

use bollard::models::{ContainerInspectResponse, RestartPolicyNameEnum};
use lattice_proto::v1;
use lattice_proto::v1::WorkloadStatus as S;

use crate::docker::published_ports;
use crate::worker::{Attempt, FAILURE_LINES, Pass};

/// How long a restarted container must stay up to count as running again;
/// Docker resets its restart backoff after the same 10 s.
pub const STABLE_AFTER_RESTART: Duration = Duration::from_secs(10);

/// What a ready-once container's state says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Exited; Docker will start it again after its backoff.
    Restarting,
    /// Restarted, up for less than [`STABLE_AFTER_RESTART`].
    Unsettled {
        /// How much longer it must stay up.
        remaining: Duration,
    },
    /// Up, and either never restarted or up long enough since.
    Up,
    /// Not running and Docker will not restart it (stopped by hand, or the
    /// engine gave up): converge it like any stopped container.
    Down,
}

/// Whether the workload became ready once in this container: readiness
/// turns Docker's restart policy on (`keep_running`), so this survives an
/// agent restart.
pub fn was_ready(c: &ContainerInspectResponse) -> bool {
    c.host_config
        .as_ref()
        .and_then(|h| h.restart_policy.as_ref())
        .and_then(|p| p.name)
        == Some(RestartPolicyNameEnum::UNLESS_STOPPED)
}

/// Restarts of this container so far.
pub fn restart_count(c: &ContainerInspectResponse) -> u32 {
    u32::try_from(c.restart_count.unwrap_or(0)).unwrap_or(0)
}

/// Judges a ready-once container at `now`.
pub fn assess(c: &ContainerInspectResponse, now: SystemTime) -> Verdict {
    let state = c.state.clone().unwrap_or_default();
    // Docker counts a restarting container as running: ask about restarting first.
    if state.restarting.unwrap_or(false) {
        return Verdict::Restarting;
    }
    if !state.running.unwrap_or(false) {
        return Verdict::Down;
    }
    if restart_count(c) == 0 {
        return Verdict::Up;
    }
    let started = state
        .started_at
        .as_deref()
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok());
    let up_for = started
        .and_then(|s| now.duration_since(s).ok())
        .unwrap_or_default();
    if up_for >= STABLE_AFTER_RESTART {
        Verdict::Up
    } else {
        Verdict::Unsettled {
            remaining: STABLE_AFTER_RESTART - up_for,
        }
    }
}

/// The report's sentence for a crash-looping workload.
pub fn crash_message(restarts: u32, last_exit: Option<i32>, restarting: bool) -> String {
    let code = last_exit.map_or_else(|| "an unknown code".to_string(), |c| c.to_string());
    let times = if restarts == 1 { "once" } else { "times" };
    let count = if restarts == 1 {
        String::new()
    } else {
        format!("{restarts} ")
    };
    if restarting {
        format!(
            "exited with code {code}; restarted {count}{times} so far, waiting to start again (backoff)"
        )
    } else {
        format!(
            "exited with code {code}; restarted {count}{times} so far, not yet up for {}s",
            STABLE_AFTER_RESTART.as_secs()
        )
    }
}

/// Watches a container of the current spec that was ready once. Returns
/// None when it should be converged like any other (down, or not ready).
pub async fn watch(a: &mut Attempt<'_>, c: &ContainerInspectResponse) -> Option<Pass> {
    let id = &a.spec.workload_id;
    let restarts = restart_count(c);
    let last_exit = a.ctx.last_exit(id);
    let previous = a
        .ctx
        .reports
        .get(id)
        .filter(|r| r.spec_hash == a.spec.spec_hash);
    let report = |status: S, message: String, last_log_lines: Vec<String>| v1::WorkloadReport {
        status: status as i32,
        message,
        last_log_lines,
        published_ports: published_ports(c),
        container_id: c.id.clone().unwrap_or_default(),
        restart_count: restarts,
        last_exit_code: last_exit,
        ..Default::default()
    };
    let verdict = assess(c, SystemTime::now());
    match verdict {
        Verdict::Restarting | Verdict::Unsettled { .. } => {
            // The last lines before the exit, fetched once per new restart.
            let logs = match &previous {
                Some(p) if p.restart_count == restarts && !p.last_log_lines.is_empty() => {
                    p.last_log_lines.clone()
                }
                _ => a.rt.tail(&a.name, FAILURE_LINES).await,
            };
            let restarting = verdict == Verdict::Restarting;
            let message = crash_message(restarts, last_exit, restarting);
            a.rep.report(report(S::CrashLooping, message, logs));
            Some(match verdict {
                Verdict::Unsettled { remaining } => Pass::RecheckIn(remaining),
                _ => Pass::RecheckIn(Duration::from_secs(1)),
            })
        }
        Verdict::Up => {
            if !a.rt.ready(a.spec, c).await {
                return None;
            }
            let times = match restarts {
                1 => "once".to_string(),
                n => format!("{n} times"),
            };
            let message = match (restarts, last_exit) {
                (0, _) => "ready".to_string(),
                (_, Some(code)) => format!("ready (restarted {times}; last exit code {code})"),
                (_, None) => format!("ready (restarted {times})"),
            };
            a.rep.report(report(S::Running, message, Vec::new()));
            Some(Pass::Settled)
        }
        Verdict::Down => None,
    }
}

#[cfg(test)]
mod tests {
    use bollard::models::ContainerState;

    use super::*;

    fn container(
        running: bool,
        restarting: bool,
        restarts: i64,
        started: &str,
    ) -> ContainerInspectResponse {
        ContainerInspectResponse {
            restart_count: Some(restarts),
            state: Some(ContainerState {
                running: Some(running),
                restarting: Some(restarting),
                started_at: Some(started.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn verdicts() {
        let now = humantime::parse_rfc3339("2026-11-26T10:00:20Z").unwrap();
        // Docker reports a restarting container as running too.
        assert_eq!(
            assess(&container(true, true, 3, "2026-11-26T10:00:00Z"), now),
            Verdict::Restarting
        );
        assert_eq!(
            assess(&container(false, false, 3, "2026-11-26T10:00:00Z"), now),
            Verdict::Down
        );
        assert_eq!(
            assess(&container(true, false, 0, "2026-11-26T10:00:19Z"), now),
            Verdict::Up
        );
        assert_eq!(
            assess(
                &container(true, false, 2, "2026-11-26T10:00:16.500000000Z"),
                now
            ),
            Verdict::Unsettled {
                remaining: Duration::from_millis(6500)
            }
        );
        assert_eq!(
            assess(&container(true, false, 2, "2026-11-26T10:00:10Z"), now),
            Verdict::Up
        );
    }

    #[test]
    fn messages_name_the_code_and_count() {
        assert_eq!(
            crash_message(3, Some(2), true),
            "exited with code 2; restarted 3 times so far, waiting to start again (backoff)"
        );
        assert!(crash_message(1, None, false).contains("an unknown code; restarted once"));
    }

    #[test]
    fn readiness_is_remembered_by_the_restart_policy() {
        use bollard::models::{HostConfig, RestartPolicy};
        let mut c = container(true, false, 0, "");
        assert!(!was_ready(&c));
        c.host_config = Some(HostConfig {
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            ..Default::default()
        });
        assert!(was_ready(&c));
    }
}
