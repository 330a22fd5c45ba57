//! `AuthService`: register, login, refresh, logout, whoami and API tokens.

use std::time::Duration;

use lattice_proto::{v1, validate};
use tonic::{Request, Response, Status};
use tracing::{info, instrument, warn};

use super::limiter::AddressLimiter;
use super::password::PasswordHasherPool;
use super::tokens::AccessTokens;
use super::{Authenticator, Caller, Credential, Scope};
use crate::accounts::{Accounts, LockoutPolicy, NewSession, ROLE_ADMIN, Registration, Rotation};
use crate::audit::{Actor, Audit, source};
use crate::clock;
use crate::entity::user;
use crate::error::{Error, Result};

/// Lifetimes and limits of the auth service.
#[derive(Debug, Clone, Copy)]
pub struct AuthPolicy {
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// Session idle lifetime.
    pub refresh_ttl: Duration,
    /// Per-account lockout.
    pub lockout: LockoutPolicy,
}

/// The AuthService implementation.
#[derive(Clone)]
pub struct AuthApi {
    accounts: Accounts,
    authn: Authenticator,
    jwt: AccessTokens,
    hasher: PasswordHasherPool,
    limiter: AddressLimiter,
    policy: AuthPolicy,
    audit: Audit,
    registration: Registration,
}

const BAD_CREDENTIALS: &str = "invalid email or password";

mod login;
pub use login::slowdown;

impl AuthApi {
    /// Builds the service.
    pub fn new(
        accounts: Accounts,
        authn: Authenticator,
        jwt: AccessTokens,
        limiter: AddressLimiter,
        policy: AuthPolicy,
        audit: Audit,
    ) -> Self {
        Self {
            accounts,
            authn,
            jwt,
            hasher: PasswordHasherPool::default(),
            limiter,
            policy,
            audit,
            registration: Registration::Open,
        }
    }

    /// Who may register (the default: anyone).
    pub fn with_registration(mut self, r: Registration) -> Self {
        self.registration = r;
        self
    }

    fn session_reply(&self, u: &user::Model, s: NewSession) -> Result<v1::Session> {
        let now = clock::now_ms();
        // JWT `exp` is in whole seconds: report exactly what the token says.
        let access_exp =
            (now + clock::ms(self.policy.access_ttl)).min(s.session.expires_at) / 1000 * 1000;
        let access = self.jwt.issue(&u.id, &s.session.id, now, access_exp)?;
        Ok(v1::Session {
            access_token: access,
            access_expires_at: Some(v1::Timestamp::from_millis(access_exp)),
            refresh_token: s.refresh_token,
            refresh_expires_at: Some(v1::Timestamp::from_millis(s.refresh_expires_at)),
            session_id: s.session.id,
            email: u.email.clone(),
            role: role(&u.role) as i32,
        })
    }
}

fn role(r: &str) -> v1::Role {
    if r == ROLE_ADMIN {
        v1::Role::Admin
    } else {
        v1::Role::User
    }
}

fn api_token(t: &crate::entity::api_token::Model) -> v1::ApiToken {
    v1::ApiToken {
        name: t.name.clone(),
        scope: Scope::parse(&t.scope).map_or(v1::TokenScope::Unspecified, Scope::to_proto) as i32,
        created_at: Some(v1::Timestamp::from_millis(t.created_at)),
        expires_at: t.expires_at.map(v1::Timestamp::from_millis),
        last_used_at: t.last_used_at.map(v1::Timestamp::from_millis),
    }
}

