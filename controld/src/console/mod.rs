//! The web console, served by controld on the API's own address and port
//! (`serve.rs` sends browsers here, gRPC clients to the services). Every
//! page calls the same gRPC service code in process, with the browser's
//! session and address, so every rule — validation, quotas, lockout, rate
//! limits, audit, ownership — is the API's own.

mod admin;
mod auth;
mod deploy;
mod form;
mod pages;
mod session;
mod workloads;

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::CookieJar;
use lattice_proto::v1;
use lattice_proto::v1::auth_service_server::AuthService;
use tonic::transport::server::TcpConnectInfo;

use crate::auth::account_api::AccountApi;
use crate::auth::service::AuthApi;
use crate::fleet::node_service::NodeApi;
use crate::secrets::SecretBox;
use crate::workloads::service::WorkloadApi;
pub use session::Peer;
use session::{Sessions, Tokens};

/// What the console's pages call.
#[derive(Clone)]
pub struct Console {
    auth: AuthApi,
    workloads: WorkloadApi,
    nodes: NodeApi,
    accounts: AccountApi,
    /// The CA fingerprint clients pin (for the token page's CI variables).
    fingerprint: String,
    sessions: Sessions,
    /// Whether new accounts need an invite.
    invite_only: bool,
}

impl Console {
    /// The console over the services.
    pub fn new(
        (auth, workloads, nodes, accounts): (AuthApi, WorkloadApi, NodeApi, AccountApi),
        seal: SecretBox,
        fingerprint: String,
        invite_only: bool,
    ) -> Self {
        Self {
            auth,
            workloads,
            nodes,
            accounts,
            fingerprint,
            sessions: Sessions::new(seal),
            invite_only,
        }
    }
}

/// The console's routes.
pub fn router(console: Console) -> Router {
    Router::new()
        .route("/", get(workloads::dashboard))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/signup", get(auth::signup_page).post(auth::signup))
        .route("/logout", post(auth::logout))
        .route("/events", get(workloads::events))
        .route("/deploy", get(deploy::deploy_page).post(deploy::deploy))
        .route("/w/{name}", get(workloads::detail))
        .route("/w/{name}/logs", get(workloads::logs))
        .route("/w/{name}/reveal", post(workloads::reveal))
        .route(
            "/w/{name}/delete",
            get(workloads::confirm_delete).post(workloads::delete),
        )
        .route("/w/{name}/{action}", post(workloads::act))
        .route(
            "/w/{name}/rotate",
            get(workloads::confirm_rotate).post(workloads::rotate),
        )
        .route("/nodes", get(admin::nodes))
        .route("/nodes/count", get(admin::node_count))
        .route("/nodes/join-token", post(admin::join_token))
        .route("/nodes/{name}/drain", post(admin::drain))
        .route("/tokens", get(admin::tokens).post(admin::create_token))
        .route("/tokens/{name}/revoke", post(admin::revoke_token))
        .route("/help", get(admin::help).post(admin::send_feedback))
        .route("/assets/console.css", get(css))
        .route("/assets/console.js", get(js))
        .fallback(not_found)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(console)
}

/// Headers on every console response: no script or style but our own files,
/// no framing, no sniffing, no caching of pages that hold a user's data.
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    r
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("assets/console.css"),
    )
}

async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("assets/console.js"),
    )
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        pages::not_found(None, "There is no such page."),
    )
        .into_response()
}

/// A signed-in browser: its tokens (refreshed when the access token had
/// expired), who it is, its CSRF token, and the cookies to send back.
pub struct User {
    tokens: Tokens,
    email: String,
    csrf: String,
    jar: CookieJar,
    peer: Peer,
    host: String,
    /// Host and port the browser used.
    authority: String,
    /// The account is an admin.
    admin: bool,
}

impl User {
    fn viewer(&self) -> pages::Viewer<'_> {
        pages::Viewer {
            email: &self.email,
            csrf: &self.csrf,
            host: &self.host,
        }
    }

    /// A gRPC request as this user.
    fn request<T>(&self, msg: T) -> tonic::Request<T> {
        self.tokens.request(msg, &self.peer)
    }
}

