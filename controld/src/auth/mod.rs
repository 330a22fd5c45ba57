//! Authentication: who is calling, from the `authorization` metadata.
//! Access tokens (JWT) are checked against their session on every call, so
//! logout and refresh-token reuse take effect at once; API tokens are looked
//! up by hash.

pub mod account_api;
pub mod limiter;
pub mod password;
pub mod service;
pub mod tokens;

use lattice_proto::v1;
use tonic::metadata::MetadataMap;

use crate::accounts::{Accounts, ROLE_ADMIN};
use crate::clock;
use crate::entity::user;
use crate::error::{Error, Result};
use tokens::{API_TOKEN_PREFIX, AccessTokens};

/// What an API token may do. Sessions have full rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// List, get, logs, watch.
    Read,
    /// Read plus changing workloads.
    Deploy,
    /// Everything the account may do.
    Admin,
}

impl Scope {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Deploy => "deploy",
            Scope::Admin => "admin",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Scope::Read),
            "deploy" => Some(Scope::Deploy),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    /// From the wire enum.
    pub fn from_proto(s: v1::TokenScope) -> Option<Self> {
        match s {
            v1::TokenScope::Read => Some(Scope::Read),
            v1::TokenScope::Deploy => Some(Scope::Deploy),
            v1::TokenScope::Admin => Some(Scope::Admin),
            v1::TokenScope::Unspecified => None,
        }
    }

    /// To the wire enum.
    pub fn to_proto(self) -> v1::TokenScope {
        match self {
            Scope::Read => v1::TokenScope::Read,
            Scope::Deploy => v1::TokenScope::Deploy,
            Scope::Admin => v1::TokenScope::Admin,
        }
    }
}

/// How the caller authenticated.
#[derive(Debug, Clone)]
pub enum Credential {
    /// An interactive session (access token).
    Session {
        /// Session id.
        session_id: String,
        /// Access-token expiry (Unix ms).
        access_expires_at: i64,
        /// Session expiry (Unix ms).
        session_expires_at: i64,
    },
    /// An API token.
    ApiToken {
        /// Its name.
        name: String,
        /// Its scope.
        scope: Scope,
        /// Its expiry, if any (Unix ms).
        expires_at: Option<i64>,
    },
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The account.
    pub user: user::Model,
    /// How it authenticated.
    pub credential: Credential,
}

impl Caller {
    /// The rights of this call: full for sessions, the scope for API tokens.
    pub fn scope(&self) -> Scope {
        match &self.credential {
            Credential::Session { .. } => Scope::Admin,
            Credential::ApiToken { scope, .. } => *scope,
        }
    }

    /// Fails with PERMISSION_DENIED unless the call has at least `needed`.
    pub fn require(&self, needed: Scope) -> Result<()> {
        if self.scope() >= needed {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "this API token has scope {:?}, which cannot do this (needs {:?}); create one with `lattice tokens create NAME --scope {}`",
                self.scope().as_str(),
                needed.as_str(),
                needed.as_str()
            )))
        }
    }

    /// Whether this call may act as an admin.
    pub fn is_admin(&self) -> bool {
        self.user.role == ROLE_ADMIN && self.scope() == Scope::Admin
    }

    /// Fails with PERMISSION_DENIED unless the caller is an admin.
    pub fn require_admin(&self) -> Result<()> {
        if self.is_admin() {
            Ok(())
        } else if self.user.role == ROLE_ADMIN {
            // An admin's token that lacks the scope: the token is at fault.
            self.require(Scope::Admin)
        } else {
            Err(Error::Forbidden(
                "only an admin can do this; an admin can run `lattice-controld admin grant EMAIL` on the server host".into(),
            ))
        }
    }
}

/// What a disabled account is told, on every call and at sign-in.
pub const DISABLED: &str = "this account is disabled; ask an admin to enable it";

/// Resolves bearer credentials to a [`Caller`].
#[derive(Clone)]
pub struct Authenticator {
    accounts: Accounts,
    jwt: AccessTokens,
}

impl Authenticator {
    /// New authenticator over the account store.
    pub fn new(accounts: Accounts, jwt: AccessTokens) -> Self {
        Self { accounts, jwt }
    }

    /// The caller of a request, or UNAUTHENTICATED saying what to do.
    pub async fn authenticate(&self, md: &MetadataMap) -> Result<Caller> {
        let token = bearer(md)?;
        let now = clock::now_ms();
        if token.starts_with(API_TOKEN_PREFIX) {
            let t = self.accounts.use_api_token(token, now).await?.ok_or_else(|| {
                Error::Unauthenticated(
                    "this API token is unknown, revoked or expired; create a new one with `lattice tokens create`".into(),
                )
            })?;
            let user = self.user(&t.user_id).await?;
            let scope =
                Scope::parse(&t.scope).ok_or_else(|| Error::internal("bad scope in store"))?;
            return Ok(Caller {
                user,
                credential: Credential::ApiToken {
                    name: t.name,
                    scope,
                    expires_at: t.expires_at,
                },
            });
        }
        let claims = self.jwt.verify(token)?;
        // A disabled account hears so first (its sessions are ended too).
        let user = self.user(&claims.sub).await?;
        let session = self
            .accounts
            .live_session(&claims.sid, now)
            .await?
            .ok_or_else(|| {
                Error::Unauthenticated("your session has ended; run `lattice login`".into())
            })?;
        if session.user_id != claims.sub {
            return Err(Error::Unauthenticated(
                "invalid access token; run `lattice login`".into(),
            ));
        }
        Ok(Caller {
            user,
            credential: Credential::Session {
                session_id: session.id,
                access_expires_at: claims.exp.saturating_mul(1000),
                session_expires_at: session.expires_at,
            },
        })
    }

    async fn user(&self, id: &str) -> Result<user::Model> {
        let u = self
            .accounts
            .user_by_id(id)
            .await?
            .ok_or_else(|| Error::Unauthenticated("this account no longer exists".into()))?;
        if u.disabled_at.is_some() {
            return Err(Error::Unauthenticated(DISABLED.into()));
        }
        Ok(u)
    }
}

/// The token in `authorization: Bearer <token>`.
fn bearer(md: &MetadataMap) -> Result<&str> {
    let v = md
        .get("authorization")
        .ok_or_else(|| Error::Unauthenticated("not signed in; run `lattice login`".into()))?;
    let s = v
        .to_str()
        .map_err(|_| Error::Unauthenticated("malformed authorization header".into()))?;
    let t = s
        .strip_prefix("Bearer ")
        .or_else(|| s.strip_prefix("bearer "))
        .ok_or_else(|| Error::Unauthenticated("authorization must be `Bearer <token>`".into()))?
        .trim();
    if t.is_empty() || t.len() > 4096 {
        return Err(Error::Unauthenticated("malformed bearer token".into()));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        let mut md = MetadataMap::new();
        assert!(bearer(&md).is_err());
        md.insert("authorization", "Basic abc".parse().unwrap());
        assert!(bearer(&md).is_err());
        md.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&md).unwrap(), "abc");
    }

    #[test]
    fn scopes_are_ordered() {
        assert!(Scope::Admin > Scope::Deploy && Scope::Deploy > Scope::Read);
        for s in [Scope::Read, Scope::Deploy, Scope::Admin] {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
            assert_eq!(Scope::from_proto(s.to_proto()), Some(s));
        }
    }
}
