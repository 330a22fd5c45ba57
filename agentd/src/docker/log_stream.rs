//! A container's log stream read straight off Docker's Unix socket, with
//! the HTTP connection driven inside the reader's own poll.
//!
//! Docker flushes every log line as an HTTP chunk of its own. Through
//! bollard, hyper's connection runs as a task of its own and hands the body
//! over one chunk at a time, on demand: following a flood costs two task
//! wakeups per line, and that was most of the agent's CPU per line. Here the
//! reader polls the connection itself, so the lines already in the socket's
//! buffer are taken in one go. HTTP/1.1 and the chunked encoding are still
//! hyper's; what is read here is Docker's stream format (an 8-byte header
//! per message: stream, three zero bytes, big-endian length).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use bollard::container::LogOutput;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::{Body, Incoming};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

/// What to read of a container's logs (Docker's `/containers/{id}/logs`).
#[derive(Debug, Clone)]
pub struct LogQuery<'a> {
    /// The container's name.
    pub container: &'a str,
    /// Keep reading as the container writes.
    pub follow: bool,
    /// Prefix every line with Docker's time of it.
    pub timestamps: bool,
    /// A line count or `all`.
    pub tail: &'a str,
    /// Unix seconds; 0 for all.
    pub since: i64,
    /// A TTY's output is one raw stream, not Docker's stream format.
    pub tty: bool,
}

/// The Unix socket the agent reaches Docker on, if it reaches it over one.
pub fn unix_socket() -> Option<PathBuf> {
    super::socket_description()
        .strip_prefix("unix://")
        .map(PathBuf::from)
}

/// Largest message Docker's stream may carry: its log lines come in
/// pieces of at most 16 KiB; anything far larger is not a log stream.
const MAX_MESSAGE: usize = 1 << 20;

/// How long Docker may take to answer a log read (bollard's own limit).
const OPEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Most of an error response kept for its message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// A container's log messages, whichever way they are read.
pub type Logs = futures_util::stream::BoxStream<'static, Result<LogOutput, String>>;

impl super::Docker {
    /// Opens `q`: off Docker's Unix socket by [`LogStream`] where the agent
    /// reaches Docker over one, else (or for a TTY) through bollard.
    pub async fn logs(&self, q: &LogQuery<'_>) -> Result<Logs, String> {
        if !q.tty
            && let Some(socket) = unix_socket()
        {
            return Ok(Box::pin(LogStream::open(&socket, q).await?));
        }
        let opts = bollard::query_parameters::LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .timestamps(q.timestamps)
            .follow(q.follow)
            .tail(q.tail)
            .since(i32::try_from(q.since).unwrap_or(0))
            .build();
        let logs = self.inner.logs(q.container, Some(opts));
        Ok(Box::pin(logs.map(|r| {
            r.map_err(|e| format!("Docker stopped serving logs: {e}"))
        })))
    }
}

type Conn = http1::Connection<TokioIo<UnixStream>, Empty<Bytes>>;

/// A container's log messages, in order, as bollard would give them.
pub struct LogStream {
    conn: Pin<Box<Conn>>,
    conn_done: bool,
    /// How the connection failed, if it did: reported once the body has
    /// handed over what it already holds.
    conn_error: Option<String>,
    /// The connection's request side; one request is ever sent on it.
    _send: http1::SendRequest<Empty<Bytes>>,
    body: Incoming,
    ended: bool,
    demux: Demux,
}

