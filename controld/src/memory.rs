//! Hands the heap's free pages back to the system now and then.
//!
//! glibc's malloc keeps the pages of freed blocks inside its arenas (one
//! per busy thread, up to eight per core) until the top of an arena is
//! free, which in a long-lived server it rarely is. A burst — 10,000
//! deploys, a node list of 1,000 nodes two hundred times over — leaves
//! tens of MiB free but resident for good, and how much depends on which
//! threads happened to allocate: `make scale` measured 146 to 318 MiB at
//! rest for the same ~105 MiB of live heap (docs/BENCHMARKS.md). A trim
//! every few seconds makes what is resident follow what is used. jemalloc
//! and mimalloc, measured against this on the same runs, held as much or
//! more (the `jemalloc` and `mimalloc` features build them for that trial).

use std::time::{Duration, Instant};

/// How often free pages are handed back.
pub const TRIM_EVERY: Duration = Duration::from_secs(5);

/// Calls `trim` (the binary's: the library has no unsafe code) every
/// [`TRIM_EVERY`] until the runtime ends.
pub async fn trim_forever(trim: fn()) {
    let mut tick = tokio::time::interval(TRIM_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // A trim walks every arena under its lock: off the async workers.
        let took = tokio::task::spawn_blocking(move || {
            let t = Instant::now();
            trim();
            t.elapsed()
        })
        .await;
        if let Ok(took) = took {
            tracing::trace!(
                micros = took.as_micros() as u64,
                "free heap pages handed back"
            );
        }
    }
}
