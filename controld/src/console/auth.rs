//! Signing up, in and out. The forms post to the auth service in process,
//! with the browser's address, so the API's lockout and rate limits apply.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use lattice_proto::v1;
use lattice_proto::v1::auth_service_server::AuthService;
use serde::Deserialize;

use super::form::{Checked, csrf_forms};
use super::pages::{self, AuthForm};
use super::session::Tokens;
use super::{Peer, St, User, pages_next};

/// `?next=` on the login page.
#[derive(Deserialize, Default)]
pub struct Next {
    next: Option<String>,
}

/// The login and sign-up forms.
#[derive(Deserialize)]
pub struct Credentials {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    invite: String,
    #[serde(default)]
    next: String,
}

pub async fn login_page(State(c): St, jar: CookieJar, Query(q): Query<Next>) -> Response {
    let (csrf, jar) = c.sessions.csrf(jar);
    let next = pages_next(q.next.as_deref().unwrap_or("/"));
    let form = AuthForm {
        next: &next,
        ..Default::default()
    };
    (jar, pages::login(&csrf, &form)).into_response()
}

pub async fn signup_page(State(c): St, jar: CookieJar) -> Response {
    let (csrf, jar) = c.sessions.csrf(jar);
    (
        jar,
        pages::signup(&csrf, &AuthForm::default(), c.invite_only),
    )
        .into_response()
}

/// Field errors the form can show before asking the server.
fn check_fields(f: &Credentials, new_password: bool) -> (Option<String>, Option<String>) {
    let email = lattice_proto::validate::email(&f.email)
        .err()
        .map(|e| e.rule);
    let password = if new_password {
        lattice_proto::validate::password(&f.password)
            .err()
            .map(|e| e.rule)
    } else {
        lattice_proto::validate::login_password(&f.password)
            .err()
            .map(|e| e.rule)
    };
    (email, password)
}

pub async fn login(
    State(c): St,
    jar: CookieJar,
    peer: Peer,
    Checked(f): Checked<Credentials>,
) -> Response {
    let (csrf, jar) = c.sessions.csrf(jar);
    let next = pages_next(&f.next);
    let (email_error, password_error) = check_fields(&f, false);
    if email_error.is_some() || password_error.is_some() {
        let form = AuthForm {
            email: &f.email,
            email_error: email_error.as_deref(),
            password_error: password_error.as_deref(),
            next: &next,
            ..Default::default()
        };
        return (StatusCode::BAD_REQUEST, jar, pages::login(&csrf, &form)).into_response();
    }
    let req = peer.request(v1::LoginRequest {
        email: f.email.clone(),
        password: f.password.clone(),
    });
    match c.auth.login(req).await {
        Ok(s) => {
            let jar = c.sessions.store(jar, &Tokens::of(s.get_ref()));
            (jar, Redirect::to(&next)).into_response()
        }
        Err(s) => {
            let status = match s.code() {
                tonic::Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
                tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
                _ => StatusCode::UNAUTHORIZED,
            };
            let form = AuthForm {
                email: &f.email,
                error: Some(s.message()),
                next: &next,
                ..Default::default()
            };
            (status, jar, pages::login(&csrf, &form)).into_response()
        }
    }
}

pub async fn signup(
    State(c): St,
    jar: CookieJar,
    peer: Peer,
    Checked(f): Checked<Credentials>,
) -> Response {
    let (csrf, jar) = c.sessions.csrf(jar);
    let (email_error, password_error) = check_fields(&f, true);
    let again = |error: Option<&str>, email_error: Option<&str>, password_error: Option<&str>| {
        let form = AuthForm {
            email: &f.email,
            email_error,
            password_error,
            error,
            next: "/",
        };
        pages::signup(&csrf, &form, c.invite_only)
    };
    if email_error.is_some() || password_error.is_some() {
        let page = again(None, email_error.as_deref(), password_error.as_deref());
        return (StatusCode::BAD_REQUEST, jar, page).into_response();
    }
    let req = peer.request(v1::RegisterRequest {
        email: f.email.clone(),
        password: f.password.clone(),
        invite: f.invite.trim().to_string(),
    });
    if let Err(s) = c.auth.register(req).await {
        let page = again(Some(s.message()), None, None);
        return (StatusCode::BAD_REQUEST, jar, page).into_response();
    }
    let req = peer.request(v1::LoginRequest {
        email: f.email.clone(),
        password: f.password.clone(),
    });
    match c.auth.login(req).await {
        Ok(s) => {
            let jar = c.sessions.store(jar, &Tokens::of(s.get_ref()));
            (jar, Redirect::to("/")).into_response()
        }
        Err(_) => (jar, Redirect::to("/login")).into_response(),
    }
}

/// The logout form.
#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

pub async fn logout(State(c): St, user: User, Checked(_): Checked<CsrfOnly>) -> Response {
    // Ends the session on the server: the cookie opens nothing any more,
    // even if someone kept a copy.
    let _ = c
        .auth
        .logout(user.request(v1::LogoutRequest {
            refresh_token: user.tokens.refresh.clone(),
        }))
        .await;
    let jar = c.sessions.clear(user.jar);
    (jar, Redirect::to("/login")).into_response()
}

csrf_forms!(Credentials, CsrfOnly);
