//! Account state: users, sessions, refresh-token rotation, login throttling
//! and API tokens. All SQL for authentication lives here; each public method
//! is one retried unit (a transaction where it writes more than one row).

use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DbBackend, DbErr, EntityTrait, IsolationLevel, PaginatorTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};

use crate::auth::tokens::{REFRESH_PREFIX, random_token, token_hash};
use crate::clock;
use crate::entity::{api_token, refresh_token, session, user};
use crate::error::{Error, Result};
use crate::store::{is_unique_violation, retry};

mod admin;
mod throttle;
pub use admin::Registration;

/// Role names as stored.
pub const ROLE_ADMIN: &str = "admin";
/// Role names as stored.
pub const ROLE_USER: &str = "user";

/// Lockout policy.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    /// Failures within `window` that lock the account.
    pub threshold: u32,
    /// Counting window.
    pub window: Duration,
    /// Lock duration.
    pub duration: Duration,
}

/// A new session and the refresh token that opens it (plaintext, returned once).
pub struct NewSession {
    /// The session row.
    pub session: session::Model,
    /// The plaintext refresh token.
    pub refresh_token: String,
    /// When that refresh token expires.
    pub refresh_expires_at: i64,
}

/// What presenting a refresh token led to.
pub enum Rotation {
    /// A fresh token for the same session.
    Rotated(Box<(user::Model, NewSession)>),
    /// The token had already been rotated: the session is now revoked.
    Reused,
    /// Unknown, expired or revoked.
    Invalid,
}

/// Repository over the account tables.
#[derive(Clone)]
pub struct Accounts {
    db: DatabaseConnection,
}

