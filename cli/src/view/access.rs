//! How access details look: the endpoint and credentials a program needs,
//! the URL, the environment, and the human table (secrets hidden unless
//! asked).

use std::collections::BTreeMap;

use lattice_proto::state::Kind;
use lattice_proto::v1;

use super::{endpoint_host, endpoint_text};

/// The pieces scripts need, derived from an Access answer.
pub struct AccessView {
    host: String,
    kind: Option<Kind>,
    /// The endpoint scripts use.
    pub endpoint: Option<v1::Endpoint>,
    /// Credentials by name.
    pub creds: BTreeMap<String, String>,
}

impl AccessView {
    /// The view of `acc`: the public endpoint, or with `direct` the node's own.
    pub fn new(acc: &v1::Access, direct: bool, host: &str) -> Self {
        let want = if direct { "direct" } else { "public" };
        let endpoint = acc
            .endpoints
            .iter()
            .find(|e| e.via == want)
            .or(acc.endpoints.first())
            .cloned();
        Self {
            host: host.to_string(),
            kind: Kind::parse_alias(&acc.kind),
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
            let host = endpoint_host(e, &self.host);
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

    /// The connection URL (secrets masked unless `reveal`).
    pub fn url(&self, reveal: bool) -> Option<String> {
        let hp = self.host_port()?;
        let secret = |v: &str| if reveal { v.to_string() } else { "***".into() };
        Some(match self.kind {
            Some(Kind::Postgres) => format!(
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

    /// `host:port`, or the URL for HTTP services.
    pub fn endpoint_form(&self) -> Option<String> {
        let e = self.endpoint.as_ref()?;
        if self.kind != Some(Kind::Postgres) && e.scheme == "http" {
            Some(endpoint_text(e, &self.host))
        } else {
            self.host_port()
        }
    }

    /// Environment variables a program connects with.
    pub fn env(&self) -> Vec<(String, String)> {
        let url = self.url(true).unwrap_or_default();
        match self.kind {
            Some(Kind::Postgres) => vec![
                ("DATABASE_URL".into(), url),
                (
                    "PGHOST".into(),
                    self.endpoint
                        .as_ref()
                        .map(|e| endpoint_host(e, &self.host))
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
            Some(Kind::S3) => vec![
                ("AWS_ACCESS_KEY_ID".into(), self.c("access_key").into()),
                ("AWS_SECRET_ACCESS_KEY".into(), self.c("secret_key").into()),
                ("AWS_ENDPOINT_URL".into(), url),
                ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
            ],
            _ => vec![("ENDPOINT_URL".into(), url)],
        }
    }
}

/// The human table: endpoints, credentials (secrets hidden unless asked),
/// and a ready-to-paste command.
pub fn access_rows(
    acc: &v1::Access,
    show_secrets: bool,
    host: &str,
) -> Vec<(&'static str, String)> {
    let mut rows: Vec<(&'static str, String)> = Vec::new();
    for e in &acc.endpoints {
        let (label, note) = if e.via == "public" {
            ("endpoint", "(public, through the control plane)")
        } else {
            ("direct", "(same network as the node)")
        };
        rows.push((label, format!("{}  {note}", endpoint_text(e, host))));
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
    // A line that runs as pasted: secrets come from `lattice access` itself
    // unless they are shown.
    if let Some(url) = AccessView::new(acc, false, host).url(show_secrets) {
        let name = &acc.name;
        let connect = match Kind::parse_alias(&acc.kind) {
            Some(Kind::Postgres) if show_secrets => format!("psql \"{url}\""),
            Some(Kind::Postgres) => format!("psql \"$(lattice access {name} --format url)\""),
            Some(Kind::S3) => format!(
                "eval \"$(lattice access {name} --format env)\" && aws --endpoint-url \"$AWS_ENDPOINT_URL\" s3 ls"
            ),
            _ if url.starts_with("http") => format!("curl {url}"),
            _ => url,
        };
        rows.push(("connect", connect));
    }
    rows
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
