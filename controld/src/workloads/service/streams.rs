//! The two server-push pumps of the WorkloadService: Watch (a snapshot of
//! the caller's workloads, then every change) and Logs (lines from the
//! agent's stream until its end marker). Both are bounded channels, end on
//! shutdown, and report failures through the one Error → Status mapping.

use lattice_proto::state::ChangeKind;
use lattice_proto::v1;
use prost::Message;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tracing::warn;

use super::WorkloadApi;
use crate::error::Error;
use crate::fleet::streams::Opened;
use crate::workloads::to_proto;

/// Every change to the caller's workloads (or to the one named), after a
/// snapshot of how they are now; a subscriber that lags gets a new snapshot.
pub fn watch(
    api: WorkloadApi,
    owner: String,
    name: String,
) -> ReceiverStream<Result<v1::WorkloadEvent, Status>> {
    let mut changes = api.fleet.subscribe();
    let (tx, rx) = mpsc::channel(64);
    let closing = api.fleet.closing();
    tokio::spawn(async move {
        tokio::pin!(closing);
        if !send_snapshot(&api, &owner, &name, &tx).await {
            return;
        }
        loop {
            tokio::select! {
                _ = tx.closed() => return,
                _ = &mut closing => return,
                ch = changes.recv() => match ch {
                    Ok(ch) if ch.owner == owner && (name.is_empty() || ch.workload.name == name) => {
                        let Ok(nodes) = api.views_for(std::slice::from_ref(&ch.workload)).await else { return };
                        let ev = v1::WorkloadEvent {
                            workload: Some(to_proto(&ch.workload, &nodes)),
                            kind: if ch.deleted { ChangeKind::Deleted } else { ChangeKind::Update }.to_string(),
                        };
                        if tx.send(Ok(ev)).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if !send_snapshot(&api, &owner, &name, &tx).await {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    });
    ReceiverStream::new(rx)
}

/// Sends the current state of the caller's matching workloads; false when
/// the subscriber is gone or the store failed.
async fn send_snapshot(
    api: &WorkloadApi,
    owner: &str,
    name: &str,
    tx: &mpsc::Sender<Result<v1::WorkloadEvent, Status>>,
) -> bool {
    let Ok(all) = api.repo.workloads_of(owner).await else {
        return false;
    };
    let Ok(nodes) = api.views_for(&all).await else {
        return false;
    };
    for w in all.iter().filter(|w| name.is_empty() || w.name == name) {
        let ev = v1::WorkloadEvent {
            workload: Some(to_proto(w, &nodes)),
            kind: ChangeKind::Snapshot.to_string(),
        };
        if tx.send(Ok(ev)).await.is_err() {
            return false;
        }
    }
    true
}

/// The lines of an agent-opened log stream after `after` (a cursor; "" for
/// all), until the agent's end marker. A stream that stops without it lost
/// its tail: the reader gets UNAVAILABLE, never a log that merely looks
/// complete. Bounded: a slow reader slows the agent's reads from Docker,
/// never our memory.
pub fn logs(
    mut opened: Opened,
    after: String,
    name: String,
    closing: impl std::future::Future<Output = ()> + Send + 'static,
) -> impl futures_util::Stream<Item = Result<v1::LogLine, Status>> + Send + 'static {
    // A chunk of lines per message (as the agent sent it), flattened where
    // the response is encoded: one hand-off per chunk, not per line. Two
    // chunks in flight at most (each ≤ the agent's frame size).
    let (tx, rx) = mpsc::channel::<Result<Vec<v1::LogLine>, Status>>(2);
    tokio::spawn(async move {
        tokio::pin!(closing);
        // Credit for the agent: one data frame per frame forwarded, granted
        // in batches (see STREAM_CREDIT_WINDOW).
        let batch = lattice_proto::STREAM_CREDIT_WINDOW / 2;
        let mut forwarded = 0u32;
        let unavailable = |msg: String| Err(Status::from(Error::Unavailable(msg)));
        loop {
            let frame = tokio::select! {
                _ = tx.closed() => return,
                _ = &mut closing => {
                    let _ = tx.send(unavailable("the control plane is restarting".into())).await;
                    return;
                }
                f = opened.inbound.next() => f,
            };
            match frame {
                Some(Ok(f)) if !f.error.is_empty() => {
                    let _ = tx.send(unavailable(f.error)).await;
                    return;
                }
                Some(Ok(f)) if f.eof => return,
                Some(Ok(f)) => {
                    let mut lines = v1::LogChunk::decode(f.data.as_slice())
                        .map(|c| c.lines)
                        .unwrap_or_default();
                    if !after.is_empty() {
                        lines.retain(|l| l.cursor.as_str() > after.as_str());
                    }
                    if !lines.is_empty() && tx.send(Ok(lines)).await.is_err() {
                        return;
                    }
                    forwarded += 1;
                    if forwarded >= batch {
                        let grant = v1::StreamFrame {
                            credit: forwarded,
                            ..Default::default()
                        };
                        if opened.outbound.send(Ok(grant)).await.is_err() {
                            return;
                        }
                        forwarded = 0;
                    }
                }
                end @ (None | Some(Err(_))) => {
                    let why = end.and_then(Result::err).map(|e| e.to_string());
                    warn!(workload = %name, error = ?why, "a log stream from a node ended without its end marker");
                    let msg = format!(
                        "lost the connection to the node running {name} while reading its logs"
                    );
                    let _ = tx.send(unavailable(msg)).await;
                    return;
                }
            }
        }
    });
    futures_util::StreamExt::flat_map(ReceiverStream::new(rx), |chunk| {
        use futures_util::future::Either;
        match chunk {
            Ok(lines) => Either::Left(tokio_stream::iter(lines.into_iter().map(Ok))),
            Err(e) => Either::Right(tokio_stream::once(Err(e))),
        }
    })
}
