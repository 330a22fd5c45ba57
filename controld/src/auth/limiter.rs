//! Per-client-address rate limit for the unauthenticated auth RPCs
//! (register, login, refresh), so one address cannot spray passwords across
//! many accounts. Per-account lockout lives in the store (it must survive
//! restarts and be shared by every controld).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::{Error, Result};

/// Keyed by client IP.
#[derive(Clone)]
pub struct AddressLimiter {
    inner: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    clock: DefaultClock,
}

impl AddressLimiter {
    /// `per_minute` attempts per address, arriving in bursts of up to a third of that.
    pub fn new(per_minute: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new((per_minute.get() / 3).max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        Self {
            inner: Arc::new(RateLimiter::keyed(quota)),
            clock: DefaultClock::default(),
        }
    }

    /// Ok, or TooManyAttempts with the wait.
    pub fn check(&self, addr: Option<IpAddr>) -> Result<()> {
        let Some(ip) = addr else { return Ok(()) };
        match self.inner.check_key(&ip) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let secs = wait.as_secs().max(1);
                Err(Error::TooManyAttempts {
                    message: format!(
                        "too many sign-in attempts from your address; try again in {secs}s"
                    ),
                    retry_after: Duration::from_secs(secs),
                })
            }
        }
    }

    /// Forgets idle addresses so the map stays small.
    pub fn shrink(&self) {
        self.inner.retain_recent();
        self.inner.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_limited_independently() {
        let l = AddressLimiter::new(3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(l.check(Some(a)).is_ok());
        let e = l.check(Some(a)).unwrap_err();
        assert!(matches!(e, Error::TooManyAttempts { .. }));
        assert!(e.to_string().contains("try again in"));
        assert!(l.check(Some(b)).is_ok());
        assert!(l.check(None).is_ok());
    }
}
