//! The relay's data path: one TLS connection per relayed TCP connection,
//! from the agent to controld's own port (ALPN [`ALPN`] tells it from gRPC
//! and the console), claimed by stream id with the node's credentials in a
//! first message ([`v1::TunnelHello`]), then raw bytes both ways — no
//! protobuf frames, no HTTP/2, as bore and rathole carry visitor data.
//!
//! [`splice`] copies both ways with half-close and holds no buffer while a
//! direction is idle: while bytes keep coming, each direction reuses one
//! buffer; the moment its source has nothing to read, the buffer is freed,
//! so a thousand idle relayed connections cost only their sockets and TLS
//! state, and a bulk transfer allocates once, not once per chunk.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::BytesMut;
use prost::Message;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::v1;

mod read_ahead;
pub use read_ahead::ReadAhead;

/// The socket under a relay data connection's TLS.
pub type Socket = ReadAhead<TcpStream>;

/// The ALPN protocol of a relay data connection.
pub const ALPN: &[u8] = b"lattice-tunnel/1";

/// The largest hello accepted.
const HELLO_MAX: usize = 4096;

/// The most one read takes in; a direction holds one such buffer only
/// while its bytes are being written.
const CHUNK: usize = 64 * 1024;

/// Writes the first message of a tunnel (length-prefixed).
pub async fn write_hello<W: AsyncWrite + Unpin>(
    w: &mut W,
    hello: &v1::TunnelHello,
) -> io::Result<()> {
    let body = hello.encode_to_vec();
    let len = u16::try_from(body.len())
        .ok()
        .filter(|l| usize::from(*l) <= HELLO_MAX)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "tunnel hello too large"))?;
    let mut msg = Vec::with_capacity(2 + body.len());
    msg.extend_from_slice(&len.to_be_bytes());
    msg.extend_from_slice(&body);
    w.write_all(&msg).await?;
    w.flush().await
}

/// Reads the first message of a tunnel.
pub async fn read_hello<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<v1::TunnelHello> {
    let len = usize::from(r.read_u16().await?);
    if len > HELLO_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "tunnel hello too large",
        ));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    v1::TunnelHello::decode(body.as_slice())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// A byte stream that can say when a read would make progress without
/// being handed a buffer.
pub trait ReadReady: AsyncRead + AsyncWrite + Unpin {
    /// Ready when a read would return data, end of stream or an error.
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

impl ReadReady for TcpStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        TcpStream::poll_read_ready(self, cx)
    }
}

/// A TLS stream is readable when rustls holds plaintext (or a
/// close_notify) — no socket read needed — or its socket is.
fn tls_read_ready(io: &Socket, wants_read: bool, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    if wants_read {
        io.poll_read_ready(cx)
    } else {
        Poll::Ready(Ok(()))
    }
}

impl ReadReady for tokio_rustls::server::TlsStream<Socket> {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (io, conn) = self.get_ref();
        tls_read_ready(io, conn.wants_read(), cx)
    }
}

impl ReadReady for tokio_rustls::client::TlsStream<Socket> {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (io, conn) = self.get_ref();
        tls_read_ready(io, conn.wants_read(), cx)
    }
}

/// The TLS 1.3 cipher suites a relay data connection offers, AES-128-GCM
/// first: the server follows the client's order, and AES-128 moves bulk
/// data faster than AES-256 with the same AES-NI hardware.
pub fn provider() -> rustls::crypto::CryptoProvider {
    use rustls::crypto::ring::cipher_suite::{
        TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384, TLS13_CHACHA20_POLY1305_SHA256,
    };
    rustls::crypto::CryptoProvider {
        cipher_suites: vec![
            TLS13_AES_128_GCM_SHA256,
            TLS13_AES_256_GCM_SHA384,
            TLS13_CHACHA20_POLY1305_SHA256,
        ],
        ..rustls::crypto::ring::default_provider()
    }
}

/// Byte counts and the time of the last byte, readable while a splice runs
/// (for an idle timeout and the closing log line).
#[derive(Debug)]
pub struct Progress {
    started: Instant,
    /// Bytes from `a` to `b`.
    pub a_to_b: AtomicU64,
    /// Bytes from `b` to `a`.
    pub b_to_a: AtomicU64,
    last_ms: AtomicU64,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            a_to_b: AtomicU64::new(0),
            b_to_a: AtomicU64::new(0),
            last_ms: AtomicU64::new(0),
        }
    }
}

