//! A read-ahead buffer under TLS that exists only while it holds bytes.
//!
//! rustls reads the socket 4 KiB at a time, so a bulk transfer costs one
//! system call per 4 KiB. [`ReadAhead`] reads up to 64 KiB per call and
//! hands rustls its 4 KiB from memory; once drained its buffer is freed, so
//! an idle connection holds none (a `tokio::io::BufReader` keeps its buffer
//! for the connection's life: 64 KiB per idle relayed connection per side).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

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
            let mut fresh = BytesMut::with_capacity(AHEAD);
            // Pending drops `fresh`: nothing is held while waiting.
            ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut this.inner),
                cx,
                &mut fresh
            ))?;
            this.buf = fresh;
        }
        let n = out.remaining().min(this.buf.len());
        out.put_slice(&this.buf[..n]);
        this.buf.advance(n);
        if this.buf.is_empty() {
            this.buf = BytesMut::new();
        }
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
}
