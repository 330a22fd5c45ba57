//! Start-up code both daemons share (feature `daemon`): the tracing
//! subscriber with its secret-safe clamps, and the shutdown signal.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How a daemon writes its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber, writing to stderr. `LATTICE_LOG` takes an
/// `EnvFilter` directive (else `default_filter`); targets that would print
/// request bodies, headers or statement values stay quiet whatever it asks
/// ([`crate::SECRET_SAFE_LOG_DIRECTIVES`]).
pub fn init_tracing(format: LogFormat, default_filter: &str) {
    let mut filter =
        EnvFilter::try_from_env("LATTICE_LOG").unwrap_or_else(|_| EnvFilter::new(default_filter));
    for d in crate::SECRET_SAFE_LOG_DIRECTIVES {
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

/// A duration flag that must be more than zero (`15s`, `5m`, `1h`): a zero
/// heartbeat, lease or timeout is refused at start with a sentence, never a
/// panic or a busy loop later.
pub fn positive_duration(raw: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(raw)
        .map_err(|e| format!("{raw:?} is not a duration like 15s, 5m or 1h ({e})"))?;
    if d.is_zero() {
        return Err(format!(
            "must be more than 0 (got {raw:?}); use a duration like 15s"
        ));
    }
    Ok(d)
}

/// Installs the SIGTERM/SIGINT handlers now (so a signal that arrives right
/// after start-up is not fatal), and resolves on either.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = handlers else {
            // Without signal handlers we can only run until killed.
            std::future::pending::<()>().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received; shutting down"),
            _ = int.recv() => tracing::info!("SIGINT received; shutting down"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_must_be_positive() {
        assert_eq!(
            positive_duration("15s"),
            Ok(std::time::Duration::from_secs(15))
        );
        assert!(positive_duration("0s").unwrap_err().contains("more than 0"));
        assert!(positive_duration("0").unwrap_err().contains("more than 0"));
        assert!(
            positive_duration("soon")
                .unwrap_err()
                .contains("not a duration")
        );
    }
}
