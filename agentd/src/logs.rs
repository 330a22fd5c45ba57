//! Serves one `OpenLogStream` request: opens a byte stream back to controld
//! and copies the container's log lines into it. The channel is bounded, so
//! a slow reader at the far end slows our reads from Docker instead of
//! growing memory.

use std::time::UNIX_EPOCH;

use bollard::container::LogOutput;
use futures_util::StreamExt;
use lattice_proto::v1;
use prost::Message;
use tokio::sync::{Semaphore, mpsc};
use tracing::debug;

use crate::docker::{Docker, LogQuery, Logs};
use crate::owned::NodeEngine;
use crate::stream::Dialer;

/// Splits Docker's `2026-11-26T01:02:03.123456789Z message` into a time
/// (Unix ms), a sortable cursor (zero-padded Unix ns) and the message.
pub fn parse_line(raw: &str) -> (i64, String, String) {
    let (ts, rest) = raw.split_once(' ').unwrap_or(("", raw));
    match humantime::parse_rfc3339(ts) {
        Ok(t) => {
            let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
            (
                i64::try_from(d.as_millis()).unwrap_or(0),
                format!("{:020}", u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
                rest.to_string(),
            )
        }
        Err(_) => (0, String::new(), raw.to_string()),
    }
}

/// Most log bytes put in one frame.
const CHUNK_BYTES: usize = 32 * 1024;

/// How long a frame waits for more lines before it goes out unfilled (a
/// follower sees a new line at most this much later).
const COALESCE: std::time::Duration = std::time::Duration::from_millis(2);

/// Longest line kept whole: a container that writes without newlines gets
/// its output cut into lines of this size, so the agent's buffer stays bounded.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Docker's timestamp at the start of `s` ("TS " included), if there is one.
fn timestamp_prefix(s: &str) -> Option<&str> {
    let (ts, _) = s.split_once(' ')?;
    humantime::parse_rfc3339(ts).ok()?;
    Some(&s[..=ts.len()])
}

/// Streams the logs of `req.workload_id` to controld until they end, the
/// far end goes away, or Docker fails. Lines go out in chunks of whatever
/// Docker has ready (never one tiny frame per line), and the stream ends
/// only after controld has read the end marker, so the end never overtakes
/// the data.
pub async fn serve(dialer: Dialer, engine: Option<NodeEngine>, req: v1::OpenLogStream) {
    let (tx, rx) = mpsc::channel::<v1::StreamFrame>(8);
    let first = v1::StreamFrame {
        stream_id: req.stream_id.clone(),
        ..Default::default()
    };
    if tx.send(first).await.is_err() {
        return;
    }
    let opened = match dialer.open(rx).await {
        Ok(o) => o,
        Err(e) => {
            debug!(error = %format!("{e:#}"), "could not open the log stream");
            return;
        }
    };
    let (credit, done) = opened.follow_credit();
    let end = match engine {
        Some(engine) => match engine.container(&req.workload_id).await {
            Ok((name, inspect)) => {
                let tty = inspect.config.and_then(|c| c.tty).unwrap_or(false);
                // Whole reads on their own thread; a TTY's read goes through
                // bollard, whose pooled connections belong on the agent's
                // own runtime.
                let own_thread = !req.follow && !tty;
                let (docker, req, tx, credit) = (
                    engine.docker.clone(),
                    req.clone(),
                    tx.clone(),
                    credit.clone(),
                );
                let pumped = async move { pump(&docker, &name, tty, &req, &tx, &credit).await };
                match own_thread.then(reader_runtime).flatten() {
                    Some(rt) => rt
                        .spawn(pumped)
                        .await
                        .unwrap_or_else(|_| End::Error("the log reader stopped".into())),
                    None => pumped.await,
                }
            }
            Err(e) => End::Error(e),
        },
        None => End::Error("Docker is unavailable on this node".into()),
    };
    let last = match end {
        End::Done => v1::StreamFrame {
            eof: true,
            ..Default::default()
        },
        End::Error(error) => v1::StreamFrame {
            error,
            ..Default::default()
        },
        End::ReaderGone => return,
    };
    let _ = tx.send(last).await;
    drop(tx);
    // Our side is finished; dropping the call before controld ends its own
    // would reset the stream and discard frames it has not read yet.
    let _ = done.await;
}

/// The thread whole reads run on: a runtime of its own, on one thread. A
/// read is bound by the agent, and there it runs hot instead of handing
/// off between the agent's workers. None if the thread could not start.
fn reader_runtime() -> Option<&'static tokio::runtime::Handle> {
    static RT: std::sync::OnceLock<Option<tokio::runtime::Handle>> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        // The runtime is made on its thread and never dropped on ours (a
        // runtime may not be dropped inside another).
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("log-readers".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    let _ = tx.send(None);
                    return;
                };
                let _ = tx.send(Some(rt.handle().clone()));
                rt.block_on(std::future::pending::<()>());
            })
            .ok()?;
        rx.recv().ok().flatten()
    })
    .as_ref()
}

