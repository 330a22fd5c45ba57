//! Printing: tables and sentences for people, one JSON document for
//! scripts. Writes go through here so a closed pipe (`lattice … | head`) ends
//! the program quietly instead of panicking.

use std::io::{IsTerminal, Write};

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL};
use serde::Serialize;

use crate::args::Output;

/// Raised when stdout is closed; main exits 0 on it.
#[derive(Debug, thiserror::Error)]
#[error("stdout closed")]
pub struct BrokenPipe;

/// Writes a line to stdout.
pub fn line(s: impl std::fmt::Display) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    closed_pipe_is_quiet(writeln!(out, "{s}").and_then(|_| out.flush()))
}

/// Writes bytes to stdout as they are (generated scripts, documents).
pub fn raw(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    closed_pipe_is_quiet(out.write_all(bytes).and_then(|_| out.flush()))
}

fn closed_pipe_is_quiet(r: std::io::Result<()>) -> anyhow::Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(BrokenPipe.into()),
        r => Ok(r?),
    }
}

/// Prints `value` as pretty JSON.
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    line(serde_json::to_string_pretty(value)?)
}

/// A new table styled for the terminal (plain when piped or NO_COLOR).
pub fn table() -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if !std::io::stdout().is_terminal() || std::env::var_os("NO_COLOR").is_some() {
        t.force_no_tty();
    }
    // A terminal that reports no size (0 columns: some ptys, CI runners)
    // would squeeze every column to one character: use $COLUMNS, else do
    // not wrap at all.
    if t.width().is_none_or(|w| w < 20) {
        match std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|w| *w >= 20)
        {
            Some(w) => {
                t.set_width(w);
            }
            None => {
                t.set_content_arrangement(ContentArrangement::Disabled);
            }
        }
    }
    t
}

/// Prints key/value rows as a two-column table.
pub fn key_values(rows: &[(&str, String)]) -> anyhow::Result<()> {
    let mut t = table();
    for (k, v) in rows {
        t.add_row(vec![k.to_string(), v.clone()]);
    }
    line(t)
}

/// Prints `json_value` in JSON mode, or `human` otherwise.
pub fn emit<T: Serialize>(
    format: Output,
    json_value: &T,
    human: impl FnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match format {
        Output::Json => json(json_value),
        Output::Table => human(),
    }
}

/// RFC 3339 (UTC) of Unix milliseconds, for JSON.
pub fn rfc3339(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// "2026-11-26 01:15 UTC (in 14m)" for people.
pub fn when(ms: i64) -> String {
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
        return "-".into();
    };
    let delta = ms - chrono::Utc::now().timestamp_millis();
    let secs = (delta.unsigned_abs() / 1000).max(1);
    let rounded = if secs >= 3600 { secs / 60 * 60 } else { secs };
    let human = humantime::format_duration(std::time::Duration::from_secs(rounded));
    let rel = if delta >= 0 {
        format!("in {human}")
    } else {
        format!("{human} ago")
    };
    format!("{} ({rel})", t.format("%Y-%m-%d %H:%M:%S UTC"))
}
