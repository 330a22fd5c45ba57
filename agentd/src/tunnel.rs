//! Dials relay data connections to controld (see [`lattice_proto::tunnel`]):
//! TCP to controld's own port, TLS that trusts only the cluster's CA with
//! ALPN `lattice-tunnel/1`, then the hello naming the stream with this
//! node's credentials. The TLS configuration is built once per CA.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use lattice_proto::{tunnel, v1};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::identity::{Shared, host_port};

/// How long connecting and the handshake may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// A TLS configuration and the CA (PEM) it trusts.
type Built = (String, Arc<rustls::ClientConfig>);

/// Opens relay data connections for this node.
#[derive(Clone)]
pub struct TunnelDialer {
    id: Shared,
    /// The TLS configuration, for the CA it was built from.
    tls: Arc<Mutex<Option<Built>>>,
}

impl TunnelDialer {
    /// A dialer for this node's identity.
    pub fn new(id: &Shared) -> Self {
        Self {
            id: id.clone(),
            tls: Arc::default(),
        }
    }

    fn config(&self, ca_pem: &str) -> anyhow::Result<Arc<rustls::ClientConfig>> {
        let mut cached = self.tls.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((pem, cfg)) = cached.as_ref()
            && pem == ca_pem
        {
            return Ok(cfg.clone());
        }
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots
                .add(cert.context("the cluster CA is not PEM")?)
                .context("the cluster CA is not a certificate")?;
        }
        let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(tunnel::provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .context("TLS protocol versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![tunnel::ALPN.to_vec()];
        let cfg = Arc::new(cfg);
        *cached = Some((ca_pem.to_string(), cfg.clone()));
        Ok(cfg)
    }

    /// Connects, says which stream this is (or, with `error`, why it
    /// cannot be served) and returns the connection for the bytes.
    pub async fn dial(
        &self,
        stream_id: &str,
        error: Option<String>,
    ) -> anyhow::Result<TlsStream<tunnel::Socket>> {
        let id = self.id.get();
        let (host, port) = host_port(&id.control)?;
        let connector = TlsConnector::from(self.config(&id.ca_pem)?);
        let name = ServerName::try_from(host.clone()).context("controld's host name")?;
        let mut tls = tokio::time::timeout(DIAL_TIMEOUT, async {
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            connector.connect(name, tunnel::ReadAhead::new(tcp)).await
        })
        .await
        .context("timed out connecting to controld")?
        .with_context(|| format!("could not open a relay connection to {host}:{port}"))?;
        let hello = v1::TunnelHello {
            stream_id: stream_id.to_string(),
            authorization: id.authorization(),
            error: error.unwrap_or_default(),
        };
        tunnel::write_hello(&mut tls, &hello).await?;
        Ok(tls)
    }
}
