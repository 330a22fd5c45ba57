//! `--since`: a duration back from now (10m, 1h) or an RFC 3339 time.

/// A point in time given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Since(i64);

impl Since {
    /// Unix milliseconds.
    pub fn unix_millis(self) -> i64 {
        self.0
    }
}

/// Parses `10m`, `1h30m` or `2026-12-02T18:00:00Z`.
pub fn parse(raw: &str) -> Result<Since, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(Since(t.timestamp_millis()));
    }
    match humantime::parse_duration(raw) {
        Ok(d) => {
            let back = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            Ok(Since(
                chrono::Utc::now().timestamp_millis().saturating_sub(back),
            ))
        }
        Err(_) => Err(format!(
            "{raw:?} is neither a duration (10m, 1h) nor an RFC 3339 time (2026-12-02T18:00:00Z)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times() {
        assert_eq!(
            parse("2026-12-02T18:00:00Z").map(Since::unix_millis),
            Ok(1_796_234_400_000)
        );
        let ten = parse("10m").unwrap().unix_millis();
        let now = chrono::Utc::now().timestamp_millis();
        assert!((now - ten - 600_000).abs() < 5_000);
        assert!(parse("yesterday").unwrap_err().contains("RFC 3339"));
    }
}
