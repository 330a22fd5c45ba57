//! `AccountService`: invites and disabling accounts (admins), and a user's
//! own password and sessions. Each mutating call is audited.

use lattice_proto::{v1, validate};
use tonic::{Request, Response, Status};
use tracing::{info, instrument};

use super::password::PasswordHasherPool;
use super::{Authenticator, Caller, Credential, Scope};
use crate::accounts::Accounts;
use crate::audit::{Actor, Audit, source};
use crate::clock;
use crate::error::{Error, Result};

/// Default and longest lifetime of an invite.
const INVITE_DEFAULT_SECS: i64 = 7 * 24 * 3600;
const INVITE_MAX_SECS: i64 = 30 * 24 * 3600;

/// The AccountService implementation.
#[derive(Clone)]
pub struct AccountApi {
    accounts: Accounts,
    feedback: crate::feedback::Feedback,
    authn: Authenticator,
    hasher: PasswordHasherPool,
    audit: Audit,
}

impl AccountApi {
    /// New service.
    pub fn new(
        accounts: Accounts,
        feedback: crate::feedback::Feedback,
        authn: Authenticator,
        audit: Audit,
    ) -> Self {
        Self {
            accounts,
            feedback,
            authn,
            hasher: PasswordHasherPool::default(),
            audit,
        }
    }

    fn session_of(c: &Caller) -> Result<&str> {
        match &c.credential {
            Credential::Session { session_id, .. } => Ok(session_id),
            Credential::ApiToken { .. } => Err(Error::Forbidden(
                "an API token cannot do this; sign in with `lattice login` first".into(),
            )),
        }
    }

    async fn create_invite(&self, c: &Caller, r: &v1::CreateInviteRequest) -> Result<v1::Invite> {
        c.require_admin()?;
        let secs = match r.expires_in_seconds {
            0 => INVITE_DEFAULT_SECS,
            s if s < 0 => {
                return Err(lattice_proto::ValidationError::new(
                    "expires_in_seconds",
                    "must be positive",
                )
                .into());
            }
            s => s.min(INVITE_MAX_SECS),
        };
        let now = clock::now_ms();
        let expires = now + secs * 1000;
        let code = self
            .accounts
            .create_invite(&c.user.id, now, expires)
            .await?;
        Ok(v1::Invite {
            code,
            expires_at: Some(v1::Timestamp::from_millis(expires)),
        })
    }

    async fn set_disabled(&self, c: &Caller, r: &v1::SetDisabledRequest) -> Result<()> {
        c.require_admin()?;
        let email = validate::email(&r.email)?;
        if email == c.user.email && r.disabled {
            return Err(Error::FailedPrecondition(
                "you cannot disable your own account; another admin can".into(),
            ));
        }
        if !self
            .accounts
            .set_disabled(&email, r.disabled, clock::now_ms())
            .await?
        {
            return Err(Error::NotFound(format!("no account with email {email:?}")));
        }
        Ok(())
    }

    async fn change_password(&self, c: &Caller, r: v1::ChangePasswordRequest) -> Result<()> {
        let keep = Self::session_of(c)?.to_string();
        validate::login_password(&r.current_password)?;
        validate::password(&r.new_password)?;
        let ok = self
            .hasher
            .verify(r.current_password, Some(c.user.password_hash.clone()))
            .await?;
        if !ok {
            return Err(Error::Unauthenticated(
                "the current password is not right; nothing was changed".into(),
            ));
        }
        let hash = self.hasher.hash(r.new_password).await?;
        self.accounts
            .change_password(&c.user.id, &hash, Some(&keep), clock::now_ms())
            .await
    }
}

#[tonic::async_trait]
impl v1::account_service_server::AccountService for AccountApi {
    #[instrument(skip_all, fields(rpc = "CreateInvite"))]
    async fn create_invite(
        &self,
        req: Request<v1::CreateInviteRequest>,
    ) -> Result<Response<v1::Invite>, Status> {
        let src = source(&req);
        let c = self.authn.authenticate(req.metadata()).await?;
        let r = AccountApi::create_invite(self, &c, req.get_ref()).await;
        self.audit
            .record(&Actor::of(&c, src), "invites.create", "invite", &r)
            .await;
        Ok(Response::new(r?))
    }

