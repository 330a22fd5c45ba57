//! Periodic upkeep while serving: the address limiter's table shrinks,
//! sign-in counters past their window go, and (hourly) audit entries past
//! retention are deleted.

use std::time::Duration;

use tracing::info;

use crate::accounts::{Accounts, LockoutPolicy};
use crate::audit::Audit;
use crate::auth::limiter::AddressLimiter;
use crate::clock;

/// What upkeep touches.
pub struct Housekeeping {
    /// Per-address sign-in rate limiter.
    pub limiter: AddressLimiter,
    /// Sign-in counters live with the accounts.
    pub accounts: Accounts,
    /// Their window.
    pub lockout: LockoutPolicy,
    /// The audit log.
    pub audit: Audit,
    /// How long audit entries are kept.
    pub retention: Duration,
}

impl Housekeeping {
    /// Runs every minute until the task is aborted.
    pub async fn run(self) {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        for n in 0u64.. {
            tick.tick().await;
            self.limiter.shrink();
            if let Err(e) = self
                .accounts
                .prune_throttle(clock::now_ms(), self.lockout)
                .await
            {
                tracing::warn!(error = %e, "could not prune sign-in counters");
            }
            if n % 60 == 0 {
                match self.audit.prune(self.retention).await {
                    Ok(0) => {}
                    Ok(k) => info!(entries = k, "audit entries past retention deleted"),
                    Err(e) => tracing::warn!(error = %e, "could not prune the audit log"),
                }
            }
        }
    }
}