impl LogStream {
    /// Asks Docker at `socket` for the logs `q` names; Docker's refusal
    /// (an unknown container, a bad option) is the error.
    pub async fn open(socket: &Path, q: &LogQuery<'_>) -> Result<Self, String> {
        tokio::time::timeout(OPEN_TIMEOUT, Self::open_now(socket, q))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "Docker did not answer a log read within {} s",
                    OPEN_TIMEOUT.as_secs()
                ))
            })
    }

    async fn open_now(socket: &Path, q: &LogQuery<'_>) -> Result<Self, String> {
        if q.container.is_empty()
            || !q
                .container
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
            || !q.tail.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(format!("not a container name: {:?}", q.container));
        }
        let io = UnixStream::connect(socket)
            .await
            .map_err(|e| format!("cannot reach Docker at {}: {e}", socket.display()))?;
        let (mut send, conn) = http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| format!("cannot talk to Docker: {e}"))?;
        let mut conn = Box::pin(conn);
        let uri = format!(
            "/containers/{}/logs?stdout=1&stderr=1&follow={}&timestamps={}&tail={}&since={}",
            q.container,
            u8::from(q.follow),
            u8::from(q.timestamps),
            q.tail,
            q.since
        );
        let req = hyper::Request::get(uri)
            .header(hyper::header::HOST, "docker")
            .body(Empty::new())
            .map_err(|e| format!("bad log request: {e}"))?;
        // The connection has to run for the request to go out.
        let resp = tokio::select! {
            biased;
            r = send.send_request(req) => r.map_err(|e| format!("Docker did not answer: {e}"))?,
            c = conn.as_mut() => {
                return Err(match c {
                    Ok(()) => "Docker closed the connection".to_string(),
                    Err(e) => format!("Docker's connection failed: {e}"),
                });
            }
        };
        let status = resp.status();
        let stream = Self {
            conn,
            conn_done: false,
            conn_error: None,
            _send: send,
            body: resp.into_body(),
            ended: false,
            demux: Demux::default(),
        };
        if !status.is_success() {
            return Err(stream.refusal(status).await);
        }
        Ok(stream)
    }

    /// Docker's message for a refused request (`{"message": "..."}`).
    async fn refusal(self, status: hyper::StatusCode) -> String {
        let Self { mut conn, body, .. } = self;
        let read = Limited::new(body, MAX_ERROR_BODY).collect();
        let bytes = tokio::select! {
            biased;
            b = read => b.map(|c| c.to_bytes()).unwrap_or_default(),
            _ = conn.as_mut() => Bytes::new(),
        };
        let message = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_string());
        format!("Docker refused the log read ({status}): {message}")
    }

    /// The body's next chunk, polling the connection in this same task
    /// whenever the body has nothing ready.
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, String>>> {
        let mut conn_waiting = false;
        loop {
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Ready(None) => return Poll::Ready(self.conn_error.take().map(Err)),
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Some(Err(format!("Docker's log stream failed: {e}"))));
                }
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => return Poll::Ready(Some(Ok(data))),
                    Err(_trailers) => continue,
                },
                Poll::Pending => {}
            }
            // Nothing ready: let the connection read on, then look once more
            // (it may have handed over a chunk before it stopped).
            if conn_waiting || self.conn_done {
                return Poll::Pending;
            }
            match self.conn.as_mut().poll(cx) {
                Poll::Ready(Ok(())) => self.conn_done = true,
                Poll::Ready(Err(e)) => {
                    self.conn_done = true;
                    self.conn_error = Some(format!("Docker's connection failed: {e}"));
                }
                Poll::Pending => conn_waiting = true,
            }
        }
    }
}

