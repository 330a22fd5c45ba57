//! Serves one `OpenLogStream` request: opens a byte stream back to controld
//! and copies the container's log lines into it. The channel is bounded, so
//! a slow reader at the far end slows our reads from Docker instead of
//! growing memory.

use std::time::{Duration, UNIX_EPOCH};

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt;
use lattice_proto::v1;
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tracing::debug;

use crate::docker::{Docker, container_name};

/// Splits Docker's `2026-11-26T01:02:03.123456789Z message` into a time
/// (Unix ms), a sortable cursor (zero-padded Unix ns) and the message.
pub fn parse_line(raw: &str) -> (i64, String, String) {
    let (ts, rest) = raw.split_once(' ').unwrap_or(("", raw));
    match humantime::parse_rfc3339(ts) {
        Ok(t) => {
            let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
            (
                i64::try_from(d.as_millis()).unwrap_or(0),
                format!("{:020}", d.as_nanos()),
                rest.to_string(),
            )
        }
        Err(_) => (0, String::new(), raw.to_string()),
    }
}

/// Streams the logs of `req.workload_id` to controld until they end, the
/// far end goes away, or Docker fails.
pub async fn serve(
    channel: Channel,
    authorization: String,
    docker: Option<Docker>,
    req: v1::OpenLogStream,
) {
    let (tx, rx) = mpsc::channel::<v1::StreamFrame>(32);
    if tx
        .send(v1::StreamFrame {
            stream_id: req.stream_id.clone(),
            ..Default::default()
        })
        .await
        .is_err()
    {
        return;
    }
    let mut call = tonic::Request::new(ReceiverStream::new(rx));
    let Ok(auth) = authorization.parse() else {
        return;
    };
    call.metadata_mut().insert("authorization", auth);
    let mut client = v1::agent_service_client::AgentServiceClient::new(channel);
    let response = tokio::spawn(async move { client.open_stream(call).await });
    let Some(docker) = docker else {
        let _ = tx
            .send(v1::StreamFrame {
                error: "Docker is unavailable on this node".into(),
                ..Default::default()
            })
            .await;
        return;
    };
    let tail = if req.tail == 0 {
        "all".to_string()
    } else {
        req.tail.to_string()
    };
    let since = i32::try_from(req.since_unix_millis / 1000).unwrap_or(0);
    let opts = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .timestamps(true)
        .follow(req.follow)
        .tail(&tail)
        .since(since)
        .build();
    let mut logs = docker
        .raw()
        .logs(&container_name(&req.workload_id), Some(opts));
    let mut partial = String::new();
    loop {
        let item = tokio::select! {
            i = logs.next() => i,
            _ = tx.closed() => break,
        };
        let Some(item) = item else { break };
        let (stream, bytes) = match item {
            Ok(LogOutput::StdOut { message }) => ("stdout", message),
            Ok(LogOutput::StdErr { message }) => ("stderr", message),
            Ok(LogOutput::Console { message }) => ("stdout", message),
            Ok(_) => continue,
            Err(e) => {
                let _ = tx
                    .send(v1::StreamFrame {
                        error: format!("Docker stopped serving logs: {e}"),
                        ..Default::default()
                    })
                    .await;
                return;
            }
        };
        partial.push_str(&String::from_utf8_lossy(&bytes));
        while let Some(nl) = partial.find('\n') {
            let raw: String = partial.drain(..=nl).collect();
            let (at, cursor, text) = parse_line(raw.trim_end_matches(['\n', '\r']));
            if req.since_unix_millis > 0 && at > 0 && at < req.since_unix_millis {
                continue;
            }
            let line = v1::LogLine {
                at: Some(v1::Timestamp::from_millis(at)),
                stream: stream.into(),
                line: text,
                cursor,
                notice: false,
            };
            if tx
                .send(v1::StreamFrame {
                    data: line.encode_to_vec(),
                    ..Default::default()
                })
                .await
                .is_err()
            {
                debug!("log reader went away");
                return;
            }
        }
    }
    let _ = tx
        .send(v1::StreamFrame {
            eof: true,
            ..Default::default()
        })
        .await;
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_secs(5), response).await;
}

#[cfg(test)]
mod tests {
    use super::*;

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
