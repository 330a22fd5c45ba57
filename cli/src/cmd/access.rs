//! `lattice access`: endpoints and credentials, owner only. The table hides
//! secrets unless asked; the script formats include them (that is what they
//! are for). The public endpoint (through controld's edge) comes first.

use std::collections::BTreeMap;

use lattice_proto::v1::{self, workload_service_client::WorkloadServiceClient};
use serde_json::json;

use crate::api::{Api, Ctx};
use crate::args::{AccessArgs, AccessFormat, Output};
use crate::error::CliError;
use crate::output;
use crate::view::{endpoint_host, endpoint_json, endpoint_text};

/// The pieces scripts need, derived from an Access answer.
struct View {
    kind: String,
    endpoint: Option<v1::Endpoint>,
    creds: BTreeMap<String, String>,
}

impl View {
    fn new(acc: &v1::Access, direct: bool) -> Self {
        let want = if direct { "direct" } else { "public" };
        let endpoint = acc
            .endpoints
            .iter()
            .find(|e| e.via == want)
            .or(acc.endpoints.first())
            .cloned();
        Self {
            kind: acc.kind.clone(),
            endpoint,
            creds: acc
                .credentials
                .iter()
                .map(|c| (c.key.clone(), c.value.clone()))
                .collect(),
        }
    }

    fn host_port(&self) -> Option<String> {
        self.endpoint.as_ref().map(|e| {
            let host = endpoint_host(e);
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host
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
        let e = self.endpoint.as_ref()?;
        if self.kind != "postgres" && e.scheme == "http" {
            Some(endpoint_text(e))
        } else {
            self.host_port()
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
                        .map(endpoint_host)
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

/// Reads (or with `rotate`, renews) a workload's access details.
pub async fn fetch_with(api: &mut Api, name: &str, rotate: bool) -> anyhow::Result<v1::Access> {
    let req = v1::GetAccessRequest {
        name: name.to_string(),
        rotate,
    };
    api.call(req, |ch, r| async move {
        WorkloadServiceClient::new(ch).get_access(r).await
    })
    .await
}

/// Reads a workload's access details.
pub async fn fetch(api: &mut Api, name: &str) -> anyhow::Result<v1::Access> {
    fetch_with(api, name, false).await
}

/// The human table: endpoints, credentials (secrets hidden unless asked),
/// and a ready-to-paste command.
pub fn print_table(acc: &v1::Access, show_secrets: bool) -> anyhow::Result<()> {
    let mut rows: Vec<(&str, String)> = Vec::new();
    for e in &acc.endpoints {
        let (label, note) = if e.via == "public" {
            ("endpoint", "(public, through the control plane)")
        } else {
            ("direct", "(same network as the node)")
        };
        rows.push((label, format!("{}  {note}", endpoint_text(e))));
    }
    if acc.endpoints.is_empty() {
        rows.push(("endpoint", "none yet (not running)".into()));
    }
    for c in &acc.credentials {
        let v = if c.secret && !show_secrets {
            "(hidden; --show-secrets)".to_string()
        } else {
            c.value.clone()
        };
        rows.push((label_of(&c.key), v));
    }
    if let Some(url) = View::new(acc, false).url(show_secrets) {
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

/// `lattice access NAME`.
pub async fn run(mut ctx: Ctx, a: AccessArgs) -> anyhow::Result<()> {
    lattice_proto::validate::name("name", &a.name).map_err(|e| CliError::Usage(e.to_string()))?;
    let mut api = Api::connect(&mut ctx).await?;
    let acc = fetch_with(&mut api, &a.name, a.rotate).await?;
    if a.rotate {
        eprintln!(
            "Issued new credentials for {}; the old ones no longer work.",
            a.name
        );
    }
    let view = View::new(&acc, a.direct);
    let need_endpoint = || {
        CliError::Other(format!(
            "{} has no endpoint yet (is it running? see `lattice status {}`)",
            a.name, a.name
        ))
    };
    let format = match (a.format, ctx.global.output) {
        (Some(f), _) => Some(f),
        (None, Output::Json) => Some(AccessFormat::Json),
        (None, Output::Table) => None,
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
        None => print_table(&acc, a.show_secrets),
    }
}

fn label_of(k: &str) -> &'static str {
    match k {
        "user" => "user",
        "password" => "password",
        "database" => "database",
        "access_key" => "access key",
        "secret_key" => "secret key",
        _ => "credential",
    }
}
