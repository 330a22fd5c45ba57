//! Persistent CLI state: which server is current and, per server, the pinned
//! certificate and last email. Lives in `$LATTICE_CONFIG_DIR` (default: the
//! OS config dir + `lattice`), written atomically with mode 0600.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::env;

/// What we remember about one server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerEntry {
    /// `sha256:…` of the pinned certificate.
    pub fingerprint: String,
    /// The pinned certificate (PEM), used as the only trust anchor.
    pub ca_pem: String,
    /// Last email signed in with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// The config file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Config {
    /// The server used when none is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    /// Known servers by canonical URL.
    #[serde(default)]
    pub servers: BTreeMap<String, ServerEntry>,
}

/// The config directory.
pub fn dir() -> anyhow::Result<PathBuf> {
    if let Some(d) = std::env::var_os(env::CONFIG_DIR).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    dirs::config_dir()
        .map(|d| d.join("lattice"))
        .with_context(|| format!("cannot find a config directory; set {}", env::CONFIG_DIR))
}

impl Config {
    /// Loads the config (empty if none yet).
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let p = dir.join("config.json");
        match fs::read_to_string(&p) {
            Ok(s) => serde_json::from_str(&s)
                .with_context(|| format!("{} is not valid; fix or delete it", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("could not read {}", p.display())),
        }
    }

    /// Saves the config atomically.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        write_private(&dir.join("config.json"), &serde_json::to_vec_pretty(self)?)
    }
}

/// Creates `dir` with mode 0700 if missing.
pub fn ensure_dir(dir: &Path) -> anyhow::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("could not create {}", dir.display()))
}

/// Atomic write with mode 0600 (temp file in the same dir, then rename).
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().context("path has no parent")?;
    ensure_dir(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("could not write in {}", dir.display()))?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o600))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("could not write {}", path.display()))?;
    Ok(())
}
