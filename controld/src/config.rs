//! The server's configuration as `Server::bind` takes it, and the checks
//! made on it before anything starts.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use crate::args::ServeArgs;
use crate::store;

/// Longest access-token lifetime accepted: tokens cannot be recalled, so
/// they must be short.
pub const MAX_ACCESS_TTL: Duration = Duration::from_secs(15 * 60);

/// Everything needed to serve.
#[derive(Debug, Clone)]
pub struct Config {
    /// Data directory (CA, keys, default SQLite file).
    pub data_dir: PathBuf,
    /// State store URL (see [`store::database_url`]).
    pub database_url: String,
    /// Serving flags.
    pub serve: ServeArgs,
}

impl Config {
    /// Config for `data_dir` with the documented defaults.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            database_url: store::database_url(None, &data_dir),
            data_dir,
            serve: ServeArgs::default(),
        }
    }

    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        let s = &self.serve;
        if s.access_token_ttl.is_zero() || s.access_token_ttl > MAX_ACCESS_TTL {
            bail!("--access-token-ttl must be between 1s and 15m");
        }
        if s.refresh_token_ttl < s.access_token_ttl {
            bail!("--refresh-token-ttl must be at least --access-token-ttl");
        }
        if s.metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
            bail!("--metrics-token must be at least 16 characters (e.g. `openssl rand -hex 16`)");
        }
        if s.lockout_threshold == 0 {
            bail!("--lockout-threshold must be at least 1");
        }
        Ok(())
    }

    pub(crate) fn sans(&self) -> Vec<String> {
        let mut v = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        let ip = self.serve.listen.ip();
        if !ip.is_unspecified() {
            v.push(ip.to_string());
        }
        if let Some(h) = &self.serve.public_host {
            v.push(h.clone());
        }
        v.dedup();
        let mut seen = std::collections::HashSet::new();
        v.retain(|x| seen.insert(x.clone()));
        v
    }
}