/// Where a browser that is not signed in goes: the login page, which brings
/// it back to the page it asked for.
pub struct ToLogin(String);

impl IntoResponse for ToLogin {
    fn into_response(self) -> Response {
        let next = pages_next(&self.0);
        Redirect::to(&format!("/login?next={}", urlencode(&next))).into_response()
    }
}

/// A local path to return to (never another site).
fn pages_next(raw: &str) -> String {
    let ok =
        raw.starts_with('/') && !raw.starts_with("//") && !raw.contains('\\') && raw.len() < 512;
    if ok { raw.to_string() } else { "/".into() }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl FromRequestParts<Console> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &Console) -> Result<Self, Self::Rejection> {
        Ok(Peer(parts.extensions.get::<TcpConnectInfo>().cloned()))
    }
}

impl FromRequestParts<Console> for User {
    type Rejection = ToLogin;

    async fn from_request_parts(parts: &mut Parts, c: &Console) -> Result<Self, Self::Rejection> {
        let here = parts
            .uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.to_string());
        let to_login = || {
            ToLogin(if parts.method == axum::http::Method::GET {
                here.clone()
            } else {
                "/".into()
            })
        };
        let jar = CookieJar::from_headers(&parts.headers);
        let peer = Peer(parts.extensions.get::<TcpConnectInfo>().cloned());
        let mut tokens = c.sessions.open(&jar).ok_or_else(to_login)?;
        let mut jar = jar;
        let who = match c.auth.who_am_i(tokens.request(v1::Empty {}, &peer)).await {
            Ok(w) => w.into_inner(),
            Err(_) => {
                // Expired (or revoked): one refresh, as the CLI does.
                let fresh = c
                    .auth
                    .refresh(peer.request(v1::RefreshRequest {
                        refresh_token: tokens.refresh.clone(),
                    }))
                    .await
                    .map_err(|_| to_login())?
                    .into_inner();
                tokens = Tokens::of(&fresh);
                jar = c.sessions.store(jar, &tokens);
                c.auth
                    .who_am_i(tokens.request(v1::Empty {}, &peer))
                    .await
                    .map_err(|_| to_login())?
                    .into_inner()
            }
        };
        let (csrf, jar) = c.sessions.csrf(jar);
        Ok(User {
            tokens,
            email: who.email,
            csrf,
            jar,
            peer,
            host: request_host(parts).0,
            authority: request_host(parts).1,
            admin: who.role == v1::Role::Admin as i32,
        })
    }
}

/// The host name the browser used (HTTP/2 `:authority` or `Host`), and
/// that with its port.
fn request_host(parts: &Parts) -> (String, String) {
    let raw = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            parts
                .headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default();
    match raw.parse::<axum::http::uri::Authority>() {
        Ok(a) => (a.host().to_string(), a.as_str().to_string()),
        Err(_) => (String::new(), String::new()),
    }
}

/// A service refusal as a page: not found, back to login, or the sentence.
fn refusal(user: &User, s: &tonic::Status) -> Response {
    match s.code() {
        tonic::Code::NotFound => (
            StatusCode::NOT_FOUND,
            pages::not_found(Some(&user.viewer()), s.message()),
        )
            .into_response(),
        tonic::Code::Unauthenticated => ToLogin("/".into()).into_response(),
        code => {
            let status = match code {
                tonic::Code::InvalidArgument => StatusCode::BAD_REQUEST,
                tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
                tonic::Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
                tonic::Code::FailedPrecondition | tonic::Code::AlreadyExists => {
                    StatusCode::CONFLICT
                }
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            (
                status,
                pages::problem(Some(&user.viewer()), "That did not work", s.message()),
            )
                .into_response()
        }
    }
}

/// The state handlers share.
pub type St = State<Console>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_always_a_local_path() {
        assert_eq!(pages_next("/w/db"), "/w/db");
        assert_eq!(pages_next("//evil.example/"), "/");
        assert_eq!(pages_next("https://evil.example/"), "/");
        assert_eq!(pages_next("/\\evil"), "/");
        assert_eq!(urlencode("/w/a b?x=1"), "/w/a%20b%3Fx%3D1");
    }
}