/// How the copy from Docker ended.
enum End {
    /// Every line was sent.
    Done,
    /// Docker failed.
    Error(String),
    /// Controld (or its reader) went away.
    ReaderGone,
}

async fn pump(
    docker: &Docker,
    container: &str,
    tty: bool,
    req: &v1::OpenLogStream,
    tx: &mpsc::Sender<v1::StreamFrame>,
    credit: &Semaphore,
) -> End {
    let tail = req
        .tail
        .map_or_else(|| "all".to_string(), |n| n.to_string());
    let query = LogQuery {
        container,
        follow: req.follow,
        timestamps: !req.without_times,
        tail: &tail,
        since: req.since_unix_millis / 1000,
        tty,
    };
    let opened = tokio::select! {
        l = docker.logs(&query) => l,
        _ = tx.closed() => return End::ReaderGone,
    };
    let mut logs = match opened {
        Ok(logs) => logs,
        Err(e) => return End::Error(e),
    };
    let mut lines = Lines::new(req.since_unix_millis, !req.without_times);
    loop {
        // Wait for the next output (or the reader going away)…
        let item = tokio::select! {
            i = logs.next() => i,
            _ = tx.closed() => return End::ReaderGone,
        };
        let mut ended = item.is_none();
        // A failure still sends the lines read before it.
        let mut failed = None;
        if let Some(item) = item {
            // …then take what Docker has ready or has within a moment, up to
            // a chunk: full frames instead of a line or two each.
            match lines.push(item) {
                Ok(()) => match gather(&mut logs, &mut lines).await {
                    Ok(end) => ended = end,
                    Err(e) => failed = Some(e),
                },
                Err(e) => failed = Some(e),
            }
        }
        if ended || failed.is_some() {
            lines.finish();
        }
        if let Some(frame) = lines.take_frame()
            && !send_with_credit(tx, credit, frame).await
        {
            debug!("log reader went away");
            return End::ReaderGone;
        }
        if let Some(e) = failed {
            return End::Error(e);
        }
        if ended {
            return End::Done;
        }
    }
}

/// Fills the frame after its first line with what Docker has ready or has
/// within [`COALESCE`]; true when the output ended. The timer is armed only
/// once the output runs dry.
///
/// Tried and dropped: sleeping a moment and then taking everything that
/// came, to wake once per batch instead of once per line. Docker's socket
/// holds only about 270 of its one-line writes, so even a 1 ms sleep
/// stalls Docker during a flood (0.85× `docker logs -f` against 1.03×).
async fn gather(logs: &mut Logs, lines: &mut Lines) -> Result<bool, String> {
    // Polled only when the output is not ready (biased), so registered only then.
    let deadline = tokio::time::sleep(COALESCE);
    tokio::pin!(deadline);
    while lines.pending_bytes < CHUNK_BYTES {
        let item = tokio::select! {
            biased;
            i = logs.next() => i,
            () = &mut deadline => break,
        };
        let Some(item) = item else {
            return Ok(true);
        };
        lines.push(item)?;
    }
    Ok(false)
}

