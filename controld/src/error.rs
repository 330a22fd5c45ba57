//! controld's error type and its single mapping to `tonic::Status`: the full
//! error is logged, the caller gets a safe sentence with the right code (no
//! SQL text, no secrets).

use std::time::Duration;

use lattice_proto::ValidationError;
use sea_orm::DbErr;
use tonic::Status;

/// Everything an RPC can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field broke a shared validation rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Missing, malformed, expired or revoked credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// The thing does not exist (or belongs to someone else).
    #[error("{0}")]
    NotFound(String),
    /// A unique name or address is taken.
    #[error("{0}")]
    AlreadyExists(String),
    /// The system is not in a state that allows this.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A dependency (a node, the database) is unavailable right now.
    #[error("{0}")]
    Unavailable(String),
    /// No node can take this now (none joined, none with room, Docker failing).
    #[error("{0}")]
    NoNode(String),
    /// The node that holds the workload is unreachable or did not answer.
    #[error("{0}")]
    NodeDown(String),
    /// Too many attempts; try again after the given time.
    #[error("{message}")]
    TooManyAttempts {
        /// Sentence for the caller, including when to retry.
        message: String,
        /// How long until a retry can succeed.
        retry_after: Duration,
    },
    /// A per-account quota would be exceeded (the sentence names it, the use
    /// and the request).
    #[error("{0}")]
    Quota(String),
    /// The state store failed.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    /// Anything else that is our fault.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Result alias for controld.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for an internal error from anything displayable.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Error::Internal(e.to_string())
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(v) => Status::invalid_argument(v.to_string()),
            Error::Unauthenticated(m) => Status::unauthenticated(m),
            Error::Forbidden(m) => Status::permission_denied(m),
            Error::NotFound(m) => Status::not_found(m),
            Error::AlreadyExists(m) => Status::already_exists(m),
            Error::FailedPrecondition(m) => Status::failed_precondition(m),
            Error::Unavailable(m) => Status::unavailable(m),
            Error::NoNode(m) => node_fault(Status::failed_precondition(m)),
            Error::NodeDown(m) => node_fault(Status::unavailable(m)),
            Error::TooManyAttempts {
                message,
                retry_after,
            } => {
                let mut s = Status::resource_exhausted(message);
                if let Ok(v) = retry_after.as_secs().max(1).to_string().parse() {
                    s.metadata_mut()
                        .insert(lattice_proto::RETRY_AFTER_METADATA, v);
                }
                s
            }
            Error::Quota(m) => Status::resource_exhausted(m),
            Error::Db(db) => {
                if crate::store::is_transient(&db) {
                    tracing::warn!(error = %db, "database unavailable");
                    Status::unavailable(
                        "the control plane's database is unavailable; try again shortly",
                    )
                } else {
                    tracing::error!(error = %db, "database error");
                    Status::internal("internal error (logged on the server)")
                }
            }
            Error::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                Status::internal("internal error (logged on the server)")
            }
        }
    }
}

/// Marks a status as a node's fault, not the control plane's.
fn node_fault(mut s: Status) -> Status {
    s.metadata_mut().insert(
        lattice_proto::FAULT_METADATA,
        tonic::metadata::MetadataValue::from_static("node"),
    );
    s
}
