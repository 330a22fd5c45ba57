//! The audit log: who did what to which thing, from where, and how it went.
//! Every mutating call and every sign-in attempt writes one row after it
//! has run; a row never holds a secret (targets are names, details are the
//! same sentences callers get). Writing is best effort: a failed write is
//! logged loudly but does not undo or fail the call it describes.

use std::net::IpAddr;
use std::time::Duration;

use lattice_proto::v1;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use tonic::{Request, Response, Status};
use tracing::{error, instrument};

use crate::auth::{Authenticator, Caller, Scope};
use crate::clock;
use crate::entity::audit_log;
use crate::error::{Error, Result};
use crate::store::retry;

/// Longest detail kept per entry.
const DETAIL_MAX: usize = 300;

/// Who acted, and from where.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// Account id, when known.
    pub id: Option<String>,
    /// Account email (as it was then), when known.
    pub email: Option<String>,
    /// Client address.
    pub source: Option<IpAddr>,
}

impl Actor {
    /// An authenticated caller.
    pub fn of(c: &Caller, source: Option<IpAddr>) -> Self {
        Self {
            id: Some(c.user.id.clone()),
            email: Some(c.user.email.clone()),
            source,
        }
    }

    /// Someone claiming an account (sign-in, sign-up): the account when it exists.
    pub fn claiming(id: Option<String>, email: &str, source: Option<IpAddr>) -> Self {
        Self {
            id,
            email: Some(email.to_string()),
            source,
        }
    }
}

/// The client address of a request.
pub fn source<T>(req: &Request<T>) -> Option<IpAddr> {
    req.remote_addr().map(|a| a.ip())
}

/// How a call ended, in the log's words, with the caller's sentence.
pub fn outcome<T>(r: &Result<T>) -> (&'static str, String) {
    match r {
        Ok(_) => ("ok", String::new()),
        Err(e) => {
            let word = match e {
                Error::Invalid(_) => "invalid",
                Error::Unauthenticated(_) | Error::Forbidden(_) => "denied",
                Error::NotFound(_) => "not_found",
                Error::AlreadyExists(_) => "exists",
                Error::FailedPrecondition(_) => "refused",
                Error::Unavailable(_) | Error::NodeDown(_) => "unavailable",
                Error::NoNode(_) => "refused",
                Error::TooManyAttempts { .. } => "throttled",
                Error::Quota(_) => "quota",
                Error::Db(_) | Error::Internal(_) => "failed",
            };
            // Internal errors' texts stay in the server log, as for callers.
            let said = match e {
                Error::Db(_) | Error::Internal(_) => "internal error".to_string(),
                other => other.to_string(),
            };
            (word, said)
        }
    }
}

/// The audit log's store.
#[derive(Clone)]
pub struct Audit {
    db: DatabaseConnection,
}

impl Audit {
    /// Over a migrated connection.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Records what a call did; `r` is its result.
    pub async fn record<T>(&self, who: &Actor, action: &str, target: &str, r: &Result<T>) {
        let (word, said) = outcome(r);
        self.write(who, action, target, word, &said).await;
    }

    /// Records an entry with an explicit outcome and detail.
    pub async fn write(
        &self,
        who: &Actor,
        action: &str,
        target: &str,
        outcome: &str,
        detail: &str,
    ) {
        let row = audit_log::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            at: Set(clock::now_ms()),
            actor_id: Set(who.id.clone()),
            actor_email: Set(who.email.clone()),
            action: Set(action.to_string()),
            target: Set(target.chars().take(320).collect()),
            source: Set(who.source.map(|s| s.to_string())),
            outcome: Set(outcome.to_string()),
            detail: Set(detail.chars().take(DETAIL_MAX).collect()),
        };
        if let Err(e) = retry(|| row.clone().insert(&self.db)).await {
            error!(error = %e, action, outcome, "could not write the audit log");
        }
    }

    /// Newest entries first; `actor` limits them to one account.
    pub async fn list(
        &self,
        actor: Option<&str>,
        action_prefix: &str,
        limit: u64,
    ) -> Result<Vec<audit_log::Model>> {
        Ok(retry(|| {
            let mut q = audit_log::Entity::find();
            if let Some(a) = actor {
                q = q.filter(audit_log::Column::ActorId.eq(a));
            }
            if !action_prefix.is_empty() {
                q = q.filter(audit_log::Column::Action.starts_with(action_prefix));
            }
            q.order_by_desc(audit_log::Column::At)
                .order_by_desc(audit_log::Column::Id)
                .limit(limit)
                .all(&self.db)
        })
        .await?)
    }

    /// Deletes entries older than `keep`; returns how many.
    pub async fn prune(&self, keep: Duration) -> Result<u64> {
        let before = clock::now_ms() - clock::ms(keep);
        let r = retry(|| {
            audit_log::Entity::delete_many()
                .filter(audit_log::Column::At.lt(before))
                .exec(&self.db)
        })
        .await?;
        Ok(r.rows_affected)
    }
}

/// The AuditService implementation.
#[derive(Clone)]
pub struct AuditApi {
    audit: Audit,
    authn: Authenticator,
}

impl AuditApi {
    /// New service.
    pub fn new(audit: Audit, authn: Authenticator) -> Self {
        Self { audit, authn }
    }
}

fn to_proto(e: audit_log::Model) -> v1::AuditEntry {
    v1::AuditEntry {
        at: Some(v1::Timestamp::from_millis(e.at)),
        actor: e.actor_email.unwrap_or_default(),
        action: e.action,
        target: e.target,
        source: e.source.unwrap_or_default(),
        outcome: e.outcome,
        detail: e.detail,
    }
}

#[tonic::async_trait]
impl v1::audit_service_server::AuditService for AuditApi {
    #[instrument(skip_all, fields(rpc = "AuditList"))]
    async fn list(
        &self,
        req: Request<v1::ListAuditRequest>,
    ) -> Result<Response<v1::ListAuditResponse>, Status> {
        let c = self.authn.authenticate(req.metadata()).await?;
        c.require(Scope::Read)?;
        let r = req.into_inner();
        if r.action_prefix.len() > 64 {
            return Err(Status::invalid_argument(
                "action_prefix is at most 64 characters",
            ));
        }
        let limit = match r.limit {
            0 => 100,
            n => u64::from(n.min(1000)),
        };
        // An admin's session sees everyone; anyone else their own account.
        let only = (!c.is_admin()).then_some(c.user.id.as_str());
        let entries = self.audit.list(only, &r.action_prefix, limit).await?;
        Ok(Response::new(v1::ListAuditResponse {
            entries: entries.into_iter().map(to_proto).collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_name_the_failure_and_hide_internals() {
        assert_eq!(outcome(&Ok::<_, Error>(())).0, "ok");
        let (w, said) = outcome::<()>(&Err(Error::Forbidden("only an admin".into())));
        assert_eq!((w, said.as_str()), ("denied", "only an admin"));
        let (w, said) = outcome::<()>(&Err(Error::internal("SELECT secret FROM x")));
        assert_eq!((w, said.as_str()), ("failed", "internal error"));
    }
}
