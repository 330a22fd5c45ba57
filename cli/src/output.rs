//! Printing: tables and sentences for people, one JSON document for
//! scripts. Writes go through here so a closed pipe (`lattice … | head`) ends
//! the program quietly instead of panicking.

use std::io::{IsTerminal, Write};

use comfy_table::{
    Cell, Color, ColumnConstraint, ContentArrangement, Table, Width, presets::UTF8_FULL_CONDENSED,
};
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

/// Lines printed in batches: many lines per write while more are coming.
/// The caller flushes before it waits for more, so a follower never sits on
/// a line it has printed but not written.
pub struct Batched(std::io::BufWriter<std::io::Stdout>);

impl Default for Batched {
    /// A 64 KiB batch over stdout.
    fn default() -> Self {
        Self(std::io::BufWriter::with_capacity(
            1 << 16,
            std::io::stdout(),
        ))
    }
}

impl Batched {
    /// Adds a line (written once the batch is full or flushed).
    pub fn line(&mut self, s: impl std::fmt::Display) -> anyhow::Result<()> {
        closed_pipe_is_quiet(writeln!(self.0, "{s}"))
    }

    /// Writes what is batched.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        closed_pipe_is_quiet(self.0.flush())
    }
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

/// Whether to colour output: a terminal, and NO_COLOR unset.
pub fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// A new table styled for the terminal (plain when piped or NO_COLOR):
/// compact, with no separator line between rows.
pub fn table() -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if !colour() {
        t.force_no_tty();
        // Plain (NO_COLOR) on a terminal still wraps to the terminal.
        if std::io::stdout().is_terminal()
            && let Ok((w, _)) = crossterm::terminal::size()
            && w >= 20
        {
            t.set_width(w);
        }
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

/// Caps column `index` at `width` characters, its cells wrapping within:
/// a long message (a pull error) stays readable where the terminal's width
/// is unknown (piped, or a terminal that reports none).
pub fn cap_column(t: &mut Table, index: usize, width: u16) {
    if let Some(c) = t.column_mut(index) {
        c.set_constraint(ColumnConstraint::Boundaries {
            lower: Width::Fixed(10),
            upper: Width::Fixed(width),
        });
    }
}

/// Sets a table's header; no column is narrower than its heading, so a
/// narrow terminal wraps cells, never a heading mid-word.
pub fn header(t: &mut Table, names: &[&str]) {
    t.set_header(names.to_vec());
    for (i, n) in names.iter().enumerate() {
        let widest_word = n.split(' ').map(str::len).max().unwrap_or(0);
        if let Some(c) = t.column_mut(i) {
            // +2 for the cell's padding.
            let w = u16::try_from(widest_word + 2).unwrap_or(u16::MAX);
            c.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(w)));
        }
    }
}

/// A workload status cell, coloured on a terminal.
pub fn status_cell(status: &str) -> Cell {
    let c = Cell::new(status);
    match status {
        "running" => c.fg(Color::Green),
        "failed" | "crash-looping" | "lost" => c.fg(Color::Red),
        "stopped" | "deleted" => c.fg(Color::DarkGrey),
        _ => c.fg(Color::Yellow),
    }
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

/// Like [`rfc3339`] with milliseconds: events, whose order within a second
/// (and the time between them) matters.
pub fn rfc3339_ms(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// A span in the one style every table uses: "45s", "2m", "1h", "3d".
pub fn span(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// How long ago Unix milliseconds `ms` was: "2m" ("-" for none).
pub fn ago(ms: i64) -> String {
    let secs = (chrono::Utc::now().timestamp_millis() - ms).max(0) / 1000;
    span(u64::try_from(secs).unwrap_or(0))
}

/// "2026-11-26 01:15 UTC (2m ago)" or "(in 3d)" for people.
pub fn when(ms: i64) -> String {
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
        return "-".into();
    };
    let delta = ms - chrono::Utc::now().timestamp_millis();
    let human = span(delta.unsigned_abs() / 1000);
    let rel = if delta >= 0 {
        format!("in {human}")
    } else {
        format!("{human} ago")
    };
    format!("{} ({rel})", t.format("%Y-%m-%d %H:%M UTC"))
}

/// A date for expiries: "2026-12-31".
pub fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capped_column_wraps_a_long_message_where_the_width_is_unknown() {
        let mut t = table();
        t.set_content_arrangement(ContentArrangement::Disabled);
        header(&mut t, &["WHEN", "STATUS", "MESSAGE"]);
        cap_column(&mut t, 2, 100);
        let long =
            "image registry.example.com/team/app:1 is not on this node and could not be pulled: "
                .repeat(3);
        t.add_row(vec!["2m ago".to_string(), "failed".into(), long.clone()]);
        let out = t.to_string();
        assert!(
            out.lines().all(|l| l.chars().count() <= 130),
            "every line fits:\n{out}"
        );
        let words: String = out.split_whitespace().collect();
        assert!(
            words.contains("couldnotbepulled"),
            "nothing is cut off:\n{out}"
        );
    }

    #[test]
    fn spans_have_one_style() {
        assert_eq!(span(5), "5s");
        assert_eq!(span(150), "2m");
        assert_eq!(span(3 * 3600), "3h");
        assert_eq!(span(3 * 86_400), "3d");
        assert_eq!(date(0), "1970-01-01");
    }

    #[test]
    fn headings_never_split() {
        let mut t = Table::new();
        header(&mut t, &["NAME", "LAST USED", "ENDPOINT"]);
        t.add_row(vec![
            "a-rather-long-name-here",
            "never",
            "tcp://127.0.0.1:20000",
        ]);
        t.set_width(30);
        let out = t.to_string();
        assert!(out.contains("ENDPOINT"), "{out}");
        assert!(out.contains("NAME"), "{out}");
    }
}
