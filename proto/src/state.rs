//! The states every program names, defined once: a workload's status, its
//! desired state, its kind, and a node's status. controld stores the first
//! three as strings (SeaORM active enums, feature `db`), all of them cross the
//! wire as the contract's enums, and the CLI prints [`Status::as_str`] and
//! friends — so "running" is spelled in exactly one place.

use std::fmt;
use std::str::FromStr;

use crate::v1;

/// Declares an enum with its one spelling per variant, `as_str`, `Display`,
/// `FromStr` and (feature `db`) a SeaORM string active enum.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "db", derive(sea_orm::EnumIter, sea_orm::DeriveActiveEnum))]
        #[cfg_attr(feature = "db", sea_orm(rs_type = "String", db_type = "Text"))]
        pub enum $name {
            $( $(#[$vmeta])* #[cfg_attr(feature = "db", sea_orm(string_value = $text))] $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The one spelling (stored, printed, in JSON).
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownState;
            fn from_str(s: &str) -> Result<Self, UnknownState> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownState(s.chars().take(32).collect())),
                }
            }
        }
    };
}

/// A spelling that names no state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown state {0:?}")]
pub struct UnknownState(pub String);

named_enum! {
    /// Where a workload is in its life.
    pub enum Status {
        /// Accepted, not yet placed.
        Pending = "pending",
        /// Placed on a node.
        Scheduled = "scheduled",
        /// The node is pulling the image.
        Pulling = "pulling",
        /// Started, not yet ready.
        Starting = "starting",
        /// Ready.
        Running = "running",
        /// Being stopped.
        Stopping = "stopping",
        /// Stopped (container and volume kept).
        Stopped = "stopped",
        /// Failed to start or crashed.
        Failed = "failed",
        /// Was ready, exited, and is being restarted with backoff.
        CrashLooping = "crash-looping",
        /// Its node is unreachable.
        Lost = "lost",
        /// Being deleted.
        Deleting = "deleting",
        /// Gone.
        Deleted = "deleted",
    }
}

named_enum! {
    /// What the owner asked a workload to be.
    pub enum Desired {
        /// Keep it running.
        Running = "running",
        /// Keep it stopped (container and volume kept).
        Stopped = "stopped",
        /// Remove it.
        Deleted = "deleted",
    }
}

named_enum! {
    /// The kinds of workload Lattice knows.
    pub enum Kind {
        /// PostgreSQL.
        Postgres = "postgres",
        /// S3-compatible object storage.
        S3 = "s3",
        /// Any image.
        Custom = "custom",
    }
}

named_enum! {
    /// A node as the admin sees it.
    pub enum NodeState {
        /// Connected and taking work.
        Ready = "ready",
        /// No live connection.
        Unreachable = "unreachable",
        /// Connected, taking no new work.
        Draining = "draining",
        /// Connected, but its Docker Engine does not answer.
        DockerUnavailable = "docker-unavailable",
    }
}

named_enum! {
    /// What a Watch event says about its workload (`WorkloadEvent.kind`).
    pub enum ChangeKind {
        /// How it was when the watch started (or resynchronised).
        Snapshot = "snapshot",
        /// It changed.
        Update = "update",
        /// It was removed for good.
        Deleted = "deleted",
    }
}

impl Status {
    /// The wire form.
    pub const fn to_wire(self) -> v1::WorkloadStatus {
        use v1::WorkloadStatus as W;
        match self {
            Status::Pending => W::Pending,
            Status::Scheduled => W::Scheduled,
            Status::Pulling => W::Pulling,
            Status::Starting => W::Starting,
            Status::Running => W::Running,
            Status::Stopping => W::Stopping,
            Status::Stopped => W::Stopped,
            Status::Failed => W::Failed,
            Status::CrashLooping => W::CrashLooping,
            Status::Lost => W::Lost,
            Status::Deleting => W::Deleting,
            Status::Deleted => W::Deleted,
        }
    }

