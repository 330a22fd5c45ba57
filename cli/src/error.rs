//! Errors the CLI reports, their exit codes (documented in docs/cli.md),
//! and the translation of gRPC statuses and connection failures into
//! sentences that say what to do.

use tonic::{Code, Status};

use crate::server::ServerAddr;

/// Exit codes.
#[allow(dead_code)] // the whole documented set; later commands produce the rest
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Any other error.
    pub const GENERAL: u8 = 1;
    /// Bad flags or invalid input.
    pub const USAGE: u8 = 2;
    /// The named thing does not exist.
    pub const NOT_FOUND: u8 = 3;
    /// Not signed in, session ended, not allowed, or certificate not trusted.
    pub const AUTH: u8 = 4;
    /// Gave up waiting.
    pub const TIMEOUT: u8 = 5;
    /// A workload failed while we waited for it.
    pub const WORKLOAD_FAILED: u8 = 6;
    /// The server could not be reached or is unavailable.
    pub const UNAVAILABLE: u8 = 7;
    /// A quota of the account would be exceeded.
    pub const QUOTA: u8 = 8;
    /// A node or its agent is at fault: unreachable, no room, Docker failing.
    pub const NODE: u8 = 9;
}

/// A classified error.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Invalid flags or input.
    #[error("{0}")]
    Usage(String),
    /// Not found.
    #[error("{0}")]
    NotFound(String),
    /// Authentication or permission.
    #[error("{0}")]
    Auth(String),
    /// The pinned certificate changed.
    #[error("{0}")]
    CertificateChanged(String),
    /// Server unreachable or unavailable.
    #[error("{0}")]
    Unavailable(String),
    /// Timed out.
    #[error("{0}")]
    Timeout(String),
    /// A workload failed while we waited for it.
    #[error("{0}")]
    WorkloadFailed(String),
    /// A quota of the account would be exceeded.
    #[error("{0}")]
    Quota(String),
    /// A node or its agent is at fault (not the control plane).
    #[error("{0}")]
    Node(String),
    /// A client `lattice connect` ran exited with this code (it said why).
    #[error("the client exited with code {0}")]
    Exited(u8),
    /// Anything else the server said.
    #[error("{0}")]
    Other(String),
}

/// A value the shared rules refuse is a usage error (exit code 2), with the
/// rule's sentence.
impl From<lattice_proto::ValidationError> for CliError {
    fn from(e: lattice_proto::ValidationError) -> Self {
        CliError::Usage(e.to_string())
    }
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => exit::USAGE,
            CliError::NotFound(_) => exit::NOT_FOUND,
            CliError::Auth(_) | CliError::CertificateChanged(_) => exit::AUTH,
            CliError::Unavailable(_) => exit::UNAVAILABLE,
            CliError::Timeout(_) => exit::TIMEOUT,
            CliError::WorkloadFailed(_) => exit::WORKLOAD_FAILED,
            CliError::Quota(_) => exit::QUOTA,
            CliError::Node(_) => exit::NODE,
            CliError::Exited(code) => *code,
            CliError::Other(_) => exit::GENERAL,
        }
    }

    /// A stable machine-readable name, used in JSON errors.
    pub fn kind(&self) -> &'static str {
        match self {
            CliError::Usage(_) => "usage",
            CliError::NotFound(_) => "not_found",
            CliError::Auth(_) => "unauthenticated",
            CliError::CertificateChanged(_) => "certificate_changed",
            CliError::Unavailable(_) => "unavailable",
            CliError::Timeout(_) => "timeout",
            CliError::WorkloadFailed(_) => "workload_failed",
            CliError::Quota(_) => "quota",
            CliError::Node(_) => "node",
            CliError::Exited(_) => "exited",
            CliError::Other(_) => "error",
        }
    }
}

/// Translates a gRPC status from `addr`.
pub fn from_status(s: &Status, addr: &ServerAddr) -> CliError {
    let msg = s.message().to_string();
    let node_fault = s
        .metadata()
        .get(lattice_proto::FAULT_METADATA)
        .is_some_and(|v| v.as_bytes() == b"node");
    if node_fault {
        return CliError::Node(msg);
    }
    match s.code() {
        Code::InvalidArgument | Code::OutOfRange => CliError::Usage(msg),
        Code::FailedPrecondition => CliError::Other(msg),
        // Rate limits and lockouts say when to retry; a quota does not pass
        // by waiting.
        Code::ResourceExhausted
            if s.metadata()
                .get(lattice_proto::RETRY_AFTER_METADATA)
                .is_none() =>
        {
            CliError::Quota(msg)
        }
        Code::NotFound => CliError::NotFound(msg),
        Code::Unauthenticated | Code::PermissionDenied => CliError::Auth(msg),
        Code::DeadlineExceeded => {
            CliError::Timeout(format!("{} did not answer in time: {msg}", addr.url))
        }
        Code::Unavailable => CliError::Unavailable(format!(
            "the Lattice server at {} is unavailable: {msg}",
            addr.url
        )),
        Code::Unimplemented => CliError::Other(format!(
            "the server at {} does not support this command (is it an older lattice-controld?): {msg}",
            addr.url
        )),
        _ => CliError::Other(msg),
    }
}

/// The error for a server that cannot be reached at all.
pub fn unreachable(addr: &ServerAddr, cause: &dyn std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(CliError::Unavailable(format!(
        "cannot reach the Lattice server at {} ({cause}); is lattice-controld running there? \
         Choose the server with --server or LATTICE_SERVER",
        addr.url
    )))
}

/// The exit code and kind for any error (unclassified ones are general).
pub fn classify(e: &anyhow::Error) -> (u8, &'static str) {
    if let Some(c) = e.chain().find_map(|c| c.downcast_ref::<CliError>()) {
        return (c.exit_code(), c.kind());
    }
    (exit::GENERAL, "error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_documented_exit_codes() {
        let a = ServerAddr::parse("h:1").unwrap();
        let code = |c| from_status(&Status::new(c, "m"), &a).exit_code();
        assert_eq!(code(Code::InvalidArgument), exit::USAGE);
        assert_eq!(code(Code::NotFound), exit::NOT_FOUND);
        assert_eq!(code(Code::Unauthenticated), exit::AUTH);
        assert_eq!(code(Code::PermissionDenied), exit::AUTH);
        assert_eq!(code(Code::DeadlineExceeded), exit::TIMEOUT);
        assert_eq!(code(Code::Unavailable), exit::UNAVAILABLE);
        assert_eq!(code(Code::AlreadyExists), exit::GENERAL);
        assert_eq!(code(Code::ResourceExhausted), exit::QUOTA);
        let mut limited = Status::resource_exhausted("slow down");
        limited
            .metadata_mut()
            .insert(lattice_proto::RETRY_AFTER_METADATA, "3".parse().unwrap());
        assert_eq!(from_status(&limited, &a).exit_code(), exit::GENERAL);
        let mut node = Status::unavailable("node vm is not connected");
        node.metadata_mut()
            .insert(lattice_proto::FAULT_METADATA, "node".parse().unwrap());
        let e = from_status(&node, &a);
        assert_eq!(e.exit_code(), exit::NODE);
        assert_eq!(
            e.to_string(),
            "node vm is not connected",
            "not blamed on the server"
        );
    }

    #[test]
    fn classification_finds_wrapped_errors() {
        let e = anyhow::Error::new(CliError::NotFound("x".into())).context("while doing y");
        assert_eq!(classify(&e), (exit::NOT_FOUND, "not_found"));
        assert_eq!(
            classify(&anyhow::anyhow!("plain")),
            (exit::GENERAL, "error")
        );
    }
}
