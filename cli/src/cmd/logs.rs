//! `lattice logs`: print, or follow, a workload's output. When following
//! and the connection to the node drops, say so, then resume after the last
//! line printed (no line twice); following ends by itself when the workload
//! stops or is deleted.

use std::time::Duration;

use futures_util::FutureExt;

use lattice_proto::v1;
use serde_json::json;
use tonic::Code;

use crate::api::{Api, Ctx};
use crate::args::{LogsArgs, Output};
use crate::error::CliError;
use crate::output::{self, rfc3339};

/// `lattice logs NAME`.
pub async fn run(mut ctx: Ctx, a: LogsArgs) -> anyhow::Result<()> {
    lattice_proto::validate::name("name", &a.name).map_err(CliError::from)?;
    if a.tail == Some(0) && !a.follow {
        // None of the old lines, and no new ones asked for.
        return Ok(());
    }
    let mut api = Api::connect(&mut ctx).await?;
    let since = a.since.map(|s| s.unix_millis());
    let mut req = v1::LogsRequest {
        name: a.name.clone(),
        tail: a.tail,
        follow: a.follow,
        since: since.map(v1::Timestamp::from_millis),
        // JSON output prints each line's time.
        timestamps: a.timestamps || ctx.global.output == Output::Json,
        after_cursor: String::new(),
    };
    let mut retry_delay = Duration::from_millis(500);
    let mut out = output::Batched::default();
    loop {
        let attempt = api.logs(req.clone()).await;
        let mut stream = match attempt {
            Ok(s) => s,
            Err(e) if a.follow && is_unavailable(&e) && !req.after_cursor.is_empty() => {
                tokio::time::sleep(retry_delay).await;
                retry_delay = (retry_delay * 2).min(Duration::from_secs(10));
                continue;
            }
            Err(e) => return Err(e),
        };
        let ended = loop {
            // Lines already here are printed in one batch; before waiting
            // for more, what is printed is written.
            let next = match stream.message().now_or_never() {
                Some(next) => next,
                None => {
                    out.flush()?;
                    stream.message().await
                }
            };
            match next {
                Ok(Some(line)) => {
                    retry_delay = Duration::from_millis(500);
                    print_line(&mut out, ctx.global.output, a.timestamps, &line)?;
                    if !line.cursor.is_empty() {
                        req.after_cursor = line.cursor.clone();
                        // Resume from the same millisecond; the cursor drops repeats.
                        req.since = line.at;
                        req.tail = None;
                    }
                }
                Ok(None) => break None,
                Err(s) if s.code() == Code::Unavailable => break Some(s),
                Err(s) => {
                    out.flush()?;
                    return Err(api.status(&s));
                }
            }
        };
        out.flush()?;
        match ended {
            None => return Ok(()),
            Some(s) if a.follow => {
                eprintln!("lattice: {}; resuming when the node is back…", s.message());
                if req.after_cursor.is_empty() {
                    // Nothing printed yet: resume from now rather than replaying everything.
                    req.since = Some(v1::Timestamp::from_millis(
                        chrono::Utc::now().timestamp_millis(),
                    ));
                    req.tail = None;
                    req.after_cursor = "0".into();
                }
                tokio::time::sleep(retry_delay).await;
            }
            Some(s) => return Err(api.status(&s)),
        }
    }
}

/// The server or the workload's node is away for now: a follow waits for it.
fn is_unavailable(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<CliError>(),
            Some(CliError::Unavailable(_) | CliError::Node(_))
        )
    })
}

fn print_line(
    out: &mut output::Batched,
    format: Output,
    timestamps: bool,
    l: &v1::LogLine,
) -> anyhow::Result<()> {
    match format {
        Output::Json => out.line(
            json!({"at": l.at.as_ref().and_then(|t| rfc3339(t.unix_millis)), "stream": l.stream, "line": l.line}),
        ),
        Output::Table if timestamps => out.line(format!(
            "{} {}",
            l.at.as_ref()
                .and_then(|t| rfc3339(t.unix_millis))
                .unwrap_or_default(),
            l.line
        )),
        Output::Table => out.line(&l.line),
    }
}
