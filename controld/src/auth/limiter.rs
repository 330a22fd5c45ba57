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

/// The key one client is counted under: its IPv4 address, or its IPv6 /64
/// (one household or host gets a whole /64, so counting single IPv6
/// addresses would count nothing). IPv4-mapped IPv6 counts as IPv4.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(std::net::Ipv6Addr::from(bits))
            }
        },
    }
}

/// Keyed by [`client_key`].
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
        match self.inner.check_key(&client_key(ip)) {
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

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let k = |s: &str| client_key(s.parse().unwrap()).to_string();
        assert_eq!(k("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
        assert_eq!(k("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::");
        assert_ne!(k("2001:db8:1:3::1"), k("2001:db8:1:2::1"));
        assert_eq!(k("::ffff:10.0.0.1"), "10.0.0.1");
        let l = AddressLimiter::new(3);
        assert!(l.check(Some("2001:db8::1".parse().unwrap())).is_ok());
        assert!(l.check(Some("2001:db8::2".parse().unwrap())).is_err());
    }
}
