//! Nodes and API tokens in the console: the NodeService and the token RPCs
//! of the AuthService, called in process as the signed-in user.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use lattice_proto::v1;
use lattice_proto::v1::auth_service_server::AuthService;
use lattice_proto::v1::node_service_server::NodeService;
use serde::Deserialize;

use super::form::{Checked, csrf_forms};
use super::pages::admin::{self as page, NewNode, NewToken};
use super::workloads::Posted;
use super::{St, User, refusal};

async fn show_nodes(c: &super::Console, user: &User, fresh: Option<&NewNode<'_>>) -> Response {
    let nodes = match c.nodes.list(user.request(v1::ListNodesRequest {})).await {
        Ok(r) => r.into_inner().nodes,
        Err(s) => return refusal(user, &s),
    };
    let page = page::nodes(&user.viewer(), &nodes, user.admin, fresh);
    (user.jar.clone(), page).into_response()
}

pub async fn nodes(State(c): St, user: User) -> Response {
    show_nodes(&c, &user, None).await
}

/// How many nodes there are: the join page polls it to notice a new one.
pub async fn node_count(State(c): St, user: User) -> Response {
    match c.nodes.list(user.request(v1::ListNodesRequest {})).await {
        Ok(r) => {
            let names: Vec<String> = r.into_inner().nodes.into_iter().map(|n| n.name).collect();
            Json(serde_json::json!({ "count": names.len(), "names": names })).into_response()
        }
        Err(s) => refusal(&user, &s),
    }
}

pub async fn join_token(State(c): St, user: User, Checked(_): Checked<Posted>) -> Response {
    let req = v1::CreateJoinTokenRequest {
        expires_in_seconds: 0,
    };
    let t = match c.nodes.create_join_token(user.request(req)).await {
        Ok(t) => t.into_inner(),
        Err(s) => return refusal(&user, &s),
    };
    let control = format!("https://{}", user.authority);
    let fresh = NewNode {
        token: &t.token,
        control: &control,
    };
    show_nodes(&c, &user, Some(&fresh)).await
}

pub async fn drain(
    State(c): St,
    user: User,
    Path(name): Path<String>,
    Checked(_): Checked<Posted>,
) -> Response {
    match c.nodes.drain(user.request(v1::DrainRequest { name })).await {
        Ok(_) => Redirect::to("/nodes").into_response(),
        Err(s) => refusal(&user, &s),
    }
}

async fn show_tokens(
    c: &super::Console,
    user: &User,
    fresh: Option<&NewToken<'_>>,
    error: Option<&str>,
) -> Response {
    let tokens = match c.auth.list_api_tokens(user.request(v1::Empty {})).await {
        Ok(r) => r.into_inner().tokens,
        Err(s) => return refusal(user, &s),
    };
    let page = page::tokens(&user.viewer(), &tokens, fresh, error);
    (user.jar.clone(), page).into_response()
}

pub async fn tokens(State(c): St, user: User) -> Response {
    show_tokens(&c, &user, None, None).await
}

/// The new-token form.
#[derive(Deserialize)]
pub struct NewTokenForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    expires: String,
}

pub async fn create_token(State(c): St, user: User, Checked(f): Checked<NewTokenForm>) -> Response {
    let scope = match f.scope.as_str() {
        "read" => v1::TokenScope::Read,
        "admin" => v1::TokenScope::Admin,
        _ => v1::TokenScope::Deploy,
    };
    let days: i64 = f.expires.parse().unwrap_or(30).clamp(0, 365);
    let req = v1::CreateApiTokenRequest {
        name: f.name.trim().to_string(),
        scope: scope as i32,
        expires_in_seconds: days * 86_400,
    };
    match c.auth.create_api_token(user.request(req)).await {
        Ok(r) => {
            let r = r.into_inner();
            let server = format!("https://{}", user.authority);
            let fresh = NewToken {
                secret: &r.secret,
                server: &server,
                fingerprint: &c.fingerprint,
            };
            show_tokens(&c, &user, Some(&fresh), None).await
        }
        Err(s)
            if matches!(
                s.code(),
                tonic::Code::InvalidArgument | tonic::Code::AlreadyExists
            ) =>
        {
            show_tokens(&c, &user, None, Some(s.message())).await
        }
        Err(s) => refusal(&user, &s),
    }
}

pub async fn revoke_token(
    State(c): St,
    user: User,
    Path(name): Path<String>,
    Checked(_): Checked<Posted>,
) -> Response {
    match c
        .auth
        .revoke_api_token(user.request(v1::RevokeApiTokenRequest { name }))
        .await
    {
        Ok(_) => Redirect::to("/tokens").into_response(),
        Err(s) => refusal(&user, &s),
    }
}

pub async fn help(user: User) -> Response {
    (user.jar.clone(), page::help(&user.viewer(), false, None)).into_response()
}

/// The feedback form.
#[derive(Deserialize)]
pub struct FeedbackForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    message: String,
}

pub async fn send_feedback(
    State(c): St,
    user: User,
    Checked(f): Checked<FeedbackForm>,
) -> Response {
    use lattice_proto::v1::account_service_server::AccountService;
    let req = v1::SendFeedbackRequest { message: f.message };
    match c.accounts.send_feedback(user.request(req)).await {
        Ok(_) => (user.jar.clone(), page::help(&user.viewer(), true, None)).into_response(),
        Err(s)
            if matches!(
                s.code(),
                tonic::Code::InvalidArgument | tonic::Code::ResourceExhausted
            ) =>
        {
            let page = page::help(&user.viewer(), false, Some(s.message()));
            (axum::http::StatusCode::BAD_REQUEST, user.jar.clone(), page).into_response()
        }
        Err(s) => refusal(&user, &s),
    }
}

csrf_forms!(NewTokenForm, FeedbackForm);
