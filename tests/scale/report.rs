//! The `make scale` section of docs/BENCHMARKS.md: one column per run, the
//! aim beside each figure and whether every run met it.

use std::fmt::Write as _;

use crate::run::{CONCURRENCY, Figures, REST, Setup, WATCHERS};

/// Memory aim per run: at rest no more than at the peak, and both within this.
const RSS_AIM_MIB: u64 = 200;

struct Row {
    figure: String,
    runs: Vec<String>,
    aim: &'static str,
    met: Option<bool>,
}

fn row(figure: impl Into<String>, f: &[Figures], cell: impl Fn(&Figures) -> String) -> Row {
    Row {
        figure: figure.into(),
        runs: f.iter().map(cell).collect(),
        aim: "—",
        met: None,
    }
}

fn aim(mut r: Row, aim: &'static str, met: bool) -> Row {
    r.aim = aim;
    r.met = Some(met);
    r
}

fn rows(s: &Setup, f: &[Figures]) -> Vec<Row> {
    let all = |ok: &dyn Fn(&Figures) -> bool| f.iter().all(ok);
    let p = |(a, b): (f64, f64), unit: &str| format!("{a:.1} / {b:.1} {unit}");
    vec![
        row("nodes joined and ready", f, |x| {
            format!("{:.1} s", x.joined_s)
        }),
        row("deploys accepted", f, |x| {
            format!(
                "{:.0}/s ({:.1} s)",
                x.total as f64 / x.accepted_s,
                x.accepted_s
            )
        }),
        aim(
            row("deploy throughput (to `running`)", f, |x| {
                format!(
                    "{:.0}/s ({:.1} s)",
                    x.total as f64 / x.running_s,
                    x.running_s
                )
            }),
            "≥ 200/s",
            all(&|x| x.total as f64 / x.running_s >= 200.0),
        ),
        aim(
            row("Deploy latency p50 / p99", f, |x| p(x.deploy_ms, "ms")),
            "p99 ≤ 1 s",
            all(&|x| x.deploy_ms.1 <= 1000.0),
        ),
        aim(
            row(
                format!("List, a user with {} workloads, p50 / p99", s.per_user),
                f,
                |x| p(x.list_ms, "ms"),
            ),
            "p99 ≤ 50 ms",
            all(&|x| x.list_ms.1 <= 50.0),
        ),
        row(
            format!("node list with {} nodes, p50 / p99", s.nodes),
            f,
            |x| p(x.nodes_ms, "ms"),
        ),
        row(
            format!(
                "Watch fan-out: status change → event at a watcher, p50 / p99 ({WATCHERS} watchers)"
            ),
            f,
            |x| {
                format!(
                    "{:.0} / {:.0} ms ({} events)",
                    x.fanout_ms.0, x.fanout_ms.1, x.fanout_n
                )
            },
        ),
        aim(
            row(
                "controld RSS, MiB: fleet joined / peak under churn / high-water / at rest",
                f,
                |x| {
                    let [j, p, h, r] = x.rss_mib;
                    format!("{j} / {p} / {h} / {r}")
                },
            ),
            "at rest ≤ peak; high-water ≤ 200 MiB",
            all(&|x| {
                let [_, p, h, r] = x.rss_mib;
                r <= p && h <= RSS_AIM_MIB
            }),
        ),
        row("controld CPU: under churn / at rest", f, |x| {
            format!(
                "{:.0}% / {:.0}% of a core",
                x.cpu.0 * 100.0,
                x.cpu.1 * 100.0
            )
        }),
        aim(
            row(
                "controld restart → every node ready and every workload running",
                f,
                |x| x.resync_s.map_or("—".into(), |s| format!("{s:.1} s")),
            ),
            "≤ 30 s",
            all(&|x| x.resync_s.is_none_or(|s| s <= 30.0)),
        ),
    ]
}

fn heading(s: &Setup) -> String {
    let backend = if s.postgres { "Postgres" } else { "SQLite" };
    format!("## Fleet scale (`make scale`, {backend})")
}

/// The section, as Markdown.
pub fn render(s: &Setup, f: &[Figures]) -> String {
    let backend = if s.postgres { "Postgres" } else { "SQLite" };
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let mut md = String::new();
    let _ = writeln!(md, "{}\n", heading(s));
    let _ = writeln!(
        md,
        "Run on {}, {} cores, on the machine the relay figures above ran on.\n",
        chrono_free_date(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let _ = writeln!(
        md,
        "One controld ({build} build, {backend} store) and {} hollow nodes — real agents (identity, TLS, heartbeats every 2 s,\n\
         reports, convergence) over in-memory engines whose containers take 0.5 s to start, all on this machine —\n\
         driven over gRPC by {} users deploying {} workloads each, {CONCURRENCY} deploys in flight. {} runs, each from\n\
         a fresh controld and database. Memory is controld's resident set: once the fleet has joined; its\n\
         high-water mark when every workload runs (the peak under churn); its high-water mark over the whole run, the\n\
         200 list samples that follow included; and at rest, {} s after the list samples.\n",
        s.nodes,
        s.users,
        s.per_user,
        f.len(),
        REST.as_secs()
    );
    let cols: String = (1..=f.len()).map(|r| format!(" run {r} |")).collect();
    let dashes: String = f.iter().map(|_| "---|").collect();
    let _ = writeln!(md, "| figure |{cols} aim | |\n|---|{dashes}---|---|");
    for r in rows(s, f) {
        let cells: String = r.runs.iter().map(|c| format!(" {c} |")).collect();
        let mark = match r.met {
            Some(true) => "met",
            Some(false) => "**not met**",
            None => "",
        };
        let _ = writeln!(md, "| {} |{cells} {} | {mark} |", r.figure, r.aim);
    }
    md
}

/// Replaces this backend's section of docs/BENCHMARKS.md; every other
/// section stays.
pub fn write(s: &Setup, md: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/BENCHMARKS.md");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let heading = heading(s);
    let (before, after) = match old.split_once(&heading) {
        Some((b, rest)) => (
            b.trim_end().to_string(),
            rest.find("\n## ")
                .map_or(String::new(), |i| rest[i..].to_string()),
        ),
        None => (old.trim_end().to_string(), String::new()),
    };
    std::fs::write(
        &path,
        format!("{before}\n\n{}\n{after}", md.trim_end())
            .trim_end()
            .to_string()
            + "\n",
    )
    .expect("write docs/BENCHMARKS.md");
}

/// Today's date (UTC) from `date`, without a date crate for one line.
fn chrono_free_date() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
