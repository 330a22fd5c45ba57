//! Certificate helpers both ends agree on: how a fingerprint is computed and
//! written, and how a DER certificate is written as PEM. controld prints the
//! fingerprint at start; the CLI shows the same string before pinning.

use base64::Engine;
use sha2::Digest;

/// `sha256:` followed by the lower-case hex SHA-256 of the DER bytes.
pub fn fingerprint(der: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(der)))
}

/// Normalises a fingerprint typed by a person: case, the `SHA256:` prefix
/// and `:` separators are ignored.
pub fn normalise_fingerprint(raw: &str) -> String {
    let lower = raw.trim().to_ascii_lowercase();
    let hexpart = lower.strip_prefix("sha256:").unwrap_or(&lower);
    format!("sha256:{}", hexpart.replace(':', ""))
}

/// A DER certificate as a PEM block.
pub fn certificate_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_normalise() {
        let f = fingerprint(b"abc");
        assert_eq!(f.len(), "sha256:".len() + 64);
        assert_eq!(normalise_fingerprint(&f.to_uppercase()), f);
        let colons = f.as_bytes()["sha256:".len()..]
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(normalise_fingerprint(&colons), f);
    }

    #[test]
    fn pem_wraps_at_64() {
        let pem = certificate_pem(&[7u8; 100]);
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(pem.lines().all(|l| l.len() <= 64));
    }
}
