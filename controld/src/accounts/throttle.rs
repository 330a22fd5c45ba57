//! Failed sign-ins per (account, client address): the lockout's counters.

use std::time::Duration;

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter,
    TransactionTrait,
};

use super::{Accounts, LockoutPolicy};
use crate::clock;
use crate::entity::login_throttle;
use crate::error::Result;
use crate::store::retry;

impl Accounts {
    /// When sign-in for the email from `source` is locked, until when (Unix ms).
    pub async fn locked_until(&self, email: &str, source: &str, now: i64) -> Result<Option<i64>> {
        let row = retry(|| {
            login_throttle::Entity::find_by_id((email.to_string(), source.to_string()))
                .one(&self.db)
        })
        .await?;
        Ok(row.and_then(|r| r.locked_until).filter(|t| *t > now))
    }

    /// Failed sign-ins for the email from every address within `window`.
    pub async fn recent_failures(&self, email: &str, now: i64, window: Duration) -> Result<i64> {
        let since = now - clock::ms(window);
        let rows = retry(|| {
            login_throttle::Entity::find()
                .filter(login_throttle::Column::Email.eq(email))
                .filter(login_throttle::Column::WindowStartedAt.gt(since))
                .all(&self.db)
        })
        .await?;
        Ok(rows.iter().map(|r| i64::from(r.failures)).sum())
    }

    /// Counts a failed login from `source`; returns the lock expiry if this
    /// failure locked the email for that source.
    pub async fn record_failure(
        &self,
        email: &str,
        source: &str,
        now: i64,
        policy: LockoutPolicy,
    ) -> Result<Option<i64>> {
        let window = clock::ms(policy.window);
        let lock_ms = clock::ms(policy.duration);
        let key = (email.to_string(), source.to_string());
        Ok(retry(|| async {
            let txn = self.db.begin_with_config(self.serializable(), None).await?;
            let row = login_throttle::Entity::find_by_id(key.clone())
                .one(&txn)
                .await?;
            let (failures, started) = match &row {
                Some(r)
                    if now - r.window_started_at < window
                        && r.locked_until.is_none_or(|t| t > now) =>
                {
                    (r.failures + 1, r.window_started_at)
                }
                _ => (1, now),
            };
            let locked = (failures >= i32::try_from(policy.threshold).unwrap_or(i32::MAX))
                .then_some(now + lock_ms);
            let am = login_throttle::ActiveModel {
                email: Set(email.to_string()),
                source: Set(source.to_string()),
                failures: Set(failures),
                window_started_at: Set(started),
                locked_until: Set(locked),
            };
            if row.is_some() {
                am.update(&txn).await?;
            } else {
                am.insert(&txn).await?;
            }
            txn.commit().await?;
            Ok::<_, DbErr>(locked)
        })
        .await?)
    }

    /// Forgets the failures from `source` after a successful login there
    /// (failures from elsewhere keep slowing sign-in down until their window ends).
    pub async fn clear_failures(&self, email: &str, source: &str) -> Result<()> {
        retry(|| {
            login_throttle::Entity::delete_by_id((email.to_string(), source.to_string()))
                .exec(&self.db)
        })
        .await?;
        Ok(())
    }

    /// Deletes throttling rows whose window and lock are both over.
    pub async fn prune_throttle(&self, now: i64, policy: LockoutPolicy) -> Result<u64> {
        let stale = now - clock::ms(policy.window).max(clock::ms(policy.duration));
        let r = retry(|| {
            login_throttle::Entity::delete_many()
                .filter(login_throttle::Column::WindowStartedAt.lt(stale))
                .filter(
                    sea_orm::Condition::any()
                        .add(login_throttle::Column::LockedUntil.is_null())
                        .add(login_throttle::Column::LockedUntil.lt(now)),
                )
                .exec(&self.db)
        })
        .await?;
        Ok(r.rows_affected)
    }
}
