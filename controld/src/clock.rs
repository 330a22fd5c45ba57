//! Wall-clock time as Unix milliseconds, the unit the store uses.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A duration in milliseconds, saturating.
pub fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// "in 14m 59s" style rendering of a wait, for error messages.
pub fn human_wait(ms: i64) -> String {
    let secs = (ms.max(0) + 999) / 1000;
    humantime::format_duration(Duration::from_secs(secs as u64)).to_string()
}

/// RFC 3339 rendering (UTC, seconds) of a Unix-millisecond time.
pub fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}
