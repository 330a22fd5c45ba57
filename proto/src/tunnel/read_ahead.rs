//! A read-ahead buffer under TLS that exists only while it holds bytes.
//!
//! rustls reads the socket 4 KiB at a time, so a bulk transfer costs one
//! system call per 4 KiB. [`ReadAhead`] reads up to 64 KiB per call and
//! hands rustls its 4 KiB from memory. The buffer is reused while the socket
//! has bytes and freed as soon as a read would wait, so an idle connection
//! holds none (a `tokio::io::BufReader` keeps its buffer for the
//! connection's life: 64 KiB per idle relayed connection per side).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Bytes read from the socket in one call.
const AHEAD: usize = 64 * 1024;

/// `inner` with reads ahead of the reader; writes pass straight through.
#[derive(Debug)]
pub struct ReadAhead<T> {
    inner: T,
    buf: BytesMut,
}

impl<T> ReadAhead<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            buf: BytesMut::new(),
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }
}

impl ReadAhead<TcpStream> {
    /// Ready when a read would make progress: bytes held, or the socket readable.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.buf.is_empty() {
            self.inner.poll_read_ready(cx)
        } else {
            Poll::Ready(Ok(()))
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ReadAhead<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.buf.is_empty() {
            if out.remaining() >= AHEAD {
                // A large read gains nothing from a copy.
                return Pin::new(&mut this.inner).poll_read(cx, out);
            }
            // Drained, the buffer's whole allocation is reused (no copy).
            this.buf.reserve(AHEAD);
            match tokio_util::io::poll_read_buf(Pin::new(&mut this.inner), cx, &mut this.buf) {
                Poll::Pending => {
                    // Nothing is held while waiting.
                    this.buf = BytesMut::new();
                    return Poll::Pending;
                }
                Poll::Ready(r) => {
                    r?;
                    if this.buf.is_empty() {
                        // End of stream: nothing more will come.
                        this.buf = BytesMut::new();
                    }
                }
            }
        }
        let n = out.remaining().min(this.buf.len());
        out.put_slice(&this.buf[..n]);
        this.buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ReadAhead<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn small_reads_are_served_from_one_large_read_and_nothing_is_kept() {
        let (mut w, r) = tokio::io::duplex(1 << 20);
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        w.write_all(&data).await.unwrap();
        drop(w);
        let mut r = ReadAhead::new(r);
        let mut got = Vec::new();
        let mut small = [0u8; 4096];
        loop {
            let n = r.read(&mut small).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&small[..n]);
        }
        assert_eq!(got, data);
        assert_eq!(r.buf.capacity(), 0, "drained: the buffer is freed");
    }

    #[tokio::test]
    async fn a_connection_waiting_for_bytes_holds_no_buffer() {
        let (mut w, r) = tokio::io::duplex(1 << 20);
        w.write_all(&[7u8; 10_000]).await.unwrap();
        let mut r = ReadAhead::new(r);
        let mut small = [0u8; 4096];
        let mut got = 0;
        while got < 10_000 {
            got += r.read(&mut small).await.unwrap();
        }
        // The peer is quiet: the next read waits, and holds nothing.
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(50), r.read(&mut small));
        assert!(waiting.await.is_err(), "nothing to read yet");
        assert_eq!(r.buf.capacity(), 0, "a waiting read frees the buffer");
        // Bytes again: served as before.
        w.write_all(b"more").await.unwrap();
        let n = r.read(&mut small).await.unwrap();
        assert_eq!(&small[..n], b"more");
    }
}
