//! Sign-in: the per-address rate limit, the per-(account, address) lockout,
//! the slowdown failures elsewhere cause, and the audit entry of each attempt.

use std::time::Duration;

use lattice_proto::{v1, validate};
use tonic::Request;
use tracing::{info, warn};

use super::{AuthApi, BAD_CREDENTIALS};
use crate::audit::{Actor, source};
use crate::auth::limiter::client_key;
use crate::clock;
use crate::error::{Error, Result};

impl AuthApi {
    /// Signs in and writes the attempt to the audit log (the account it
    /// claimed, when that exists).
    pub(super) async fn login_audited(
        &self,
        req: Request<v1::LoginRequest>,
    ) -> Result<v1::Session> {
        let src = source(&req);
        let email = req.get_ref().email.trim().to_lowercase();
        let r = self.login(req).await;
        let id = self
            .accounts
            .user_by_email(&email)
            .await
            .ok()
            .flatten()
            .map(|u| u.id);
        if validate::email(&email).is_ok() {
            self.audit
                .record(&Actor::claiming(id, &email, src), "login", &email, &r)
                .await;
        }
        r
    }

    async fn login(&self, req: Request<v1::LoginRequest>) -> Result<v1::Session> {
        let addr = source(&req);
        self.limiter.check(addr)?;
        let from = addr.map(|a| client_key(a).to_string()).unwrap_or_default();
        let r = req.into_inner();
        let email = validate::email(&r.email)?;
        validate::login_password(&r.password)?;
        let now = clock::now_ms();
        if let Some(until) = self.accounts.locked_until(&email, &from, now).await? {
            return Err(locked(until, now));
        }
        // Failures from other addresses slow this account's sign-in down but
        // never lock it: a stranger cannot keep its owner out.
        let failures = self
            .accounts
            .recent_failures(&email, now, self.policy.lockout.window)
            .await?;
        let delay = slowdown(failures, self.policy.lockout.threshold);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let user = self.accounts.user_by_email(&email).await?;
        let ok = self
            .hasher
            .verify(r.password, user.as_ref().map(|u| u.password_hash.clone()))
            .await?;
        let Some(user) = user.filter(|_| ok) else {
            let locked_now = self
                .accounts
                .record_failure(&email, &from, now, self.policy.lockout)
                .await?;
            warn!(%email, locked = locked_now.is_some(), "failed sign-in");
            return Err(match locked_now {
                Some(until) => Error::TooManyAttempts {
                    message: format!(
                        "{BAD_CREDENTIALS}; too many failed attempts, so sign-in for this email from your address is locked until {} (in {})",
                        clock::rfc3339(until),
                        clock::human_wait(until - now)
                    ),
                    retry_after: Duration::from_millis((until - now).max(0) as u64),
                },
                None => Error::Unauthenticated(BAD_CREDENTIALS.into()),
            });
        };
        self.accounts.clear_failures(&email, &from).await?;
        if user.disabled_at.is_some() {
            return Err(Error::Unauthenticated(crate::auth::DISABLED.into()));
        }
        let s = self
            .accounts
            .create_session(&user.id, now, self.policy.refresh_ttl)
            .await?;
        info!(user_id = %user.id, session_id = %s.session.id, "signed in");
        self.session_reply(&user, s)
    }
}

impl AuthApi {
    /// Whether the account a refresh token belongs to is disabled.
    pub(super) async fn owner_disabled(&self, refresh: &str) -> bool {
        let Ok(Some(sid)) = self.accounts.session_of_refresh(refresh).await else {
            return false;
        };
        let Ok(Some(uid)) = self.accounts.user_of_session(&sid).await else {
            return false;
        };
        matches!(self.accounts.user_by_id(&uid).await, Ok(Some(u)) if u.disabled_at.is_some())
    }
}

/// How long a sign-in waits when the account has had `failures` recent
/// failures from anywhere: nothing below the lockout threshold, then one
/// more second per failure beyond it, at most 5 s.
pub fn slowdown(failures: i64, threshold: u32) -> Duration {
    let over = failures - i64::from(threshold);
    if over < 0 {
        Duration::ZERO
    } else {
        Duration::from_secs(u64::try_from(over + 1).unwrap_or(5).min(5))
    }
}

fn locked(until: i64, now: i64) -> Error {
    Error::TooManyAttempts {
        message: format!(
            "sign-in for this email from your address is locked after too many failed attempts; try again after {} (in {})",
            clock::rfc3339(until),
            clock::human_wait(until - now)
        ),
        retry_after: Duration::from_millis((until - now).max(0) as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_addresses_slow_sign_in_down_but_never_stop_it() {
        assert_eq!(slowdown(0, 5), Duration::ZERO);
        assert_eq!(slowdown(4, 5), Duration::ZERO);
        assert_eq!(slowdown(5, 5), Duration::from_secs(1));
        assert_eq!(slowdown(7, 5), Duration::from_secs(3));
        assert_eq!(slowdown(1000, 5), Duration::from_secs(5));
    }
}
