//! The control-plane address as typed (`host`, `host:port`, `https://host:port`)
//! turned into one canonical form used as the key for pins and tokens.

use anyhow::{Context, bail};
use tonic::codegen::http::Uri;

/// Port controld listens on by default.
pub const DEFAULT_PORT: u16 = 7443;

/// A parsed server address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    /// `https://host:port`.
    pub url: String,
    /// Host name or IP (no brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl ServerAddr {
    /// Parses and canonicalises.
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        let raw = raw.trim().trim_end_matches('/');
        if raw.is_empty() {
            bail!("the server address is empty; pass --server https://HOST:{DEFAULT_PORT}");
        }
        if let Some(rest) = raw.strip_prefix("http://") {
            bail!("Lattice servers only speak TLS: use https://{rest}");
        }
        let with_scheme = if raw.contains("://") {
            raw.to_string()
        } else {
            format!("https://{raw}")
        };
        let uri: Uri = with_scheme.parse().with_context(|| {
            format!("{raw:?} is not a server address; expected https://HOST:PORT")
        })?;
        if uri.scheme_str() != Some("https") {
            bail!("unsupported scheme in {raw:?}; use https://HOST:PORT");
        }
        if uri.path() != "/" && !uri.path().is_empty() {
            bail!("{raw:?} has a path; use just https://HOST:PORT");
        }
        let host = uri
            .host()
            .with_context(|| format!("{raw:?} has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(DEFAULT_PORT);
        let shown = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        Ok(Self {
            url: format!("https://{shown}:{port}"),
            host,
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_canonicalise() {
        for (raw, url) in [
            ("127.0.0.1:7443", "https://127.0.0.1:7443"),
            (
                "https://lattice.example.net",
                "https://lattice.example.net:7443",
            ),
            ("https://h:9/", "https://h:9"),
            ("[::1]:7443", "https://[::1]:7443"),
        ] {
            assert_eq!(ServerAddr::parse(raw).unwrap().url, url, "{raw}");
        }
        assert_eq!(ServerAddr::parse("[::1]:1").unwrap().host, "::1");
    }

    #[test]
    fn bad_forms_say_what_to_do() {
        assert!(
            ServerAddr::parse("http://h")
                .unwrap_err()
                .to_string()
                .contains("https://h")
        );
        assert!(ServerAddr::parse("").is_err());
        assert!(ServerAddr::parse("https://h/x").is_err());
    }
}
