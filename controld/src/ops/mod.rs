//! What operators and their tools read: `/healthz` (the process serves),
//! `/readyz` (it can do its job: the store answers and it is not shutting
//! down) and `/metrics` (Prometheus text). On the API's port, `/metrics`
//! wants `Authorization: Bearer <--metrics-token>`; `--metrics-listen` serves
//! all three over plain HTTP on an address of their own (keep it local or on
//! a monitoring network), as Consul and Nomad do.

pub mod metrics;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use subtle::ConstantTimeEq;

pub use metrics::Metrics;

use crate::fleet::Fleet;
use crate::repo::Repo;

/// How long readiness waits for the store.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// What the operator endpoints read.
#[derive(Clone)]
pub struct Ops {
    /// The server's metrics.
    pub metrics: Arc<Metrics>,
    /// The store.
    pub repo: Repo,
    /// The fleet (live agent streams, shutdown).
    pub fleet: Arc<Fleet>,
    /// Bearer token `/metrics` wants; None = not served here.
    pub token: Option<Arc<str>>,
}

/// `/healthz`, `/readyz` and `/metrics`.
pub fn router(ops: Ops) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(ops)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(ops): State<Ops>) -> Response {
    if ops.fleet.is_closing() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match tokio::time::timeout(READY_TIMEOUT, ops.repo.ping()).await {
        Ok(Ok(())) => "ready\n".into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database does not answer\n",
            )
                .into_response()
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the database did not answer within 2s\n",
        )
            .into_response(),
    }
}

async fn metrics(State(ops): State<Ops>, headers: HeaderMap) -> Response {
    if let Some(want) = &ops.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !bool::from(given.as_bytes().ct_eq(want.as_bytes())) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "metrics need Authorization: Bearer <the --metrics-token value>\n",
            )
                .into_response();
        }
    }
    match ops.metrics.render(&ops.repo, &ops.fleet).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "could not render metrics");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database does not answer\n",
            )
                .into_response()
        }
    }
}

/// The operator endpoints on the API's port: health for everyone, metrics
/// only with the token (without one, nothing is served at `/metrics` there).
pub fn on_api_port(ops: Ops) -> Router {
    if ops.token.is_some() {
        return router(ops);
    }
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(ops)
}

/// Serves [`router`] over plain HTTP on `listener` until `shutdown`.
pub async fn serve_plain(
    listener: tokio::net::TcpListener,
    ops: Ops,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let ops = Ops { token: None, ..ops };
    axum::serve(listener, router(ops))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
