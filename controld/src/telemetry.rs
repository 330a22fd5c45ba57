//! One place that sets up tracing for the binary. `LATTICE_LOG` takes an
//! `EnvFilter` directive; the default keeps chatty dependencies quiet (sqlx
//! logs every statement at INFO).

use crate::args::LogFormat;

const DEFAULT_FILTER: &str =
    "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,h2=warn,tower=warn,hyper=warn,rustls=warn";

/// Installs the global subscriber, writing to stderr.
pub fn init(format: LogFormat) {
    lattice_proto::daemon::init_tracing(format, DEFAULT_FILTER);
}