/// Sends a data frame once controld has granted room for it; false when
/// controld (or its reader) went away.
async fn send_with_credit(
    tx: &mpsc::Sender<v1::StreamFrame>,
    credit: &Semaphore,
    frame: v1::StreamFrame,
) -> bool {
    let permit = tokio::select! {
        p = credit.acquire() => p,
        _ = tx.closed() => return false,
    };
    match permit {
        Ok(p) => p.forget(),
        Err(_) => return false,
    }
    tx.send(frame).await.is_ok()
}

/// Docker's output cut into lines, collected into the next frame.
struct Lines {
    since_unix_millis: i64,
    /// Docker prefixes every line (and every piece of a long one) with its
    /// time; without, a line's text is taken as it is.
    timed: bool,
    partial: String,
    stream: &'static str,
    chunk: v1::LogChunk,
    pending_bytes: usize,
}

impl Lines {
    fn new(since_unix_millis: i64, timed: bool) -> Self {
        Self {
            since_unix_millis,
            timed,
            partial: String::new(),
            stream: "stdout",
            chunk: v1::LogChunk::default(),
            pending_bytes: 0,
        }
    }

    fn push(&mut self, item: Result<LogOutput, String>) -> Result<(), String> {
        let (stream, bytes) = match item {
            Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                ("stdout", message)
            }
            Ok(LogOutput::StdErr { message }) => ("stderr", message),
            Ok(_) => return Ok(()),
            Err(e) => return Err(e),
        };
        self.stream = stream;
        let text = String::from_utf8_lossy(&bytes);
        let mut text = &text[..];
        if !self.partial.is_empty() {
            // Docker splits a long line into partial messages, each with its
            // own timestamp: a continuation drops it (the line keeps its first).
            if let Some(ts) = self.docker_time(text) {
                text = &text[ts.len()..];
            }
            let Some(nl) = text.find('\n') else {
                self.partial.push_str(text);
                self.cut_long_line();
                return Ok(());
            };
            self.partial.push_str(&text[..=nl]);
            let raw = std::mem::take(&mut self.partial);
            self.line(&raw);
            text = &text[nl + 1..];
        }
        // Whole lines straight from Docker's buffer; only an unterminated
        // end is kept.
        while let Some(nl) = text.find('\n') {
            self.line(&text[..=nl]);
            text = &text[nl + 1..];
        }
        self.partial.push_str(text);
        self.cut_long_line();
        Ok(())
    }

    /// Emits the unterminated line in pieces of [`MAX_LINE_BYTES`], each
    /// with the line's timestamp, keeping only the remainder.
    fn cut_long_line(&mut self) {
        while self.partial.len() > MAX_LINE_BYTES {
            let ts = self.docker_time(&self.partial).unwrap_or("").to_string();
            let mut cut = MAX_LINE_BYTES;
            while !self.partial.is_char_boundary(cut) {
                cut -= 1;
            }
            let piece: String = self.partial.drain(..cut).collect();
            self.line(&piece);
            self.partial.insert_str(0, &ts);
        }
    }

    /// Docker's time at the start of `s` ("TS " included) when this read
    /// asked for times; a read without them takes every byte as text.
    fn docker_time<'s>(&self, s: &'s str) -> Option<&'s str> {
        self.timed.then(|| timestamp_prefix(s)).flatten()
    }

    /// The output ended: a last line without a newline is still a line.
    fn finish(&mut self) {
        if !self.partial.is_empty() {
            let raw = std::mem::take(&mut self.partial);
            self.line(&raw);
        }
    }

    fn line(&mut self, raw: &str) {
        let raw = raw.trim_end_matches(['\n', '\r']);
        let (at, cursor, text) = if self.timed {
            parse_line(raw)
        } else {
            (0, String::new(), raw.to_string())
        };
        if self.since_unix_millis > 0 && at > 0 && at < self.since_unix_millis {
            return;
        }
        self.pending_bytes += text.len() + cursor.len() + 16;
        self.chunk.lines.push(v1::LogLine {
            at: self.timed.then(|| v1::Timestamp::from_millis(at)),
            stream: self.stream.into(),
            line: text,
            cursor,
            notice: false,
        });
    }

    fn take_frame(&mut self) -> Option<v1::StreamFrame> {
        if self.chunk.lines.is_empty() {
            return None;
        }
        self.pending_bytes = 0;
        Some(v1::StreamFrame {
            data: std::mem::take(&mut self.chunk).encode_to_vec(),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(s: &str) -> Result<LogOutput, String> {
        Ok(LogOutput::StdOut {
            message: s.as_bytes().to_vec().into(),
        })
    }

    fn decode(f: &v1::StreamFrame) -> Vec<String> {
        v1::LogChunk::decode(f.data.as_slice())
            .unwrap()
            .lines
            .into_iter()
            .map(|l| l.line)
            .collect()
    }

    #[test]
    fn lines_are_cut_and_chunked_with_the_last_unterminated_one_kept() {
        let mut l = Lines::new(0, true);
        l.push(out("2026-11-26T01:02:03Z one\n2026-11-26T01:02:04Z tw"))
            .unwrap();
        l.push(out("o\n2026-11-26T01:02:05Z three")).unwrap();
        let f = l.take_frame().expect("a frame");
        assert_eq!(decode(&f), ["one", "two"]);
        assert!(l.take_frame().is_none(), "nothing new, no frame");
        l.finish();
        assert_eq!(decode(&l.take_frame().unwrap()), ["three"]);
    }

    #[test]
    fn output_without_newlines_is_cut_into_bounded_lines() {
        let mut l = Lines::new(0, true);
        let piece = "x".repeat(16 * 1024);
        // Docker's partial messages of one long line, each with a timestamp.
        for i in 0..40 {
            l.push(out(&format!("2026-11-26T01:02:{:02}Z {piece}", i % 60)))
                .unwrap();
            assert!(
                l.partial.len() <= MAX_LINE_BYTES + 64,
                "buffer grew to {}",
                l.partial.len()
            );
        }
        l.finish();
        let mut total = 0;
        while let Some(f) = l.take_frame() {
            for line in decode(&f) {
                assert!(line.len() <= MAX_LINE_BYTES);
                assert!(
                    line.bytes().all(|b| b == b'x'),
                    "no timestamps inside a line"
                );
                total += line.len();
            }
        }
        assert_eq!(total, 40 * 16 * 1024, "nothing lost");
    }

    #[test]
    fn untimed_lines_are_kept_as_written_without_times_or_cursors() {
        let mut l = Lines::new(0, false);
        // A line that itself starts with a time is not mistaken for Docker's.
        l.push(out("2026-11-26T01:02:03Z mine\nplain\nlong "))
            .unwrap();
        l.push(out("2026-11-26T01:02:04Z continued\n")).unwrap();
        let f = l.take_frame().unwrap();
        let chunk = v1::LogChunk::decode(f.data.as_slice()).unwrap();
        let texts: Vec<&str> = chunk.lines.iter().map(|l| l.line.as_str()).collect();
        assert_eq!(
            texts,
            [
                "2026-11-26T01:02:03Z mine",
                "plain",
                "long 2026-11-26T01:02:04Z continued"
            ]
        );
        assert!(
            chunk
                .lines
                .iter()
                .all(|l| l.at.is_none() && l.cursor.is_empty())
        );
    }

    #[test]
    fn lines_before_since_are_dropped() {
        let (at, _, _) = parse_line("2026-11-26T01:02:04Z x");
        let mut l = Lines::new(at, true);
        l.push(out("2026-11-26T01:02:03Z old\n2026-11-26T01:02:04Z new\n"))
            .unwrap();
        assert_eq!(decode(&l.take_frame().unwrap()), ["new"]);
    }

    #[test]
    fn docker_lines_parse_with_sortable_cursors() {
        let (at, c1, text) = parse_line("2026-11-26T01:02:03.5Z hello world");
        assert_eq!(text, "hello world");
        assert_eq!(at % 1000, 500);
        let (_, c2, _) = parse_line("2026-11-26T01:02:03.123456789Z x");
        let (_, c3, _) = parse_line("2026-11-26T01:02:04Z y");
        assert!(c2 < c1 && c1 < c3, "{c2} {c1} {c3}");
        assert_eq!(c1.len(), 20);
        let (at, c, t) = parse_line("no timestamp here");
        assert_eq!((at, c.as_str(), t.as_str()), (0, "", "no timestamp here"));
    }
}
