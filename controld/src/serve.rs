//! One port, one certificate, three audiences: gRPC clients (the CLI,
//! agents), browsers (the console) and agents' relay data connections. TLS
//! offers h2, http/1.1 and `lattice-tunnel/1` by ALPN; a tunnel goes to the
//! relay, a request whose content type is `application/grpc…` to the gRPC
//! services, anything else to the console — as Nomad and Consul serve their
//! UI from the API's own listener.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use lattice_proto::tunnel::{ReadAhead, Socket};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tonic::transport::server::TcpConnectInfo;
use tower::ServiceExt;
use tracing::debug;

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The rustls configuration for the listener: the chain and key, h2 and
/// http/1.1 offered by ALPN.
pub fn tls_config(chain_pem: &str, key_pem: &str) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("the TLS certificate chain is not PEM")?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .context("the TLS private key is not PEM")?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .context("invalid TLS certificate or key")?;
    cfg.alpn_protocols = vec![
        b"h2".to_vec(),
        b"http/1.1".to_vec(),
        lattice_proto::tunnel::ALPN.to_vec(),
    ];
    Ok(Arc::new(cfg))
}

/// Whether a request is a gRPC call.
pub fn is_grpc<B>(req: &axum::http::Request<B>) -> bool {
    req.headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// Serves `grpc` and `console` on `listener`, and hands relay data
/// connections to `tunnel`, until `shutdown` resolves, then lets open
/// connections finish (the caller bounds how long).
pub async fn serve<T, F>(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    (grpc, console): (axum::Router, axum::Router),
    tunnel: T,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()>
where
    T: Fn(TlsStream<Socket>, SocketAddr) -> F + Clone + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let acceptor = TlsAcceptor::from(tls);
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http2()
        .timer(TokioTimer::new())
        // Each relayed connection and log follow is one HTTP/2 stream on its
        // agent's connection: the usual cap of 200 would queue them.
        .max_concurrent_streams(65_536)
        // Relayed bulk transfers need more than HTTP/2's default 64 KiB
        // window per stream; size windows to the measured bandwidth-delay.
        .adaptive_window(true)
        .keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(20));
    let http = Arc::new(http);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let local = tcp.local_addr().ok();
        let info = TcpConnectInfo {
            local_addr: local,
            remote_addr: Some(remote),
        };
        let (acceptor, grpc, console, http, tunnel) = (
            acceptor.clone(),
            grpc.clone(),
            console.clone(),
            http.clone(),
            tunnel.clone(),
        );
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(ReadAhead::new(tcp)))
                    .await
                {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        debug!(%remote, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        debug!(%remote, "TLS handshake timed out");
                        return;
                    }
                };
            if stream.get_ref().1.alpn_protocol() == Some(lattice_proto::tunnel::ALPN) {
                // Not an HTTP connection: graceful shutdown does not wait for it.
                return tunnel(stream, remote).await;
            }
            let svc = hyper::service::service_fn(move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(info.clone());
                let req = req.map(Body::new);
                let router = if is_grpc(&req) {
                    grpc.clone()
                } else {
                    console.clone()
                };
                async move {
                    Ok::<_, Infallible>(router.oneshot(req).await.unwrap_or_else(|e| match e {}))
                }
            });
            let conn = http.serve_connection_with_upgrades(TokioIo::new(stream), svc);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                debug!(%remote, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The peer of a request served by [`serve`].
pub fn remote_addr<B>(req: &axum::http::Request<B>) -> Option<SocketAddr> {
    req.extensions()
        .get::<TcpConnectInfo>()
        .and_then(|i| i.remote_addr)
}
