//! Where the session lives: the OS keyring when one is usable, otherwise
//! (headless servers, CI) a 0600 file in the config dir, chosen with a
//! one-line notice. `LATTICE_TOKEN_STORE=file|keyring` forces a backend.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::config::write_private;
use crate::env;

const SERVICE: &str = "lattice";

/// A signed-in session as stored.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredSession {
    /// Short-lived bearer token.
    pub access_token: String,
    /// Its expiry (Unix ms).
    pub access_expires_at: i64,
    /// Single-use refresh token.
    pub refresh_token: String,
    /// Its expiry (Unix ms).
    pub refresh_expires_at: i64,
    /// Account email.
    pub email: String,
}

impl std::fmt::Debug for StoredSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSession")
            .field("email", &self.email)
            .field("access_token", &"***")
            .field("refresh_token", &"***")
            .finish()
    }
}

enum Backend {
    Keyring,
    File(PathBuf),
}

/// The chosen backend.
pub struct TokenStore {
    backend: Backend,
    fallback_reason: Option<String>,
}

impl TokenStore {
    /// Picks the backend: forced by env, else the keyring if it answers.
    pub fn open(config_dir: &Path) -> anyhow::Result<Self> {
        let file = Backend::File(config_dir.join("credentials.json"));
        match std::env::var(env::TOKEN_STORE).ok().as_deref() {
            Some("file") => {
                return Ok(Self {
                    backend: file,
                    fallback_reason: None,
                });
            }
            Some("keyring") => {
                return Ok(Self {
                    backend: Backend::Keyring,
                    fallback_reason: None,
                });
            }
            Some("") | None => {}
            Some(other) => bail!(
                "{}={other:?} is not supported; use `keyring` or `file`",
                env::TOKEN_STORE
            ),
        }
        match probe_keyring() {
            Ok(()) => Ok(Self {
                backend: Backend::Keyring,
                fallback_reason: None,
            }),
            Err(reason) => Ok(Self {
                backend: file,
                fallback_reason: Some(reason),
            }),
        }
    }

    /// The session for `server`, if any.
    pub fn load(&self, server: &str) -> anyhow::Result<Option<StoredSession>> {
        let raw = match &self.backend {
            Backend::Keyring => match keyring::Entry::new(SERVICE, server)?.get_password() {
                Ok(s) => Some(s),
                Err(keyring::Error::NoEntry) => None,
                Err(e) => return Err(e).context("could not read the session from the OS keyring"),
            },
            Backend::File(p) => read_file(p)?.remove(server).map(|v| v.to_string()),
        };
        raw.map(|s| {
            serde_json::from_str(&s).context("the stored session is corrupt; run `lattice login`")
        })
        .transpose()
    }

    /// Stores the session for `server`.
    pub fn save(&self, server: &str, s: &StoredSession) -> anyhow::Result<()> {
        match &self.backend {
            Backend::Keyring => keyring::Entry::new(SERVICE, server)?
                .set_password(&serde_json::to_string(s)?)
                .context("could not save the session in the OS keyring (set LATTICE_TOKEN_STORE=file to use a file)"),
            Backend::File(p) => {
                let mut all = read_file(p)?;
                all.insert(server.to_string(), serde_json::to_value(s)?);
                write_private(p, &serde_json::to_vec_pretty(&all)?)?;
                if let Some(reason) = &self.fallback_reason {
                    eprintln!("note: no OS keyring available ({reason}); session stored in {} (mode 0600)", p.display());
                }
                Ok(())
            }
        }
    }

    /// Forgets the session for `server`.
    pub fn delete(&self, server: &str) -> anyhow::Result<()> {
        match &self.backend {
            Backend::Keyring => match keyring::Entry::new(SERVICE, server)?.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(e) => Err(e).context("could not remove the session from the OS keyring"),
            },
            Backend::File(p) => {
                let mut all = read_file(p)?;
                if all.remove(server).is_some() {
                    write_private(p, &serde_json::to_vec_pretty(&all)?)?;
                }
                Ok(())
            }
        }
    }

    /// A lock file serialising refreshes between concurrent `lattice`
    /// processes, so two of them never present the same refresh token (which
    /// the server would treat as theft).
    pub fn lock_path(config_dir: &Path) -> PathBuf {
        config_dir.join("session.lock")
    }
}

fn probe_keyring() -> Result<(), String> {
    if let Err(e) = keyring::Entry::store_status() {
        return Err(e
            .to_string()
            .lines()
            .next()
            .unwrap_or("unavailable")
            .chars()
            .take(120)
            .collect());
    }
    let entry = keyring::Entry::new(SERVICE, "lattice-probe").map_err(short)?;
    match entry.get_password() {
        Ok(_) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(e) => Err(short(e)),
    }
}

fn short(e: keyring::Error) -> String {
    let s = e.to_string();
    s.lines()
        .next()
        .unwrap_or("unavailable")
        .chars()
        .take(120)
        .collect()
}

fn read_file(p: &Path) -> anyhow::Result<BTreeMap<String, serde_json::Value>> {
    match fs::read_to_string(p) {
        Ok(s) => serde_json::from_str(&s)
            .with_context(|| format!("{} is corrupt; delete it and sign in again", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e).with_context(|| format!("could not read {}", p.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredSession {
        StoredSession {
            access_token: "acc-canary".into(),
            access_expires_at: 1,
            refresh_token: "ref-canary".into(),
            refresh_expires_at: 2,
            email: "ada@example.com".into(),
        }
    }

    #[test]
    fn file_store_roundtrip_is_private() {
        let d = tempfile::tempdir().unwrap();
        let s = TokenStore {
            backend: Backend::File(d.path().join("credentials.json")),
            fallback_reason: None,
        };
        assert!(s.load("https://a:1").unwrap().is_none());
        s.save("https://a:1", &sample()).unwrap();
        s.save("https://b:1", &sample()).unwrap();
        assert_eq!(s.load("https://a:1").unwrap(), Some(sample()));
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(d.path().join("credentials.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        s.delete("https://a:1").unwrap();
        assert!(s.load("https://a:1").unwrap().is_none());
        assert!(s.load("https://b:1").unwrap().is_some());
    }

    #[test]
    fn debug_hides_tokens() {
        let d = format!("{:?}", sample());
        assert!(!d.contains("canary"), "{d}");
    }
}