impl Progress {
    /// Milliseconds since the last byte moved either way (or the start).
    pub fn idle_ms(&self) -> u64 {
        self.elapsed_ms()
            .saturating_sub(self.last_ms.load(Ordering::Relaxed))
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// Which side of a splice failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The first stream passed to [`splice`].
    A,
    /// The second.
    B,
}

/// One direction: bytes read and not yet written, and whether the source ended.
#[derive(Default)]
struct Half {
    buf: BytesMut,
    pos: usize,
    unflushed: bool,
    eof: bool,
    done: bool,
}

impl Half {
    /// Moves bytes from `src` to `dst` until it would wait; Ready when the
    /// source ended and `dst` was shut down. Errors say which side failed.
    fn poll_copy<S: ReadReady, D: ReadReady>(
        &mut self,
        cx: &mut Context<'_>,
        (src, src_side): (&mut S, Side),
        (dst, dst_side): (&mut D, Side),
        count: &AtomicU64,
        progress: &Progress,
    ) -> Poll<Result<(), Side>> {
        if self.done {
            return Poll::Ready(Ok(()));
        }
        loop {
            while self.pos < self.buf.len() {
                let n = ready!(Pin::new(&mut *dst).poll_write(cx, &self.buf[self.pos..]))
                    .map_err(|_| dst_side)?;
                if n == 0 {
                    return Poll::Ready(Err(dst_side));
                }
                self.pos += n;
                self.unflushed = true;
            }
            if self.unflushed {
                ready!(Pin::new(&mut *dst).poll_flush(cx)).map_err(|_| dst_side)?;
                self.unflushed = false;
            }
            // Written: the buffer is kept for the next read while bytes
            // keep coming, and freed below once the source goes quiet.
            self.buf.clear();
            self.pos = 0;
            if self.eof {
                self.buf = BytesMut::new();
                ready!(Pin::new(&mut *dst).poll_shutdown(cx)).map_err(|_| dst_side)?;
                self.done = true;
                return Poll::Ready(Ok(()));
            }
            let n = match self.poll_read(cx, src) {
                Poll::Pending => {
                    // Nothing to read: hold nothing while waiting for more.
                    self.buf = BytesMut::new();
                    return Poll::Pending;
                }
                Poll::Ready(r) => r.map_err(|_| src_side)?,
            };
            if n == 0 {
                self.eof = true;
                continue;
            }
            count.fetch_add(n as u64, Ordering::Relaxed);
            progress
                .last_ms
                .store(progress.elapsed_ms(), Ordering::Relaxed);
        }
    }

    /// Reads what `src` has into the (reused) buffer.
    fn poll_read<S: ReadReady>(
        &mut self,
        cx: &mut Context<'_>,
        src: &mut S,
    ) -> Poll<io::Result<usize>> {
        ready!(src.poll_read_ready(cx))?;
        self.buf.reserve(CHUNK);
        tokio_util::io::poll_read_buf(Pin::new(src), cx, &mut self.buf)
    }
}

/// Copies `a` → `b` and `b` → `a` until both directions ended (each end of
/// stream passed on as a shutdown of the other side) or one side fails.
pub async fn splice<A: ReadReady, B: ReadReady>(
    a: &mut A,
    b: &mut B,
    progress: &Progress,
) -> Result<(), Side> {
    let mut up = Half::default();
    let mut down = Half::default();
    poll_fn(|cx| {
        let u = up.poll_copy(
            cx,
            (&mut *a, Side::A),
            (&mut *b, Side::B),
            &progress.a_to_b,
            progress,
        )?;
        let d = down.poll_copy(
            cx,
            (&mut *b, Side::B),
            (&mut *a, Side::A),
            &progress.b_to_a,
            progress,
        )?;
        match (u, d) {
            (Poll::Ready(()), Poll::Ready(())) => Poll::Ready(Ok(())),
            _ => Poll::Pending,
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A connected pair of loopback sockets.
    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (a, b) = tokio::join!(TcpStream::connect(addr), l.accept());
        (a.unwrap(), b.unwrap().0)
    }

    #[tokio::test]
    async fn splice_carries_both_ways_and_passes_each_half_close_on() {
        // client <-> (x | splice | y) <-> server
        let (mut client, mut x) = pair().await;
        let (mut y, mut server) = pair().await;
        let relay = tokio::spawn(async move {
            let p = Progress::default();
            let r = splice(&mut x, &mut y, &p).await;
            (
                r,
                p.a_to_b.load(Ordering::Relaxed),
                p.b_to_a.load(Ordering::Relaxed),
            )
        });
        let big = vec![7u8; 3 << 20];
        let send = big.clone();
        let up = tokio::spawn(async move {
            client.write_all(&send).await.unwrap();
            client.shutdown().await.unwrap();
            // Half-closed: the answer still arrives.
            let mut back = Vec::new();
            client.read_to_end(&mut back).await.unwrap();
            back
        });
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), big.len(), "every byte up, then the end");
        server.write_all(b"done").await.unwrap();
        server.shutdown().await.unwrap();
        assert_eq!(up.await.unwrap(), b"done");
        let (r, a_to_b, b_to_a) = relay.await.unwrap();
        assert_eq!(r, Ok(()));
        assert_eq!((a_to_b, b_to_a), (3 << 20, 4));
    }

    #[tokio::test]
    async fn hello_round_trips_and_an_oversized_one_is_refused() {
        let (mut a, mut b) = pair().await;
        let h = v1::TunnelHello {
            stream_id: "s1".into(),
            authorization: "Node n.secret".into(),
            error: String::new(),
        };
        write_hello(&mut a, &h).await.unwrap();
        assert_eq!(read_hello(&mut b).await.unwrap(), h);
        a.write_all(&u16::MAX.to_be_bytes()).await.unwrap();
        let e = read_hello(&mut b).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}
