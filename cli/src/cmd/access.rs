//! `lattice access`: endpoints and credentials, owner only. The table hides
//! secrets unless asked; the script formats include them (that is what they
//! are for).

use std::collections::BTreeMap;

use lattice_proto::v1::{self, workload_service_client::WorkloadServiceClient};
use serde_json::json;

use super::workloads::{endpoint_json, endpoint_text};
use crate::api::{Api, Ctx};
use crate::args::{AccessArgs, AccessFormat};
use crate::error::CliError;
use crate::output;

/// The pieces scripts need, derived from an Access answer.
struct View {
    kind: String,
    endpoint: Option<v1::Endpoint>,
    creds: BTreeMap<String, String>,
}

impl View {
    fn host_port(&self) -> Option<String> {
        self.endpoint.as_ref().map(|e| {
            let host = if e.host.contains(':') {
                format!("[{}]", e.host)
            } else {
                e.host.clone()
            };
            format!("{host}:{}", e.port)
        })
    }

    fn c(&self, k: &str) -> &str {
        self.creds.get(k).map_or("", String::as_str)
    }

    fn url(&self, reveal: bool) -> Option<String> {
        let hp = self.host_port()?;
        let secret = |v: &str| if reveal { v.to_string() } else { "***".into() };
        Some(match self.kind.as_str() {
            "postgres" => format!(
                "postgres://{}:{}@{hp}/{}",
                self.c("user"),
                secret(self.c("password")),
                self.c("database")
            ),
            _ => format!(
                "{}://{hp}",
                self.endpoint.as_ref().map_or("tcp", |e| e.scheme.as_str())
            ),
        })
    }

    fn endpoint_form(&self) -> Option<String> {
        match self.kind.as_str() {
            "postgres" => self.host_port(),
            _ => self.endpoint.as_ref().map(|e| {
                if e.scheme == "http" {
                    endpoint_text(e)
                } else {
                    self.host_port().unwrap_or_default()
                }
            }),
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        let url = self.url(true).unwrap_or_default();
        match self.kind.as_str() {
            "postgres" => vec![
                ("DATABASE_URL".into(), url),
                (
                    "PGHOST".into(),
                    self.endpoint
                        .as_ref()
                        .map(|e| e.host.clone())
                        .unwrap_or_default(),
                ),
                (
                    "PGPORT".into(),
                    self.endpoint
                        .as_ref()
                        .map(|e| e.port.to_string())
                        .unwrap_or_default(),
                ),
                ("PGUSER".into(), self.c("user").into()),
                ("PGPASSWORD".into(), self.c("password").into()),
                ("PGDATABASE".into(), self.c("database").into()),
            ],
            "s3" => vec![
                ("AWS_ACCESS_KEY_ID".into(), self.c("access_key").into()),
                ("AWS_SECRET_ACCESS_KEY".into(), self.c("secret_key").into()),
                ("AWS_ENDPOINT_URL".into(), url),
                ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
            ],
            _ => vec![("ENDPOINT_URL".into(), url)],
        }
    }
}

/// `lattice access NAME`.
pub async fn run(mut ctx: Ctx, a: AccessArgs) -> anyhow::Result<()> {
    lattice_proto::validate::name("name", &a.name).map_err(|e| CliError::Usage(e.to_string()))?;
    let mut api = Api::connect(&mut ctx).await?;
    let req = v1::GetAccessRequest {
        name: a.name.clone(),
        rotate: false,
    };
    let acc = api
        .call(req, |ch, r| async move {
            WorkloadServiceClient::new(ch).get_access(r).await
        })
        .await?;
    let view = View {
        kind: acc.kind.clone(),
        endpoint: acc
            .endpoints
            .iter()
            .find(|e| e.via == "public")
            .or(acc.endpoints.first())
            .cloned(),
        creds: acc
            .credentials
            .iter()
            .map(|c| (c.key.clone(), c.value.clone()))
            .collect(),
    };
    let need_endpoint = || {
        CliError::Other(format!(
            "{} has no endpoint yet (is it running? see `lattice status {}`)",
            a.name, a.name
        ))
    };
    let format = match (a.format, ctx.global.output) {
        (Some(f), _) => Some(f),
        (None, crate::args::Output::Json) => Some(AccessFormat::Json),
        (None, crate::args::Output::Table) => None,
    };
    match format {
        Some(AccessFormat::Url) => output::line(view.url(true).ok_or_else(need_endpoint)?),
        Some(AccessFormat::Endpoint) => {
            output::line(view.endpoint_form().ok_or_else(need_endpoint)?)
        }
        Some(AccessFormat::Env) => {
            if view.endpoint.is_none() {
                return Err(need_endpoint().into());
            }
            for (k, v) in view.env() {
                output::line(format!("{k}={v}"))?;
            }
            Ok(())
        }
        Some(AccessFormat::Json) => output::json(&json!({
            "name": acc.name,
            "kind": acc.kind,
            "endpoints": acc.endpoints.iter().map(endpoint_json).collect::<Vec<_>>(),
            "credentials": view.creds,
            "url": view.url(true),
        })),
        None => {
            let mut rows: Vec<(&str, String)> = Vec::new();
            for e in &acc.endpoints {
                let label = if e.via == "public" {
                    "endpoint"
                } else {
                    "direct"
                };
                let note = if e.via == "public" {
                    "(public, through the control plane)"
                } else {
                    "(same network as the node)"
                };
                rows.push((label, format!("{}  {note}", endpoint_text(e))));
            }
            if acc.endpoints.is_empty() {
                rows.push(("endpoint", "none yet (not running)".into()));
            }
            for c in &acc.credentials {
                let v = if c.secret && !a.show_secrets {
                    "(hidden; --show-secrets)".to_string()
                } else {
                    c.value.clone()
                };
                rows.push((leak(&c.key), v));
            }
            if let Some(url) = view.url(a.show_secrets) {
                let connect = match acc.kind.as_str() {
                    "postgres" => format!("psql \"{url}\""),
                    "s3" => format!("aws --endpoint-url {url} s3 ls"),
                    _ if url.starts_with("http") => format!("curl {url}"),
                    _ => url,
                };
                rows.push(("connect", connect));
            }
            output::key_values(&rows)
        }
    }
}

/// Credential keys are a small fixed set; give them a 'static lifetime for the table.
fn leak(k: &str) -> &'static str {
    match k {
        "user" => "user",
        "password" => "password",
        "database" => "database",
        "access_key" => "access key",
        "secret_key" => "secret key",
        _ => "credential",
    }
}
