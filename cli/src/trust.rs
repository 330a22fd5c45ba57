//! Trust on first use, as ssh does: the first time the CLI meets a server it
//! fetches the certificate chain the server presents, shows the fingerprint
//! of the chain's last certificate (controld's CA) and pins that certificate
//! as the only trust anchor for the server from then on. A different
//! certificate later is refused with a message that says how to re-trust.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use lattice_proto::pki;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;

use crate::server::ServerAddr;

/// The certificate a server presents as its trust anchor.
#[derive(Debug, Clone)]
pub struct Presented {
    /// PEM of the chain's last certificate.
    pub pem: String,
    /// Its fingerprint.
    pub fingerprint: String,
}

/// Records the chain instead of verifying it. Only used to learn what the
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

/// Connects and returns the anchor certificate the server presents.
pub async fn fetch(addr: &ServerAddr) -> anyhow::Result<Presented> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let recorder = Arc::new(Recorder {
        chain: Mutex::new(Vec::new()),
        provider: provider.clone(),
    });
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let name = ServerName::try_from(addr.host.clone())
        .with_context(|| format!("invalid host {:?}", addr.host))?;
    let probe = async {
        let tcp = TcpStream::connect((addr.host.as_str(), addr.port))
            .await
            .map_err(|e| crate::error::unreachable(addr, &e))?;
        let tls = connector.connect(name, tcp).await.with_context(|| {
            format!(
                "TLS handshake with {} failed; is it a Lattice server?",
                addr.url
            )
        })?;
        drop(tls);
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(10), probe)
        .await
        .map_err(|_| anyhow::anyhow!("timed out connecting to {}", addr.url))??;
    let chain = recorder.chain.lock().map(|c| c.clone()).unwrap_or_default();
    let anchor = chain
        .last()
        .context("the server presented no certificate")?;
    Ok(Presented {
        pem: pki::certificate_pem(anchor),
        fingerprint: pki::fingerprint(anchor),
    })
}

/// How the user lets us trust a new certificate.
pub struct Consent<'a> {
    /// `--trust-fingerprint`.
    pub expected: Option<&'a str>,
    /// `--yes`.
    pub yes: bool,
}

/// Decides whether to trust `p` for `addr`: a matching expected fingerprint,
/// `--yes`, or a "yes" typed at a terminal. Without a terminal, fails at once
/// naming the flags.
pub fn confirm(addr: &ServerAddr, p: &Presented, consent: &Consent<'_>) -> anyhow::Result<()> {
    if let Some(exp) = consent.expected {
        let exp = pki::normalise_fingerprint(exp);
        if exp == p.fingerprint {
            return Ok(());
        }
        bail!(
            "the server at {} presents certificate {} but you expected {exp}; not trusting it",
            addr.url,
            p.fingerprint
        );
    }
    if consent.yes {
        eprintln!(
            "Trusting {} with certificate fingerprint {}",
            addr.url, p.fingerprint
        );
        return Ok(());
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        bail!(
            "{} is not trusted yet and there is no terminal to ask. Compare its fingerprint {} with what \
             lattice-controld printed at start (or `<data-dir>/ca-fingerprint` on the server), then pass \
             --trust-fingerprint {} (or LATTICE_TRUST_FINGERPRINT), or --yes",
            addr.url,
            p.fingerprint,
            p.fingerprint
        );
    }
    let mut err = std::io::stderr();
    writeln!(
        err,
        "The authenticity of the Lattice server {} can't be established.",
        addr.url
    )?;
    writeln!(err, "Its certificate fingerprint is {}.", p.fingerprint)?;
    writeln!(
        err,
        "Compare it with what lattice-controld printed at start (or `<data-dir>/ca-fingerprint` on the server)."
    )?;
    write!(err, "Trust this server? [y/N] ")?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        bail!("not trusting {}", addr.url)
    }
}

/// The error for a pinned certificate that no longer matches.
pub fn changed(addr: &ServerAddr, pinned: &str, now: &str) -> anyhow::Error {
    anyhow::Error::new(crate::error::CliError::CertificateChanged(format!(
        "the certificate of {} has CHANGED since you trusted it (pinned {pinned}, now {now}). This happens when \
         the server was reinstalled, or when someone is intercepting the connection. If you expected it, check \
         the new fingerprint with the server's operator, then run `lattice trust --replace --trust-fingerprint {now}`",
        addr.url
    )))
}