impl Accounts {
    /// Wraps a migrated connection.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    fn serializable(&self) -> Option<IsolationLevel> {
        // SQLite transactions are already serializable and warn if asked.
        (self.db.get_database_backend() == DbBackend::Postgres)
            .then_some(IsolationLevel::Serializable)
    }

    /// Creates an account; the first one on the server is the admin and
    /// always registers. Others need what `gate` asks: nothing, an unused
    /// invite (consumed in the same transaction), or cannot register.
    pub async fn register(
        &self,
        email: &str,
        password_hash: &str,
        gate: Registration,
        invite: &str,
    ) -> Result<user::Model> {
        let now = clock::now_ms();
        let res = retry(|| async {
            let txn = self.db.begin_with_config(self.serializable(), None).await?;
            let first = user::Entity::find().count(&txn).await? == 0;
            if !first {
                match gate {
                    Registration::Open => {}
                    Registration::Closed => return Ok(Err(admin::CLOSED)),
                    Registration::Invite => {
                        if !admin::use_invite(&txn, invite, now).await? {
                            return Ok(Err(admin::NEEDS_INVITE));
                        }
                    }
                }
            }
            let model = user::ActiveModel {
                id: Set(uuid::Uuid::now_v7().to_string()),
                email: Set(email.to_string()),
                password_hash: Set(password_hash.to_string()),
                role: Set(if first { ROLE_ADMIN } else { ROLE_USER }.to_string()),
                created_at: Set(now),
                disabled_at: Set(None),
            }
            .insert(&txn)
            .await?;
            txn.commit().await?;
            Ok(Ok(model))
        })
        .await;
        match res {
            Ok(Ok(m)) => Ok(m),
            Ok(Err(why)) => Err(Error::FailedPrecondition(why.into())),
            Err(e) if is_unique_violation(&e) => Err(Error::AlreadyExists(
                "an account with this email already exists; sign in with `lattice login`".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// The account with this (normalised) email.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<user::Model>> {
        Ok(retry(|| {
            user::Entity::find()
                .filter(user::Column::Email.eq(email))
                .one(&self.db)
        })
        .await?)
    }

    /// The account with this id.
    pub async fn user_by_id(&self, id: &str) -> Result<Option<user::Model>> {
        Ok(retry(|| user::Entity::find_by_id(id.to_string()).one(&self.db)).await?)
    }

    /// Makes an account admin. False when no such account exists.
    pub async fn grant_admin(&self, email: &str) -> Result<bool> {
        let r = retry(|| {
            user::Entity::update_many()
                .col_expr(user::Column::Role, Expr::value(ROLE_ADMIN))
                .filter(user::Column::Email.eq(email))
                .exec(&self.db)
        })
        .await?;
        Ok(r.rows_affected > 0)
    }

    /// Opens a session with its first refresh token.
    pub async fn create_session(
        &self,
        user_id: &str,
        now: i64,
        ttl: Duration,
    ) -> Result<NewSession> {
        let exp = now + clock::ms(ttl);
        Ok(retry(|| async {
            let txn = self.db.begin().await?;
            let s = session::ActiveModel {
                id: Set(uuid::Uuid::now_v7().to_string()),
                user_id: Set(user_id.to_string()),
                created_at: Set(now),
                expires_at: Set(exp),
                revoked_at: Set(None),
                revoke_reason: Set(None),
            }
            .insert(&txn)
            .await?;
            let token = insert_refresh(&txn, &s.id, now, exp).await?;
            txn.commit().await?;
            Ok::<_, DbErr>(NewSession {
                session: s,
                refresh_token: token,
                refresh_expires_at: exp,
            })
        })
        .await?)
    }

    /// Exchanges a refresh token for a new one. A token that was already
    /// exchanged revokes its whole session (someone else holds a copy).
    pub async fn rotate(&self, token: &str, now: i64, ttl: Duration) -> Result<Rotation> {
        let hash = token_hash(token);
        let exp = now + clock::ms(ttl);
        Ok(retry(|| async {
            let txn = self.db.begin_with_config(self.serializable(), None).await?;
            let Some(rt) = refresh_token::Entity::find_by_id(hash.clone())
                .one(&txn)
                .await?
            else {
                return Ok(Rotation::Invalid);
            };
            let Some(s) = session::Entity::find_by_id(rt.session_id.clone())
                .one(&txn)
                .await?
            else {
                return Ok(Rotation::Invalid);
            };
            if s.revoked_at.is_some() || s.expires_at <= now || rt.expires_at <= now {
                return Ok(Rotation::Invalid);
            }
            // Mark used only if still unused: two racing presenters cannot both win.
            let marked = refresh_token::Entity::update_many()
                .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
                .filter(refresh_token::Column::TokenHash.eq(hash.clone()))
                .filter(refresh_token::Column::UsedAt.is_null())
                .exec(&txn)
                .await?;
            if marked.rows_affected == 0 {
                revoke(&txn, &s.id, now, "refresh_token_reuse").await?;
                txn.commit().await?;
                return Ok(Rotation::Reused);
            }
            let Some(u) = user::Entity::find_by_id(s.user_id.clone())
                .one(&txn)
                .await?
            else {
                return Ok(Rotation::Invalid);
            };
            let new = insert_refresh(&txn, &s.id, now, exp).await?;
            let mut sa: session::ActiveModel = s.into();
            sa.expires_at = Set(exp);
            let s = sa.update(&txn).await?;
            txn.commit().await?;
            Ok(Rotation::Rotated(Box::new((
                u,
                NewSession {
                    session: s,
                    refresh_token: new,
                    refresh_expires_at: exp,
                },
            ))))
        })
        .await?)
    }

    /// The session if it is live (not revoked, not expired).
    pub async fn live_session(&self, id: &str, now: i64) -> Result<Option<session::Model>> {
        let s = retry(|| session::Entity::find_by_id(id.to_string()).one(&self.db)).await?;
        Ok(s.filter(|s| s.revoked_at.is_none() && s.expires_at > now))
    }

    /// Revokes a session (logout).
    pub async fn revoke_session(&self, id: &str, reason: &str) -> Result<()> {
        let now = clock::now_ms();
        retry(|| revoke(&self.db, id, now, reason)).await?;
        Ok(())
    }

    /// The session a refresh token belongs to, if any.
    pub async fn session_of_refresh(&self, token: &str) -> Result<Option<String>> {
        let rt =
            retry(|| refresh_token::Entity::find_by_id(token_hash(token)).one(&self.db)).await?;
        Ok(rt.map(|r| r.session_id))
    }

    /// Creates an API token; returns its row and the plaintext (shown once).
    pub async fn create_api_token(
        &self,
        user_id: &str,
        name: &str,
        scope: &str,
        expires_at: Option<i64>,
    ) -> Result<(api_token::Model, String)> {
        let secret = random_token(crate::auth::tokens::API_TOKEN_PREFIX);
        let hash = token_hash(&secret);
        let res = retry(|| {
            api_token::ActiveModel {
                id: Set(uuid::Uuid::now_v7().to_string()),
                user_id: Set(user_id.to_string()),
                name: Set(name.to_string()),
                token_hash: Set(hash.clone()),
                scope: Set(scope.to_string()),
                created_at: Set(clock::now_ms()),
                expires_at: Set(expires_at),
                last_used_at: Set(None),
            }
            .insert(&self.db)
        })
        .await;
        match res {
            Ok(m) => Ok((m, secret)),
            Err(e) if is_unique_violation(&e) => Err(Error::AlreadyExists(format!(
                "you already have an API token named {name:?}; revoke it first or pick another name"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// The caller's API tokens, newest first.
    pub async fn list_api_tokens(&self, user_id: &str) -> Result<Vec<api_token::Model>> {
        Ok(retry(|| {
            api_token::Entity::find()
                .filter(api_token::Column::UserId.eq(user_id))
                .order_by_desc(api_token::Column::CreatedAt)
                .all(&self.db)
        })
        .await?)
    }

    /// Deletes the caller's API token by name. False if none.
    pub async fn revoke_api_token(&self, user_id: &str, name: &str) -> Result<bool> {
        let r = retry(|| {
            api_token::Entity::delete_many()
                .filter(api_token::Column::UserId.eq(user_id))
                .filter(api_token::Column::Name.eq(name))
                .exec(&self.db)
        })
        .await?;
        Ok(r.rows_affected > 0)
    }

    /// Looks up an API token by its plaintext and records its use.
    pub async fn use_api_token(&self, secret: &str, now: i64) -> Result<Option<api_token::Model>> {
        let hash = token_hash(secret);
        let t = retry(|| {
            api_token::Entity::find()
                .filter(api_token::Column::TokenHash.eq(hash.clone()))
                .one(&self.db)
        })
        .await?;
        let Some(t) = t.filter(|t| t.expires_at.is_none_or(|e| e > now)) else {
            return Ok(None);
        };
        // Coarse: at most one write a minute per token.
        if t.last_used_at.is_none_or(|u| now - u > 60_000) {
            retry(|| {
                api_token::Entity::update_many()
                    .col_expr(api_token::Column::LastUsedAt, Expr::value(now))
                    .filter(api_token::Column::Id.eq(t.id.clone()))
                    .exec(&self.db)
            })
            .await?;
        }
        Ok(Some(t))
    }
}

async fn insert_refresh(
    c: &impl ConnectionTrait,
    session_id: &str,
    now: i64,
    exp: i64,
) -> Result<String, DbErr> {
    let token = random_token(REFRESH_PREFIX);
    refresh_token::ActiveModel {
        token_hash: Set(token_hash(&token)),
        session_id: Set(session_id.to_string()),
        created_at: Set(now),
        expires_at: Set(exp),
        used_at: Set(None),
    }
    .insert(c)
    .await?;
    Ok(token)
}

async fn revoke(c: &impl ConnectionTrait, id: &str, now: i64, reason: &str) -> Result<(), DbErr> {
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .col_expr(session::Column::RevokeReason, Expr::value(reason))
        .filter(session::Column::Id.eq(id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(c)
        .await?;
    Ok(())
}