#[tonic::async_trait]
impl v1::auth_service_server::AuthService for AuthApi {
    #[instrument(skip_all, fields(rpc = "Register"))]
    async fn register(
        &self,
        req: Request<v1::RegisterRequest>,
    ) -> Result<Response<v1::RegisterResponse>, Status> {
        let src = source(&req);
        self.limiter.check(src)?;
        let r = req.into_inner();
        let email = validate::email(&r.email)?;
        validate::password(&r.password)?;
        let hash = self.hasher.hash(r.password).await?;
        let res = self
            .accounts
            .register(&email, &hash, self.registration, r.invite.trim())
            .await;
        let id = res.as_ref().ok().map(|u| u.id.clone());
        self.audit
            .record(&Actor::claiming(id, &email, src), "register", &email, &res)
            .await;
        let u = res?;
        info!(user_id = %u.id, role = %u.role, "account registered");
        Ok(Response::new(v1::RegisterResponse {
            user_id: u.id,
            email: u.email,
            role: role(&u.role) as i32,
        }))
    }

    #[instrument(skip_all, fields(rpc = "Login"))]
    async fn login(&self, req: Request<v1::LoginRequest>) -> Result<Response<v1::Session>, Status> {
        Ok(Response::new(self.login_audited(req).await?))
    }

    #[instrument(skip_all, fields(rpc = "Refresh"))]
    async fn refresh(
        &self,
        req: Request<v1::RefreshRequest>,
    ) -> Result<Response<v1::Session>, Status> {
        self.limiter.check(req.remote_addr().map(|a| a.ip()))?;
        let r = req.into_inner();
        validate::token("refresh_token", &r.refresh_token)?;
        let now = clock::now_ms();
        match self
            .accounts
            .rotate(&r.refresh_token, now, self.policy.refresh_ttl)
            .await?
        {
            Rotation::Rotated(rotated) => {
                let (u, s) = *rotated;
                Ok(Response::new(self.session_reply(&u, s)?))
            }
            Rotation::Reused => {
                warn!("a rotated refresh token was presented again; session revoked");
                Err(Error::Unauthenticated(
                    "this sign-in was already refreshed elsewhere, so the session was ended to protect your account \
                     (a copy of its token may have leaked); run `lattice login`"
                        .into(),
                )
                .into())
            }
            Rotation::Invalid => {
                if self.owner_disabled(&r.refresh_token).await {
                    return Err(Error::Unauthenticated(super::DISABLED.into()).into());
                }
                Err(Error::Unauthenticated(
                    "your session has expired or was ended; run `lattice login`".into(),
                )
                .into())
            }
        }
    }

