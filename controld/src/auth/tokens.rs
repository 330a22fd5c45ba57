//! Token material. Access tokens are HS256 JWTs (algorithm pinned on
//! verification) signed with a key kept in the data dir. Refresh and API
//! tokens are 256-bit random strings; only their SHA-256 is stored.

use std::path::Path;

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

const ISSUER: &str = "lattice-controld";
/// Prefix of refresh tokens, so a leaked one is recognisable in a scan.
pub const REFRESH_PREFIX: &str = "lrt_";
/// Prefix of API tokens.
pub const API_TOKEN_PREFIX: &str = "lat_";

/// Claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Session id; checked against the store on every request, so logout and
    /// refresh-token reuse end the session at once.
    pub sid: String,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Always `lattice-controld`.
    pub iss: String,
}

/// Signs and verifies access tokens.
#[derive(Clone)]
pub struct AccessTokens {
    enc: EncodingKey,
    dec: DecodingKey,
}

impl AccessTokens {
    /// Loads the signing key from `<data-dir>/keys/jwt.key`, creating it once.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        crate::fsutil::create_private_dir(&data_dir.join("keys"))?;
        let key = crate::fsutil::read_or_create_secret(&data_dir.join("keys/jwt.key"), || {
            let mut k = vec![0u8; 32];
            rand::rng().fill_bytes(&mut k);
            k
        })?;
        Ok(Self::from_secret(&key))
    }

    fn from_secret(key: &[u8]) -> Self {
        Self {
            enc: EncodingKey::from_secret(key),
            dec: DecodingKey::from_secret(key),
        }
    }

    /// A token for `user_id` in `session_id`, valid until `exp_ms`.
    pub fn issue(
        &self,
        user_id: &str,
        session_id: &str,
        now_ms: i64,
        exp_ms: i64,
    ) -> Result<String> {
        let claims = Claims {
            sub: user_id.to_string(),
            sid: session_id.to_string(),
            iat: now_ms / 1000,
            exp: exp_ms / 1000,
            iss: ISSUER.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.enc)
            .map_err(Error::internal)
    }

    /// Verifies signature, algorithm, issuer and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&[ISSUER]);
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
        v.leeway = 0;
        jsonwebtoken::decode::<Claims>(token, &self.dec, &v)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => Error::Unauthenticated(
                    "access token expired; the CLI refreshes it automatically, or run `lattice login`".into(),
                ),
                _ => Error::Unauthenticated("invalid access token; run `lattice login`".into()),
            })
    }
}

/// A new random token with `prefix`: 256 bits, URL-safe base64.
pub fn random_token(prefix: &str) -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    )
}

/// What is stored for a random token: hex SHA-256. Tokens carry 256 bits of
/// entropy, so a fast hash is enough (no dictionary to attack).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_roundtrip_and_expiry() {
        let t = AccessTokens::from_secret(b"0123456789abcdef0123456789abcdef");
        let now = 1_800_000_000_000;
        let far = chrono_like_now_ms() + 60_000;
        let tok = t.issue("u1", "s1", now, far).unwrap();
        let c = t.verify(&tok).unwrap();
        assert_eq!((c.sub.as_str(), c.sid.as_str()), ("u1", "s1"));
        let expired = t
            .issue("u1", "s1", now, chrono_like_now_ms() - 5_000)
            .unwrap();
        assert!(
            t.verify(&expired)
                .unwrap_err()
                .to_string()
                .contains("expired")
        );
    }

    #[test]
    fn other_algorithms_and_keys_are_refused() {
        let t = AccessTokens::from_secret(b"0123456789abcdef0123456789abcdef");
        let other = AccessTokens::from_secret(b"another key another key another!");
        let far = chrono_like_now_ms() + 60_000;
        assert!(t.verify(&other.issue("u", "s", 0, far).unwrap()).is_err());
        // alg=none token with the same claims
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none = format!(
            "{}.{}.",
            b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(format!(
                r#"{{"sub":"u","sid":"s","exp":{},"iat":0,"iss":"lattice-controld"}}"#,
                far / 1000
            ))
        );
        assert!(t.verify(&none).is_err());
    }

    #[test]
    fn random_tokens_are_distinct_and_hashed() {
        let a = random_token(REFRESH_PREFIX);
        let b = random_token(REFRESH_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with("lrt_") && a.len() == 4 + 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }

    fn chrono_like_now_ms() -> i64 {
        crate::clock::now_ms()
    }
}
