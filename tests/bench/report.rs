//! The benchmark report: sections of figures, each next to its baseline
//! and its aim, with medians and ranges over interleaved rounds, rendered
//! as docs/BENCHMARKS.md.

use std::fmt::Write as _;

/// One measured figure beside its baseline.
pub struct Row {
    pub measure: String,
    pub baseline: String,
    pub lattice: String,
    pub ratio: String,
    pub aim: String,
    /// Whether the aim is met (None: no aim).
    pub met: Option<bool>,
}

/// A titled table with what it compares and notes under it.
pub struct Section {
    pub title: String,
    pub intro: String,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

/// The median of `v` (0 when empty).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(0.0)
}

/// The p-th percentile (0–100) of `v`.
pub fn percentile(v: &[f64], p: usize) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get((s.len() * p / 100).min(s.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0)
}

/// "lowest–highest" of `v` with `digits` decimals.
pub fn range(v: &[f64], digits: usize) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if v.is_empty() {
        return "—".into();
    }
    format!("{lo:.digits$}–{hi:.digits$}")
}

/// A value with its range, e.g. "512 (498–530)".
pub fn with_range(v: &[f64], digits: usize) -> String {
    format!("{:.digits$} ({})", median(v), range(v, digits))
}

fn mark(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "**not met**",
        None => "",
    }
}

/// The machine the run was on, in one line.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    format!(
        "{cores} cores ({cpu}), {:.1} GiB memory, Docker bridge network; controld, agentd, the \
         clients and the containers all on this one machine, sharing its cores",
        mem_kib as f64 / 1_048_576.0
    )
}

/// Renders every section under one heading.
pub fn render(sections: &[Section], machine: &str, date: &str) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Written by `make bench` (release build) on {date}. Machine: {machine}. Each figure is the \
         median of interleaved rounds with its range in brackets; the baseline ran in the same \
         rounds, on the same machine.\n"
    );
    for s in sections {
        let _ = writeln!(md, "## {}\n\n{}\n", s.title, s.intro);
        let _ = writeln!(
            md,
            "| measure | baseline | Lattice | Lattice / baseline | aim | |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|");
        for r in &s.rows {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                r.measure,
                r.baseline,
                r.lattice,
                r.ratio,
                r.aim,
                mark(r.met)
            );
        }
        for n in &s.notes {
            let _ = writeln!(md, "\n{n}");
        }
        let _ = writeln!(md);
    }
    md
}

/// Resident set of a process, KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
