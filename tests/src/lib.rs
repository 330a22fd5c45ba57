//! Helpers for the end-to-end tests: start the real `lattice-controld`
//! binary on port 0 in a temp dir, run the real `lattice` CLI against it with
//! an isolated config dir, and collect every byte either printed so tests
//! can search it for secrets.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

mod agentd;
mod browser;
pub mod chaos;
mod cli;
mod cluster;
mod controld;
mod docker;
mod hollow;
mod inproc;
mod netns;
mod postgres;
mod pty;

pub use agentd::Agentd;
pub use browser::Browser;
pub use cli::{Cli, Deploy, Run};
pub use cluster::{Cluster, PASSWORD, edge_range};
pub use controld::Controld;
pub use docker::{docker, http_status, require_images};
pub use hollow::HollowFleet;
pub use netns::OtherComputer;
pub use postgres::fresh_postgres_database;
pub use pty::on_a_terminal;

static PRODUCTION_LOGGING: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Daemons started from now on log at their own default level, as in
/// production, instead of at debug (which tests keep for diagnosis): for
/// benchmarks, whose figures must not include debug logging.
pub fn log_as_in_production() {
    PRODUCTION_LOGGING.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Sets `LATTICE_LOG` for a daemon about to start: `debug` (unless `var`
/// says otherwise), or the daemon's own default after [`log_as_in_production`].
fn set_daemon_log(cmd: &mut std::process::Command, var: &str, debug: &str) {
    if PRODUCTION_LOGGING.load(std::sync::atomic::Ordering::Relaxed) {
        cmd.env_remove("LATTICE_LOG");
    } else {
        cmd.env(
            "LATTICE_LOG",
            std::env::var(var).unwrap_or_else(|_| debug.into()),
        );
    }
}

/// Path of a workspace binary built next to this test executable.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/debug/deps/e2e-xxxx → target/debug/<name>; a binary of this
    // crate (the benchmark) already sits in target/<profile>/.
    let mut dir = exe.parent().expect("target dir");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().expect("target dir");
    }
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace` first (make test does)",
        p.display()
    );
    p
}

/// Polls `f` until it returns Some or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Strings that must never be printed, and where each came from.
pub fn leaked<'a>(haystack: &str, secrets: &'a [(String, &'a str)]) -> Vec<&'a str> {
    secrets
        .iter()
        .filter(|(s, _)| !s.is_empty() && haystack.contains(s.as_str()))
        .map(|(_, what)| *what)
        .collect()
}
