//! Who may register, invites, disabled accounts, password changes and a
//! user's own sessions.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, TransactionTrait,
};

use super::{Accounts, revoke};
use crate::auth::tokens::{random_token, token_hash};
use crate::entity::{api_token, invite, session, user};
use crate::error::Result;
use crate::store::retry;

/// Who may create an account (controld's `--registration`). The first
/// account always registers, and becomes the admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Registration {
    /// Anyone who reaches the server.
    Open,
    /// Only with a one-time invite from an admin (`lattice invites create`).
    Invite,
    /// Nobody (the server's accounts are all there are).
    Closed,
}

/// Refusal when registration is closed.
pub const CLOSED: &str =
    "registration is closed on this server; an admin can open it (lattice-controld --registration)";
/// Refusal without a usable invite.
pub const NEEDS_INVITE: &str = "this server registers by invitation: ask an admin for an invite \
     (`lattice invites create`), then run `lattice register --invite CODE`; an invite works once and expires";

/// Prefix of invite codes.
pub const INVITE_PREFIX: &str = "lti_";

/// Marks an unused, unexpired invite used; false if there is none such.
pub(super) async fn use_invite(
    c: &impl ConnectionTrait,
    code: &str,
    now: i64,
) -> Result<bool, DbErr> {
    if code.is_empty() || code.len() > 128 {
        return Ok(false);
    }
    let r = invite::Entity::update_many()
        .col_expr(invite::Column::UsedAt, Expr::value(now))
        .filter(invite::Column::CodeHash.eq(token_hash(code)))
        .filter(invite::Column::UsedAt.is_null())
        .filter(invite::Column::ExpiresAt.gt(now))
        .exec(c)
        .await?;
    Ok(r.rows_affected == 1)
}

impl Accounts {
    /// A new one-time invite; returns the code (shown once).
    pub async fn create_invite(&self, by: &str, now: i64, expires_at: i64) -> Result<String> {
        let code = random_token(INVITE_PREFIX);
        let hash = token_hash(&code);
        retry(|| {
            invite::ActiveModel {
                code_hash: Set(hash.clone()),
                created_by: Set(by.to_string()),
                created_at: Set(now),
                expires_at: Set(expires_at),
                used_at: Set(None),
            }
            .insert(&self.db)
        })
        .await?;
        Ok(code)
    }

    /// Disables or enables an account; disabling ends its sessions and
    /// deletes its API tokens in the same transaction. False if no such account.
    pub async fn set_disabled(&self, email: &str, disabled: bool, now: i64) -> Result<bool> {
        Ok(retry(|| async {
            let txn = self.db.begin().await?;
            let Some(u) = user::Entity::find()
                .filter(user::Column::Email.eq(email))
                .one(&txn)
                .await?
            else {
                return Ok(false);
            };
            let id = u.id.clone();
            let mut am: user::ActiveModel = u.into();
            am.disabled_at = Set(disabled.then_some(now));
            am.update(&txn).await?;
            if disabled {
                for s in live_sessions(&txn, &id, now).await? {
                    revoke(&txn, &s.id, now, "account_disabled").await?;
                }
                api_token::Entity::delete_many()
                    .filter(api_token::Column::UserId.eq(id.clone()))
                    .exec(&txn)
                    .await?;
            }
            txn.commit().await?;
            Ok::<_, DbErr>(true)
        })
        .await?)
    }

    /// Sets a new password hash and ends every session of the account but `keep`.
    pub async fn change_password(
        &self,
        user_id: &str,
        new_hash: &str,
        keep: Option<&str>,
        now: i64,
    ) -> Result<()> {
        retry(|| async {
            let txn = self.db.begin().await?;
            user::Entity::update_many()
                .col_expr(user::Column::PasswordHash, Expr::value(new_hash))
                .filter(user::Column::Id.eq(user_id))
                .exec(&txn)
                .await?;
            for s in live_sessions(&txn, user_id, now).await? {
                if Some(s.id.as_str()) != keep {
                    revoke(&txn, &s.id, now, "password_changed").await?;
                }
            }
            txn.commit().await
        })
        .await?;
        Ok(())
    }

    /// The account a session (live or not) belongs to.
    pub async fn user_of_session(&self, session_id: &str) -> Result<Option<String>> {
        let s = retry(|| session::Entity::find_by_id(session_id.to_string()).one(&self.db)).await?;
        Ok(s.map(|s| s.user_id))
    }

    /// The account's live sessions, newest first.
    pub async fn sessions_of(&self, user_id: &str, now: i64) -> Result<Vec<session::Model>> {
        Ok(retry(|| live_sessions(&self.db, user_id, now)).await?)
    }

    /// Ends one of the account's own sessions; false if it has no such live session.
    pub async fn end_own_session(&self, user_id: &str, session_id: &str, now: i64) -> Result<bool> {
        let live = self.sessions_of(user_id, now).await?;
        if !live.iter().any(|s| s.id == session_id) {
            return Ok(false);
        }
        retry(|| revoke(&self.db, session_id, now, "ended_by_user")).await?;
        Ok(true)
    }
}

async fn live_sessions(
    c: &impl ConnectionTrait,
    user_id: &str,
    now: i64,
) -> Result<Vec<session::Model>, DbErr> {
    session::Entity::find()
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(now))
        .order_by_desc(session::Column::CreatedAt)
        .all(c)
        .await
}