impl Stream for LogStream {
    type Item = Result<LogOutput, String>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            match this.demux.next() {
                Ok(Some(out)) => return Poll::Ready(Some(Ok(out))),
                Ok(None) => {}
                Err(e) => {
                    this.ended = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
            match this.poll_chunk(cx) {
                Poll::Ready(Some(Ok(data))) => this.demux.push(data),
                Poll::Ready(Some(Err(e))) => {
                    this.ended = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    this.ended = true;
                    if !this.demux.is_empty() {
                        return Poll::Ready(Some(Err(
                            "Docker's log stream ended inside a message".into(),
                        )));
                    }
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Docker's stream format cut out of the body's chunks: a message wholly
/// inside a chunk is handed on without a copy; one that spans chunks is
/// put together.
#[derive(Default)]
struct Demux {
    /// The rest of the chunk being read.
    cur: Bytes,
    /// A message begun in one chunk and continued in the next.
    buf: BytesMut,
}

impl Demux {
    fn push(&mut self, data: Bytes) {
        if self.buf.is_empty() && self.cur.is_empty() {
            self.cur = data;
        } else {
            self.buf.extend_from_slice(&data);
        }
    }

    fn next(&mut self) -> Result<Option<LogOutput>, String> {
        if !self.buf.is_empty() {
            return take_message(&mut self.buf);
        }
        let out = take_message(&mut self.cur)?;
        if out.is_none() && !self.cur.is_empty() {
            // A message the next chunk continues.
            self.buf.extend_from_slice(&self.cur);
            self.cur.clear();
        }
        Ok(out)
    }

    fn is_empty(&self) -> bool {
        self.cur.is_empty() && self.buf.is_empty()
    }
}

/// Bytes a message can be taken off without a copy where it can.
trait Input {
    fn bytes(&self) -> &[u8];
    fn take(&mut self, n: usize) -> Bytes;
}

impl Input for Bytes {
    fn bytes(&self) -> &[u8] {
        self
    }
    fn take(&mut self, n: usize) -> Bytes {
        self.split_to(n)
    }
}

impl Input for BytesMut {
    fn bytes(&self) -> &[u8] {
        self
    }
    fn take(&mut self, n: usize) -> Bytes {
        self.split_to(n).freeze()
    }
}

/// Takes the next whole message of Docker's stream format off `buf`.
fn take_message(buf: &mut impl Input) -> Result<Option<LogOutput>, String> {
    let Some(header) = buf.bytes().get(..8) else {
        return Ok(None);
    };
    let stream = header[0];
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if header[1..4] != [0, 0, 0] || stream > 3 || len > MAX_MESSAGE {
        return Err("Docker's log stream is not in its stream format".into());
    }
    if buf.bytes().len() < 8 + len {
        return Ok(None);
    }
    let _header = buf.take(8);
    let message = buf.take(len);
    Ok(Some(match stream {
        0 => LogOutput::StdIn { message },
        1 => LogOutput::StdOut { message },
        // 3 is Docker's own: what went wrong reading the log (a damaged
        // log file), sent where it happened; the read goes on.
        _ => LogOutput::StdErr { message },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream: u8, text: &str) -> Vec<u8> {
        let mut f = vec![stream, 0, 0, 0];
        f.extend_from_slice(&(text.len() as u32).to_be_bytes());
        f.extend_from_slice(text.as_bytes());
        f
    }

    #[test]
    fn messages_come_whole_across_any_split() {
        let mut all = frame(1, "one\n");
        all.extend(frame(2, "two\n"));
        all.extend(frame(1, ""));
        all.extend(frame(3, "Error grabbing logs: x\n"));
        for cut in 0..all.len() {
            for second in cut..all.len() {
                let mut d = Demux::default();
                let mut got = Vec::new();
                for part in [&all[..cut], &all[cut..second], &all[second..]] {
                    d.push(Bytes::copy_from_slice(part));
                    while let Some(m) = d.next().unwrap() {
                        got.push(m);
                    }
                }
                assert!(d.is_empty(), "cuts at {cut} and {second}");
                assert!(matches!(&got[..], [
                    LogOutput::StdOut { message: a },
                    LogOutput::StdErr { message: b },
                    LogOutput::StdOut { message: c },
                    LogOutput::StdErr { message: d },
                ] if a == "one\n" && b == "two\n" && c.is_empty()
                    && d.starts_with(b"Error grabbing")));
            }
        }
    }

    #[test]
    fn a_stream_that_is_not_docker_format_is_an_error() {
        let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\n"[..]);
        assert!(take_message(&mut buf).is_err());
        let mut bytes = Bytes::from_static(b"HTTP/1.1 200 OK\r\n");
        assert!(take_message(&mut bytes).is_err());
        let mut huge = BytesMut::from(&[1u8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff][..]);
        assert!(take_message(&mut huge).is_err(), "a length past the bound");
    }
}