    #[instrument(skip_all, fields(rpc = "Logout"))]
    async fn logout(&self, req: Request<v1::LogoutRequest>) -> Result<Response<v1::Empty>, Status> {
        let src = source(&req);
        let by_access = self.authn.authenticate(req.metadata()).await;
        let actor = by_access.as_ref().ok().map(|c| Actor::of(c, src));
        let refresh = req.into_inner().refresh_token;
        let session = match by_access {
            Ok(Caller {
                credential: Credential::Session { session_id, .. },
                ..
            }) => Some(session_id),
            _ if !refresh.is_empty() => {
                validate::token("refresh_token", &refresh)?;
                self.accounts.session_of_refresh(&refresh).await?
            }
            Ok(_) => {
                return Err(Error::FailedPrecondition(
                    "API tokens have no session to end; revoke the token with `lattice tokens revoke NAME`".into(),
                )
                .into());
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(id) = session {
            let r = self.accounts.revoke_session(&id, "logout").await;
            let actor = actor.unwrap_or(Actor {
                source: src,
                ..Actor::default()
            });
            self.audit.record(&actor, "logout", "session", &r).await;
            r?;
            info!(session_id = %id, "signed out");
        }
        Ok(Response::new(v1::Empty {}))
    }

    #[instrument(skip_all, fields(rpc = "WhoAmI"))]
    async fn who_am_i(
        &self,
        req: Request<v1::Empty>,
    ) -> Result<Response<v1::WhoAmIResponse>, Status> {
        let c = self.authn.authenticate(req.metadata()).await?;
        let (kind, expires, scope, session_exp) = match &c.credential {
            Credential::Session {
                access_expires_at,
                session_expires_at,
                ..
            } => (
                "session",
                Some(*access_expires_at),
                v1::TokenScope::Unspecified,
                Some(*session_expires_at),
            ),
            Credential::ApiToken {
                scope, expires_at, ..
            } => ("api_token", *expires_at, scope.to_proto(), None),
        };
        Ok(Response::new(v1::WhoAmIResponse {
            user_id: c.user.id.clone(),
            email: c.user.email.clone(),
            role: role(&c.user.role) as i32,
            auth_kind: kind.into(),
            expires_at: expires.map(v1::Timestamp::from_millis),
            scope: scope as i32,
            session_expires_at: session_exp.map(v1::Timestamp::from_millis),
        }))
    }

    #[instrument(skip_all, fields(rpc = "CreateApiToken"))]
    async fn create_api_token(
        &self,
        req: Request<v1::CreateApiTokenRequest>,
    ) -> Result<Response<v1::CreateApiTokenResponse>, Status> {
        let src = source(&req);
        let c = self.authn.authenticate(req.metadata()).await?;
        let r = req.into_inner();
        let res = self.create_token(&c, &r).await;
        self.audit
            .record(&Actor::of(&c, src), "tokens.create", &r.name, &res)
            .await;
        let (t, secret) = res?;
        info!(user_id = %c.user.id, token = %t.name, scope = %t.scope, "API token created");
        Ok(Response::new(v1::CreateApiTokenResponse {
            token: Some(api_token(&t)),
            secret,
        }))
    }

    #[instrument(skip_all, fields(rpc = "ListApiTokens"))]
    async fn list_api_tokens(
        &self,
        req: Request<v1::Empty>,
    ) -> Result<Response<v1::ListApiTokensResponse>, Status> {
        let c = self.authn.authenticate(req.metadata()).await?;
        let tokens = self.accounts.list_api_tokens(&c.user.id).await?;
        Ok(Response::new(v1::ListApiTokensResponse {
            tokens: tokens.iter().map(api_token).collect(),
        }))
    }

    #[instrument(skip_all, fields(rpc = "RevokeApiToken"))]
    async fn revoke_api_token(
        &self,
        req: Request<v1::RevokeApiTokenRequest>,
    ) -> Result<Response<v1::Empty>, Status> {
        let src = source(&req);
        let c = self.authn.authenticate(req.metadata()).await?;
        let name = req.into_inner().name;
        let res = self.revoke_token(&c, &name).await;
        self.audit
            .record(&Actor::of(&c, src), "tokens.revoke", &name, &res)
            .await;
        res?;
        info!(user_id = %c.user.id, token = %name, "API token revoked");
        Ok(Response::new(v1::Empty {}))
    }
}

impl AuthApi {
    async fn create_token(
        &self,
        c: &Caller,
        r: &v1::CreateApiTokenRequest,
    ) -> Result<(crate::entity::api_token::Model, String)> {
        c.require(Scope::Admin)?;
        validate::name("name", &r.name)?;
        let scope = Scope::from_proto(r.scope()).unwrap_or(Scope::Deploy);
        if r.expires_in_seconds < 0 {
            return Err(lattice_proto::ValidationError::new(
                "expires_in_seconds",
                "must be 0 (never) or positive",
            )
            .into());
        }
        let expires = (r.expires_in_seconds > 0)
            .then(|| clock::now_ms().saturating_add(r.expires_in_seconds.saturating_mul(1000)));
        self.accounts
            .create_api_token(&c.user.id, &r.name, scope.as_str(), expires)
            .await
    }

    async fn revoke_token(&self, c: &Caller, name: &str) -> Result<()> {
        c.require(Scope::Admin)?;
        validate::name("name", name)?;
        if !self.accounts.revoke_api_token(&c.user.id, name).await? {
            return Err(Error::NotFound(format!(
                "no API token named {name:?}; see `lattice tokens ls`"
            )));
        }
        Ok(())
    }
}
