//! Certificate helpers both ends agree on: how a fingerprint is computed and
//! written, and how a DER certificate is written as PEM. controld prints the
//! fingerprint at start; the CLI shows the same string before pinning.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::Digest;
use tokio::net::TcpStream;

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

/// Builds a node join token, `LJT.<secret>.<ca fingerprint hex>`: it carries
/// the CA fingerprint so the agent can verify controld before sending it.
pub fn join_token(secret: &str, fingerprint: &str) -> String {
    let fp = normalise_fingerprint(fingerprint);
    format!("LJT.{secret}.{}", fp.trim_start_matches("sha256:"))
}

/// Splits a join token into its secret and the CA fingerprint (`sha256:…`).
pub fn parse_join_token(token: &str) -> Option<(&str, String)> {
    let mut parts = token.trim().split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("LJT"), Some(secret), Some(fp), None) if !secret.is_empty() && !fp.is_empty() => {
            Some((secret, normalise_fingerprint(fp)))
        }
        _ => None,
    }
}

/// The certificate a server presents as its trust anchor (the last of its
/// chain: controld's CA), learnt before trusting it.
#[derive(Debug, Clone)]
pub struct Presented {
    /// PEM of the anchor.
    pub pem: String,
    /// Its fingerprint.
    pub fingerprint: String,
}

/// Why the chain could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No TCP connection.
    #[error("{0}")]
    Connect(std::io::Error),
    /// The TLS handshake failed.
    #[error("TLS handshake failed ({0}); is it a Lattice server?")]
    Handshake(std::io::Error),
    /// It took too long.
    #[error("timed out connecting")]
    Timeout,
    /// The server presented no certificate.
    #[error("the server presented no certificate")]
    NoCertificate,
    /// Bad host name or TLS setup.
    #[error("{0}")]
    Setup(String),
}

/// Records the chain instead of verifying it. Used only to learn what a
/// server presents; nothing is sent over a connection verified this way.
#[derive(Debug)]
struct Recorder {
    chain: Mutex<Vec<CertificateDer<'static>>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        if let Ok(mut g) = self.chain.lock() {
            *g = chain;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Connects to `host:port` and returns the anchor certificate it presents.
pub async fn fetch_presented(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<Presented, FetchError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let recorder = Arc::new(Recorder {
        chain: Mutex::new(Vec::new()),
        provider: provider.clone(),
    });
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FetchError::Setup(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| FetchError::Setup(format!("invalid host {host:?}")))?;
    let probe = async {
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(FetchError::Connect)?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(FetchError::Handshake)?;
        drop(tls);
        Ok::<(), FetchError>(())
    };
    tokio::time::timeout(timeout, probe)
        .await
        .map_err(|_| FetchError::Timeout)??;
    let chain = recorder.chain.lock().map(|c| c.clone()).unwrap_or_default();
    let anchor = chain.last().ok_or(FetchError::NoCertificate)?;
    Ok(Presented {
        pem: certificate_pem(anchor),
        fingerprint: fingerprint(anchor),
    })
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
    fn join_tokens_roundtrip() {
        let fp = fingerprint(b"ca");
        let t = join_token("s3cr3t", &fp);
        assert!(t.starts_with("LJT.s3cr3t."));
        assert_eq!(parse_join_token(&t), Some(("s3cr3t", fp)));
        for bad in ["LJT..00", "LJT.a.", "lat_abc", "LJT.a.b.c", ""] {
            assert_eq!(parse_join_token(bad), None, "{bad}");
        }
    }

    #[test]
    fn pem_wraps_at_64() {
        let pem = certificate_pem(&[7u8; 100]);
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(pem.lines().all(|l| l.len() <= 64));
    }
}