    /// From the wire; an unknown or unset value reads as pending.
    pub fn from_wire(raw: i32) -> Self {
        use v1::WorkloadStatus as W;
        match W::try_from(raw).unwrap_or(W::Unspecified) {
            W::Unspecified | W::Pending => Status::Pending,
            W::Scheduled => Status::Scheduled,
            W::Pulling => Status::Pulling,
            W::Starting => Status::Starting,
            W::Running => Status::Running,
            W::Stopping => Status::Stopping,
            W::Stopped => Status::Stopped,
            W::Failed => Status::Failed,
            W::CrashLooping => Status::CrashLooping,
            W::Lost => Status::Lost,
            W::Deleting => Status::Deleting,
            W::Deleted => Status::Deleted,
        }
    }

    /// Spelling of a wire value (what the CLI prints).
    pub fn name_of(raw: i32) -> &'static str {
        Self::from_wire(raw).as_str()
    }
}

impl Desired {
    /// The wire form.
    pub const fn to_wire(self) -> v1::DesiredRun {
        match self {
            Desired::Running => v1::DesiredRun::Running,
            Desired::Stopped => v1::DesiredRun::Stopped,
            Desired::Deleted => v1::DesiredRun::Deleted,
        }
    }

    /// From the wire; unset reads as running (what a deploy asks for).
    pub fn from_wire(raw: i32) -> Self {
        match v1::DesiredRun::try_from(raw).unwrap_or(v1::DesiredRun::Unspecified) {
            v1::DesiredRun::Unspecified | v1::DesiredRun::Running => Desired::Running,
            v1::DesiredRun::Stopped => Desired::Stopped,
            v1::DesiredRun::Deleted => Desired::Deleted,
        }
    }
}

impl Kind {
    /// Parses a kind as a user types it (`postgresql` and `minio` are aliases).
    pub fn parse_alias(raw: &str) -> Option<Self> {
        match raw {
            "postgresql" => Some(Kind::Postgres),
            "minio" => Some(Kind::S3),
            other => other.parse().ok(),
        }
    }
}

impl NodeState {
    /// The wire form.
    pub const fn to_wire(self) -> v1::NodeStatus {
        match self {
            NodeState::Ready => v1::NodeStatus::Ready,
            NodeState::Unreachable => v1::NodeStatus::Unreachable,
            NodeState::Draining => v1::NodeStatus::Draining,
            NodeState::DockerUnavailable => v1::NodeStatus::DockerUnavailable,
        }
    }

    /// From the wire; unknown reads as unreachable.
    pub fn from_wire(raw: i32) -> Self {
        match v1::NodeStatus::try_from(raw).unwrap_or(v1::NodeStatus::Unspecified) {
            v1::NodeStatus::Ready => NodeState::Ready,
            v1::NodeStatus::Draining => NodeState::Draining,
            v1::NodeStatus::DockerUnavailable => NodeState::DockerUnavailable,
            v1::NodeStatus::Unspecified | v1::NodeStatus::Unreachable => NodeState::Unreachable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_round_trips() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(*s));
            assert_eq!(Status::from_wire(s.to_wire() as i32), *s);
        }
        for d in Desired::ALL {
            assert_eq!(d.as_str().parse::<Desired>(), Ok(*d));
            assert_eq!(Desired::from_wire(d.to_wire() as i32), *d);
        }
        for k in Kind::ALL {
            assert_eq!(Kind::parse_alias(k.as_str()), Some(*k));
        }
        for n in NodeState::ALL {
            assert_eq!(NodeState::from_wire(n.to_wire() as i32), *n);
        }
    }

    #[test]
    fn aliases_and_unknowns() {
        assert_eq!(Kind::parse_alias("minio"), Some(Kind::S3));
        assert_eq!(Kind::parse_alias("postgresql"), Some(Kind::Postgres));
        assert_eq!(Kind::parse_alias("mysql"), None);
        assert!("runing".parse::<Status>().is_err());
        assert_eq!(Status::from_wire(999), Status::Pending);
        assert_eq!(Status::name_of(12), "crash-looping");
    }
}
