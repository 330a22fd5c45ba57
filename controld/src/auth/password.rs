//! Argon2id password hashing (OWASP parameters: 19 MiB, 2 passes, 1 lane).
//! Hashing is CPU- and memory-heavy, so it runs on the blocking pool behind a
//! semaphore: a burst of logins cannot take more than `MAX_PARALLEL` × 19 MiB.

use std::sync::{Arc, OnceLock};

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;
const MAX_PARALLEL: usize = 4;

/// Hashes and verifies passwords off the async runtime.
#[derive(Clone)]
pub struct PasswordHasherPool {
    permits: Arc<Semaphore>,
}

impl Default for PasswordHasherPool {
    fn default() -> Self {
        Self {
            permits: Arc::new(Semaphore::new(MAX_PARALLEL)),
        }
    }
}

fn argon2() -> Result<Argon2<'static>> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).map_err(Error::internal)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A hash of a password nobody knows, verified against when the account does
/// not exist so that both cases take the same time.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        argon2()
            .ok()
            .and_then(|a| a.hash_password(b"lattice-no-such-account").ok())
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

impl PasswordHasherPool {
    /// Returns the PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
    pub async fn hash(&self, password: String) -> Result<String> {
        let _permit = self.permits.acquire().await.map_err(Error::internal)?;
        tokio::task::spawn_blocking(move || {
            argon2()?
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(Error::internal)
        })
        .await
        .map_err(Error::internal)?
    }

    /// Checks `password` against `hash`; with no hash (unknown account)
    /// spends the same effort and returns false.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool> {
        let _permit = self.permits.acquire().await.map_err(Error::internal)?;
        tokio::task::spawn_blocking(move || {
            let known = hash.is_some();
            let stored = hash.unwrap_or_else(|| dummy_hash().to_string());
            let parsed = PasswordHash::new(&stored).map_err(Error::internal)?;
            let ok = argon2()?
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            Ok(ok && known)
        })
        .await
        .map_err(Error::internal)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_verify_roundtrip_with_owasp_params() {
        let p = PasswordHasherPool::default();
        let h = p.hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(
            p.verify("correct horse battery".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(
            !p.verify("wrong horse battery".into(), Some(h))
                .await
                .unwrap()
        );
        assert!(
            !p.verify("lattice-no-such-account".into(), None)
                .await
                .unwrap()
        );
    }
}
