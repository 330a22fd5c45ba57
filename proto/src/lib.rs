//! The Lattice v1 contract: generated tonic/prost code for every service and
//! the validation rules that the CLI, controld and agentd all apply, so a bad
//! value is refused with the same sentence wherever it is first seen.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "daemon")]
pub mod daemon;
pub mod pki;
pub mod state;
pub mod tunnel;
pub mod validate;

/// Generated code for package `lattice.v1`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("lattice.v1");

    /// Encoded `FileDescriptorSet` of the whole contract, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/lattice_descriptor.bin"));
}

pub use validate::ValidationError;

/// Log directives every Lattice daemon applies on top of `LATTICE_LOG`:
/// these libraries print request bodies (container env with credentials),
/// headers (bearer tokens) or SQL values at debug/trace level.
pub const SECRET_SAFE_LOG_DIRECTIVES: &[&str] = &[
    "bollard=warn",
    "h2=info",
    "hyper=info",
    "hyper_util=info",
    "tower=info",
    "tonic=info",
    "sqlx=warn",
    "sea_orm=info",
    "rustls=info",
];

/// Data frames an agent may send on a log stream before controld grants
/// more (`StreamFrame.credit`). Well under h2's guard against unread small
/// DATA frames (about 100 per connection), so a slow reader slows the agent
/// instead of tripping a GOAWAY.
pub const STREAM_CREDIT_WINDOW: u32 = 32;

/// Metadata key carrying how many seconds a refused caller should wait.
pub const RETRY_AFTER_METADATA: &str = "retry-after-seconds";

/// Metadata key naming the component at fault when it is not the control
/// plane: "node" for a node or its agent (unreachable, no capacity, Docker
/// failing), so clients say so instead of blaming the server.
pub const FAULT_METADATA: &str = "lattice-fault";

/// Largest gRPC message either side accepts. Generous enough that an
/// oversized field reaches validation (and gets INVALID_ARGUMENT naming the
/// field) instead of a transport error, small enough to bound memory.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

impl v1::Timestamp {
    /// A timestamp from Unix milliseconds.
    pub fn from_millis(unix_millis: i64) -> Self {
        Self { unix_millis }
    }
}