    #[instrument(skip_all, fields(rpc = "SetDisabled"))]
    async fn set_disabled(
        &self,
        req: Request<v1::SetDisabledRequest>,
    ) -> Result<Response<v1::Empty>, Status> {
        let src = source(&req);
        let c = self.authn.authenticate(req.metadata()).await?;
        let r = AccountApi::set_disabled(self, &c, req.get_ref()).await;
        let action = if req.get_ref().disabled {
            "users.disable"
        } else {
            "users.enable"
        };
        self.audit
            .record(&Actor::of(&c, src), action, &req.get_ref().email, &r)
            .await;
        r?;
        info!(by = %c.user.id, action, "account changed");
        Ok(Response::new(v1::Empty {}))
    }

    #[instrument(skip_all, fields(rpc = "ChangePassword"))]
    async fn change_password(
        &self,
        req: Request<v1::ChangePasswordRequest>,
    ) -> Result<Response<v1::Empty>, Status> {
        let src = source(&req);
        let c = self.authn.authenticate(req.metadata()).await?;
        let r = AccountApi::change_password(self, &c, req.into_inner()).await;
        self.audit
            .record(&Actor::of(&c, src), "passwd", &c.user.email, &r)
            .await;
        r?;
        Ok(Response::new(v1::Empty {}))
    }

    #[instrument(skip_all, fields(rpc = "ListSessions"))]
    async fn list_sessions(
        &self,
        req: Request<v1::Empty>,
    ) -> Result<Response<v1::ListSessionsResponse>, Status> {
        let c = self.authn.authenticate(req.metadata()).await?;
        c.require(Scope::Read)?;
        let current = match &c.credential {
            Credential::Session { session_id, .. } => session_id.as_str(),
            Credential::ApiToken { .. } => "",
        };
        let sessions = self
            .accounts
            .sessions_of(&c.user.id, clock::now_ms())
            .await?
            .into_iter()
            .map(|s| v1::SessionInfo {
                current: s.id == current,
                created_at: Some(v1::Timestamp::from_millis(s.created_at)),
                expires_at: Some(v1::Timestamp::from_millis(s.expires_at)),
                id: s.id,
            })
            .collect();
        Ok(Response::new(v1::ListSessionsResponse { sessions }))
    }

    #[instrument(skip_all, fields(rpc = "RevokeSession"))]
    async fn revoke_session(
        &self,
        req: Request<v1::RevokeSessionRequest>,
    ) -> Result<Response<v1::Empty>, Status> {
        let src = source(&req);
        let c = self.authn.authenticate(req.metadata()).await?;
        let id = req.into_inner().session_id;
        let r = async {
            c.require(Scope::Admin)?;
            validate::token("session_id", &id)?;
            if !self
                .accounts
                .end_own_session(&c.user.id, &id, clock::now_ms())
                .await?
            {
                return Err(Error::NotFound(format!(
                    "you have no live session {id:?}; see `lattice sessions ls`"
                )));
            }
            Ok(())
        }
        .await;
        self.audit
            .record(&Actor::of(&c, src), "sessions.revoke", &id, &r)
            .await;
        r?;
        Ok(Response::new(v1::Empty {}))
    }

    #[instrument(skip_all, fields(rpc = "SendFeedback"))]
    async fn send_feedback(
        &self,
        req: Request<v1::SendFeedbackRequest>,
    ) -> Result<Response<v1::Empty>, Status> {
        let src = source(&req);
        let c = self.authn.authenticate(req.metadata()).await?;
        let message = req.into_inner().message;
        let r = async {
            c.require(Scope::Read)?;
            self.feedback
                .send(&c.user.id, &c.user.email, &message)
                .await
        }
        .await;
        self.audit
            .record(&Actor::of(&c, src), "feedback.send", "feedback", &r)
            .await;
        r?;
        Ok(Response::new(v1::Empty {}))
    }

    #[instrument(skip_all, fields(rpc = "ListFeedback"))]
    async fn list_feedback(
        &self,
        req: Request<v1::ListFeedbackRequest>,
    ) -> Result<Response<v1::ListFeedbackResponse>, Status> {
        let c = self.authn.authenticate(req.metadata()).await?;
        c.require_admin()?;
        let limit = match req.into_inner().limit {
            0 => 100,
            n => n.min(1000),
        };
        let entries = self
            .feedback
            .list(u64::from(limit))
            .await?
            .into_iter()
            .map(|f| v1::FeedbackEntry {
                at: Some(v1::Timestamp::from_millis(f.created_at)),
                email: f.email,
                message: f.message,
            })
            .collect();
        Ok(Response::new(v1::ListFeedbackResponse { entries }))
    }
}
