//! Workload credentials at rest: XChaCha20-Poly1305 under a master key kept
//! in `<data-dir>/keys/master.key` (created on first start, mode 0600). The
//! workload id is bound as associated data, so a ciphertext copied to another
//! row does not decrypt.

use std::path::Path;

use base64::Engine;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{Key, KeyInit, XChaCha20Poly1305, XNonce};
use rand::RngCore;

use crate::error::{Error, Result};

const NONCE_LEN: usize = 24;

/// Encrypts and decrypts credentials.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl SecretBox {
    /// Loads the master key, creating it once.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        crate::fsutil::create_private_dir(&data_dir.join("keys"))?;
        let key = crate::fsutil::read_or_create_secret(&data_dir.join("keys/master.key"), || {
            let mut k = vec![0u8; 32];
            rand::rng().fill_bytes(&mut k);
            k
        })?;
        let key: [u8; 32] = key
            .as_slice()
            .try_into()
            .map_err(|_| anyhow::anyhow!("keys/master.key must be exactly 32 bytes"))?;
        Ok(Self::from_key(key))
    }

    fn from_key(key: [u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(&Key::from(key)),
        }
    }

    /// `base64(nonce || ciphertext)` of `plain`, bound to `aad`.
    pub fn seal(&self, aad: &str, plain: &[u8]) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| Error::internal("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(base64::engine::general_purpose::STANDARD.encode(out))
    }

    /// Reverses [`SecretBox::seal`].
    pub fn open(&self, aad: &str, sealed: &str) -> Result<Vec<u8>> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| Error::internal("stored credentials are not valid base64"))?;
        if raw.len() < NONCE_LEN {
            return Err(Error::internal("stored credentials are truncated"));
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(Error::internal)?;
        self.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| Error::internal("stored credentials do not decrypt (wrong master key?)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_binding() {
        let b = SecretBox::from_key([7; 32]);
        let s = b.seal("w1", b"hunter2hunter2").unwrap();
        assert!(!s.contains("hunter2"));
        assert_eq!(b.open("w1", &s).unwrap(), b"hunter2hunter2");
        assert!(b.open("w2", &s).is_err(), "bound to its workload");
        assert!(SecretBox::from_key([8; 32]).open("w1", &s).is_err());
        assert_ne!(
            b.seal("w1", b"x").unwrap(),
            b.seal("w1", b"x").unwrap(),
            "fresh nonce each time"
        );
    }

    #[test]
    fn master_key_is_private_and_stable() {
        let d = tempfile::tempdir().unwrap();
        let a = SecretBox::load_or_create(d.path()).unwrap();
        let sealed = a.seal("w", b"v").unwrap();
        let b = SecretBox::load_or_create(d.path()).unwrap();
        assert_eq!(b.open("w", &sealed).unwrap(), b"v");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.path().join("keys/master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
