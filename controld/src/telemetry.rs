//! One place that sets up tracing for the binary. `LATTICE_LOG` takes an
//! `EnvFilter` directive; the default keeps chatty dependencies quiet (sqlx
//! logs every statement at INFO).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::args::LogFormat;

const DEFAULT_FILTER: &str =
    "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,h2=warn,tower=warn,hyper=warn,rustls=warn";

/// Installs the global subscriber, writing to stderr.
pub fn init(format: LogFormat) {
    let mut filter =
        EnvFilter::try_from_env("LATTICE_LOG").unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    // Targets that would print headers (bearer tokens) or statement values
    // stay quiet even when LATTICE_LOG asks for more.
    for d in lattice_proto::SECRET_SAFE_LOG_DIRECTIVES {
        if let Ok(d) = d.parse() {
            filter = filter.add_directive(d);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none());
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}
