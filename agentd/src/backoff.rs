//! Reconnect delays on gRPC's schedule: 1 s initial, ×1.6 per attempt,
//! ±20 % jitter, capped at 120 s.

use std::time::Duration;

use rand::Rng;

/// Exponential backoff with jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    attempt: u32,
    initial: Duration,
    max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            attempt: 0,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(120),
        }
    }
}

impl Backoff {
    /// A schedule from `initial` growing ×1.6 to at most `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            attempt: 0,
            initial,
            max,
        }
    }

    /// Delays handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.initial.as_secs_f64() * 1.6f64.powi(self.attempt.min(30) as i32);
        self.attempt = self.attempt.saturating_add(1);
        let capped = base.min(self.max.as_secs_f64());
        let jitter = rand::rng().random_range(-0.2..=0.2);
        Duration::from_secs_f64((capped * (1.0 + jitter)).max(0.0))
    }

    /// Starts over after a healthy connection.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_grpc_schedule() {
        let mut b = Backoff::default();
        let d: Vec<f64> = (0..20).map(|_| b.next_delay().as_secs_f64()).collect();
        assert!((0.8..=1.2).contains(&d[0]), "{d:?}");
        assert!((1.28..=1.92).contains(&d[1]), "{d:?}");
        assert!(d.iter().all(|x| *x <= 144.0), "cap with jitter: {d:?}");
        assert!(d[19] >= 96.0, "{d:?}");
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(1200));
    }
}
