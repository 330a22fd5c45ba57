//! Workload pages and their live updates (Server-Sent Events over the
//! Watch and Logs streams, so a status change or a log line reaches the
//! page as it happens).

use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::{Stream, StreamExt};
use lattice_proto::v1;
use lattice_proto::v1::workload_service_server::WorkloadService;
use lattice_proto::validate;
use serde::Deserialize;

use super::form::{Checked, csrf_forms};
use super::pages::workloads as page;
use super::{St, User, refusal};

pub async fn dashboard(State(c): St, user: User) -> Response {
    use lattice_proto::v1::node_service_server::NodeService;
    let nodes = c
        .nodes
        .list(user.request(v1::ListNodesRequest {}))
        .await
        .map_or(0, |r| r.get_ref().nodes.len());
    let first = page::FirstRun {
        nodes,
        admin: user.admin,
    };
    match c
        .workloads
        .list(user.request(v1::ListWorkloadsRequest {}))
        .await
    {
        Ok(r) => {
            let page = page::dashboard(
                &user.viewer(),
                &r.get_ref().workloads,
                crate::clock::now_ms(),
                &first,
            );
            (user.jar.clone(), page).into_response()
        }
        Err(s) => refusal(&user, &s),
    }
}

/// One workload event as the page's script reads it.
fn event_json(e: &v1::WorkloadEvent, host: &str) -> Option<String> {
    let w = e.workload.as_ref()?;
    let v = serde_json::json!({
        "kind": e.kind,
        "name": w.name,
        "workload_kind": w.kind,
        "status": lattice_proto::state::Status::name_of(w.status),
        "message": w.status_message,
        "node": w.node,
        "endpoint": page::endpoint(w, host),
        "created_ms": w.created_at.as_ref().map_or(0, |t| t.unix_millis),
    });
    Some(v.to_string())
}

fn sse(s: impl Stream<Item = Result<Event, Infallible>> + Send + 'static) -> Response {
    Sse::new(s).keep_alive(KeepAlive::default()).into_response()
}

/// Every change to the user's workloads, as it happens.
pub async fn events(State(c): St, user: User) -> Response {
    let watch = match c
        .workloads
        .watch(user.request(v1::WatchRequest {
            name: String::new(),
        }))
        .await
    {
        Ok(w) => w.into_inner(),
        Err(s) => return refusal(&user, &s),
    };
    let host = user.host.clone();
    let stream = watch
        .take_while(|r| std::future::ready(r.is_ok()))
        .filter_map(move |r| {
            let host = host.clone();
            async move { r.ok().as_ref().and_then(|e| event_json(e, &host)) }
        })
        .map(|json| Ok(Event::default().event("workload").data(json)));
    sse(stream)
}

/// The log tail, then every new line.
pub async fn logs(State(c): St, user: User, Path(name): Path<String>) -> Response {
    let req = v1::LogsRequest {
        name,
        tail: Some(200),
        follow: true,
        ..Default::default()
    };
    let lines = match c.workloads.logs(user.request(req)).await {
        Ok(l) => l.into_inner(),
        Err(s) => return refusal(&user, &s),
    };
    let stream = lines
        .take_while(|r| std::future::ready(r.is_ok()))
        .filter_map(|r| async move { r.ok() })
        .map(|l| {
            Ok(Event::default()
                .event("line")
                .data(l.line.replace(['\r', '\n'], " ")))
        });
    sse(stream)
}

async fn show(c: &super::Console, user: &User, name: String, reveal: bool) -> Response {
    show_with(c, user, name, reveal, false).await
}

async fn show_with(
    c: &super::Console,
    user: &User,
    name: String,
    reveal: bool,
    rotate: bool,
) -> Response {
    // Access first: a rotation changes the status the page then shows.
    let access = if reveal {
        let req = v1::GetAccessRequest {
            name: name.clone(),
            rotate,
        };
        match c.workloads.get_access(user.request(req)).await {
            Ok(a) => Some(a.into_inner()),
            Err(s) => return refusal(user, &s),
        }
    } else {
        None
    };
    let d = match c
        .workloads
        .get(user.request(v1::GetWorkloadRequest { name }))
        .await
    {
        Ok(d) => d.into_inner(),
        Err(s) => return refusal(user, &s),
    };
    (
        user.jar.clone(),
        page::detail(&user.viewer(), &d, access.as_ref()),
    )
        .into_response()
}

pub async fn detail(State(c): St, user: User, Path(name): Path<String>) -> Response {
    show(&c, &user, name, false).await
}

/// Forms that carry only the CSRF token (and, for delete, purge).
#[derive(Deserialize)]
pub struct Posted {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    purge: Option<String>,
}

pub async fn reveal(
    State(c): St,
    user: User,
    Path(name): Path<String>,
    Checked(_): Checked<Posted>,
) -> Response {
    show(&c, &user, name, true).await
}

pub async fn act(
    State(c): St,
    user: User,
    Path((name, action)): Path<(String, String)>,
    Checked(_): Checked<Posted>,
) -> Response {
    let r = v1::WorkloadRef { name: name.clone() };
    let res = match action.as_str() {
        "stop" => c.workloads.stop(user.request(r)).await,
        "start" => c.workloads.start(user.request(r)).await,
        "restart" => c.workloads.restart(user.request(r)).await,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match res {
        Ok(_) => Redirect::to(&format!("/w/{name}")).into_response(),
        Err(s) => refusal(&user, &s),
    }
}

/// A confirmation page for `name`, when it could be a workload's name.
fn confirm(
    user: &User,
    name: &str,
    page: fn(&super::pages::Viewer, &str) -> maud::Markup,
) -> Response {
    if validate::name("name", name).is_err() {
        let gone = tonic::Status::not_found("That workload does not exist.");
        return refusal(user, &gone);
    }
    (user.jar.clone(), page(&user.viewer(), name)).into_response()
}

pub async fn confirm_delete(user: User, Path(name): Path<String>) -> Response {
    confirm(&user, &name, page::confirm_delete)
}

pub async fn delete(
    State(c): St,
    user: User,
    Path(name): Path<String>,
    Checked(f): Checked<Posted>,
) -> Response {
    let req = v1::DeleteRequest {
        name,
        purge: f.purge.is_some(),
    };
    match c.workloads.delete(user.request(req)).await {
        Ok(_) => Redirect::to("/").into_response(),
        Err(s) => refusal(&user, &s),
    }
}

pub async fn confirm_rotate(user: User, Path(name): Path<String>) -> Response {
    confirm(&user, &name, page::confirm_rotate)
}

pub async fn rotate(
    State(c): St,
    user: User,
    Path(name): Path<String>,
    Checked(_): Checked<Posted>,
) -> Response {
    show_with(&c, &user, name, true, true).await
}

csrf_forms!(Posted);
