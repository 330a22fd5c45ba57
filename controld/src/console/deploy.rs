//! The deploy form: the CLI's own validation rules field by field, then the
//! same Deploy call the CLI makes.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lattice_proto::v1;
use lattice_proto::v1::workload_service_server::WorkloadService;
use lattice_proto::validate;
use serde::Deserialize;

use super::form::{Checked, csrf_forms};
use super::pages::workloads::{self as page, DeployForm};
use super::{St, User, refusal};

/// `?kind=` preselects a kind.
#[derive(Deserialize, Default)]
pub struct KindQuery {
    kind: Option<String>,
}

pub async fn deploy_page(user: User, Query(q): Query<KindQuery>) -> Response {
    let kind = match q.kind.as_deref() {
        Some(k @ ("postgres" | "s3" | "custom")) => k.to_string(),
        _ => "postgres".into(),
    };
    let f = DeployForm {
        kind,
        ..Default::default()
    };
    (user.jar.clone(), page::deploy(&user.viewer(), &f)).into_response()
}

/// The deploy form as posted.
#[derive(Deserialize)]
pub struct DeployPost {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    image: String,
    #[serde(default)]
    port: String,
    #[serde(default)]
    cpu: String,
    #[serde(default)]
    memory: String,
    #[serde(default)]
    env: String,
    #[serde(default)]
    command: String,
}

/// The request a form asks for, or the form again with an error per field —
/// the CLI's own rules (`lattice_proto::validate`).
fn to_request(p: &DeployPost) -> Result<v1::DeployRequest, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let mut err = |f: &str, e: String| errors.push((f.to_string(), e));
    let kind = p.kind.trim();
    if !matches!(kind, "postgres" | "s3" | "custom") {
        err("", "choose a kind: Postgres, S3 or a custom image".into());
    }
    let name = p.name.trim();
    if let Err(e) = validate::name("name", name) {
        err("name", e.rule);
    }
    let custom = kind == "custom";
    if custom && let Err(e) = validate::image(p.image.trim()) {
        err("image", e.rule);
    }
    let mut ports = Vec::new();
    if custom {
        // "80", or several: "80, 443".
        for raw in p.port.split([',', ' ']).filter(|s| !s.is_empty()) {
            match raw.parse::<u32>().ok().and_then(|n| validate::port(n).ok()) {
                Some(n) if !ports.contains(&u32::from(n)) => ports.push(u32::from(n)),
                Some(_) => {}
                None => err("port", format!("{raw:?} is not a port from 1 to 65535")),
            }
        }
    }
    let cpu = match p.cpu.trim() {
        "" => 0,
        raw => validate::parse_cpu(raw).unwrap_or_else(|e| {
            err("cpu", e.rule);
            0
        }),
    };
    let memory = match p.memory.trim() {
        "" => 0,
        raw => validate::parse_memory(raw).unwrap_or_else(|e| {
            err("memory", e.rule);
            0
        }),
    };
    let mut env = Vec::new();
    for line in p.env.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match validate::parse_env_pair(line) {
            Ok((key, value)) => env.push(v1::EnvVar { key, value }),
            Err(e) => err("env", e.rule),
        }
    }
    if let Err(e) = validate::env(env.iter().map(|v| (v.key.as_str(), v.value.as_str()))) {
        err("env", e.rule);
    }
    let command: Vec<String> = p
        .command
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if let Err(e) = validate::command(&command) {
        err("command", e.rule);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(v1::DeployRequest {
        name: name.to_string(),
        kind: kind.to_string(),
        image: if custom {
            p.image.trim().to_string()
        } else {
            String::new()
        },
        ports,
        resources: Some(v1::Resources {
            cpu_millis: cpu,
            memory_bytes: memory,
        }),
        env,
        command,
        ..Default::default()
    })
}

pub async fn deploy(State(c): St, user: User, Checked(p): Checked<DeployPost>) -> Response {
    let again = |errors: Vec<(String, String)>, status: StatusCode| {
        let f = DeployForm {
            kind: p.kind.clone(),
            name: p.name.clone(),
            image: p.image.clone(),
            port: p.port.clone(),
            cpu: p.cpu.clone(),
            memory: p.memory.clone(),
            env: p.env.clone(),
            command: p.command.clone(),
            errors,
        };
        (status, user.jar.clone(), page::deploy(&user.viewer(), &f)).into_response()
    };
    let req = match to_request(&p) {
        Ok(r) => r,
        Err(errors) => return again(errors, StatusCode::BAD_REQUEST),
    };
    let name = req.name.clone();
    // The form makes new workloads; changing one is `lattice deploy` (a new version).
    let exists = c
        .workloads
        .get(user.request(v1::GetWorkloadRequest { name: name.clone() }))
        .await
        .is_ok();
    if exists {
        return again(
            vec![(
                "name".into(),
                format!("you already have a workload named {name:?}; pick another name"),
            )],
            StatusCode::CONFLICT,
        );
    }
    match c.workloads.deploy(user.request(req)).await {
        Ok(_) => Redirect::to(&format!("/w/{name}")).into_response(),
        Err(s) if s.code() == tonic::Code::AlreadyExists => again(
            vec![("name".into(), s.message().to_string())],
            StatusCode::CONFLICT,
        ),
        Err(s) if s.code() == tonic::Code::Unauthenticated => refusal(&user, &s),
        Err(s) => again(
            vec![(String::new(), s.message().to_string())],
            StatusCode::BAD_REQUEST,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(kind: &str, name: &str) -> DeployPost {
        DeployPost {
            csrf: String::new(),
            kind: kind.into(),
            name: name.into(),
            image: String::new(),
            port: String::new(),
            cpu: String::new(),
            memory: String::new(),
            env: String::new(),
            command: String::new(),
        }
    }

    #[test]
    fn the_form_uses_the_cli_rules_field_by_field() {
        let ok = to_request(&post("postgres", "db")).unwrap();
        assert_eq!((ok.kind.as_str(), ok.name.as_str()), ("postgres", "db"));
        let mut bad = post("custom", "Bad_Name");
        bad.port = "99999".into();
        bad.memory = "lots".into();
        bad.env = "NOEQUALS".into();
        let errors = to_request(&bad).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        for f in ["name", "image", "port", "memory", "env"] {
            assert!(fields.contains(&f), "{f} missing from {errors:?}");
        }
        let mut web = post("custom", "web");
        web.image = "nginx:1.27".into();
        web.port = "80, 443".into();
        web.command = "sh\n-c\necho hi\n".into();
        let r = to_request(&web).unwrap();
        assert_eq!(r.ports, [80, 443]);
        assert_eq!(r.command, ["sh", "-c", "echo hi"]);
    }
}

csrf_forms!(DeployPost);
