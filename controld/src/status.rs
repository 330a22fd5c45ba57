//! Workload status names as stored, and their wire form.

use lattice_proto::v1::WorkloadStatus as S;

/// Accepted, not yet placed.
pub const PENDING: &str = "pending";
/// Placed on a node.
pub const SCHEDULED: &str = "scheduled";
/// The node is pulling the image.
pub const PULLING: &str = "pulling";
/// Started, not yet ready.
pub const STARTING: &str = "starting";
/// Ready.
pub const RUNNING: &str = "running";
/// Being stopped.
pub const STOPPING: &str = "stopping";
/// Stopped (container and volume kept).
pub const STOPPED: &str = "stopped";
/// Was ready, exited, and is being restarted with backoff.
pub const CRASH_LOOPING: &str = "crash-looping";
/// Failed to start or crashed.
pub const FAILED: &str = "failed";
/// Its node is unreachable.
pub const LOST: &str = "lost";
/// Being deleted.
pub const DELETING: &str = "deleting";
/// Gone.
pub const DELETED: &str = "deleted";

/// Wire → stored.
pub fn from_proto(s: S) -> &'static str {
    match s {
        S::Unspecified | S::Pending => PENDING,
        S::Scheduled => SCHEDULED,
        S::Pulling => PULLING,
        S::Starting => STARTING,
        S::Running => RUNNING,
        S::Stopping => STOPPING,
        S::Stopped => STOPPED,
        S::Failed => FAILED,
        S::CrashLooping => CRASH_LOOPING,
        S::Lost => LOST,
        S::Deleting => DELETING,
        S::Deleted => DELETED,
    }
}

/// Stored → wire.
pub fn to_proto(s: &str) -> S {
    match s {
        PENDING => S::Pending,
        SCHEDULED => S::Scheduled,
        PULLING => S::Pulling,
        STARTING => S::Starting,
        RUNNING => S::Running,
        STOPPING => S::Stopping,
        STOPPED => S::Stopped,
        FAILED => S::Failed,
        CRASH_LOOPING => S::CrashLooping,
        LOST => S::Lost,
        DELETING => S::Deleting,
        DELETED => S::Deleted,
        _ => S::Unspecified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        for s in [
            PENDING,
            SCHEDULED,
            PULLING,
            STARTING,
            RUNNING,
            STOPPING,
            STOPPED,
            FAILED,
            LOST,
            DELETING,
            DELETED,
            CRASH_LOOPING,
        ] {
            assert_eq!(from_proto(to_proto(s)), s);
        }
    }
}
