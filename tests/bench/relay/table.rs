//! The relay section's rows: Lattice against the floor (the aims), against
//! rathole and against direct, and every path side by side in a note.

use std::fmt::Write as _;

use super::{CHUNK, ECHOES, Figures, IDLE, PARALLEL, ROUNDS, STREAM};
use crate::report::{Row, Section, median, with_range};

/// What each attempt to close the gap to the floor gave, measured with
/// this section's bench (medians of 3 interleaved rounds, Lattice row).
const ATTEMPTS: &str = "What each attempt gave (2026-12-06, this bench, Lattice's row; one stream MB/s and \
    CPU-s/GB / 8 streams MB/s and CPU-s/GB): **before** (a new 64 KiB buffer per chunk) 876 and \
    1.34 / 1164 and 1.21, 0.73× the floor; **one reused buffer per direction**, freed when its \
    source goes quiet, and the TLS read-ahead likewise (kept) 977 and 1.30 / 1162 and 1.21, 0.88× \
    the floor; **rustls on aws-lc-rs** instead of ring for the data connection, on top: 957 and \
    1.30 / 1191 and 1.19 — the same within the rounds' ranges, so the tree stays on the one \
    provider it has (ring: no C build of aws-lc, one provider in every config); AES-GCM is not \
    where the rest goes. `splice(2)` on the plain legs does not apply: each plain leg's other \
    end is the encrypted hop, whose bytes must pass through user space to be sealed or opened; \
    only kernel TLS would let them stay in the kernel, and this kernel has no `tls` ULP.";

const DIRECT: usize = 0;
const FLOOR: usize = 1;
const LATTICE: usize = 2;
const PEER: usize = 3;

fn ratio_row(measure: String, base: &[f64], ours: &[f64], aim: Option<f64>) -> Row {
    let r = median(ours) / median(base);
    Row {
        measure,
        baseline: with_range(base, 0),
        lattice: with_range(ours, 0),
        ratio: format!("{r:.2}×"),
        aim: aim.map_or_else(String::new, |a| format!("≥ {a}×")),
        met: aim.map(|a| r >= a),
    }
}

fn cpu_row(measure: String, base: &[f64], ours: &[f64], aim: Option<f64>) -> Row {
    let ours_m = median(ours);
    Row {
        measure,
        baseline: with_range(base, 2),
        lattice: with_range(ours, 2),
        ratio: format!("{:.2}×", ours_m / median(base)),
        aim: aim.map_or_else(String::new, |a| format!("≤ {a}")),
        met: aim.map(|a| ours_m <= a),
    }
}

pub fn section(names: &[&str], f: &[Figures], per_conn: f64, readings: &str) -> Section {
    let (l, fl, d) = (&f[LATTICE], &f[FLOOR], &f[DIRECT]);
    let mib = STREAM >> 20;
    let mut rows = vec![
        ratio_row(
            format!("one {mib} MiB stream, MB/s — vs plain floor"),
            &fl.one,
            &l.one,
            Some(0.8),
        ),
        cpu_row(
            "one stream, relay CPU-s per GB — vs plain floor".into(),
            &fl.one_cpu,
            &l.one_cpu,
            Some(1.3),
        ),
        ratio_row(
            format!("{PARALLEL} streams, aggregate MB/s — vs plain floor"),
            &fl.many,
            &l.many,
            Some(0.8),
        ),
        cpu_row(
            format!("{PARALLEL} streams, relay CPU-s per GB — vs plain floor"),
            &fl.many_cpu,
            &l.many_cpu,
            Some(1.3),
        ),
    ];
    if let Some(p) = f.get(PEER) {
        rows.push(ratio_row(
            "one stream, MB/s — vs rathole (TLS)".into(),
            &p.one,
            &l.one,
            None,
        ));
        rows.push(cpu_row(
            "one stream, relay CPU-s per GB — vs rathole".into(),
            &p.one_cpu,
            &l.one_cpu,
            None,
        ));
        rows.push(ratio_row(
            format!("{PARALLEL} streams, MB/s — vs rathole"),
            &p.many,
            &l.many,
            None,
        ));
        rows.push(cpu_row(
            format!("{PARALLEL} streams, relay CPU-s per GB — vs rathole"),
            &p.many_cpu,
            &l.many_cpu,
            None,
        ));
    }
    rows.push(ratio_row(
        "one stream, MB/s — vs direct".into(),
        &d.one,
        &l.one,
        None,
    ));
    let added50 = median(&l.p50) - median(&d.p50);
    let added99 = median(&l.p99) - median(&d.p99);
    rows.push(Row {
        measure: "64-byte echo round trip p50, µs — vs direct".into(),
        baseline: with_range(&d.p50, 0),
        lattice: with_range(&l.p50, 0),
        ratio: format!("+{added50:.0} µs"),
        aim: String::new(),
        met: None,
    });
    rows.push(Row {
        measure: "64-byte echo round trip p99, µs — vs direct".into(),
        baseline: with_range(&d.p99, 0),
        lattice: with_range(&l.p99, 0),
        ratio: format!("+{added99:.0} µs"),
        aim: "≤ +150 µs".into(),
        met: Some(added99 <= 150.0),
    });
    rows.push(Row {
        measure: format!("memory per idle relayed connection ({IDLE} open)"),
        baseline: "—".into(),
        lattice: format!("{per_conn:.1} KiB"),
        ratio: String::new(),
        aim: "≤ 24 KiB".into(),
        met: Some(per_conn <= 24.0),
    });
    let missing = if f.get(PEER).is_none() {
        " rathole was not installed (scripts/bench-peers.sh), so its rows are missing."
    } else {
        ""
    };
    Section {
        title: "Public edge relay: floor, peer, direct".into(),
        intro: format!(
            "Four paths to one container: **direct** (its own address), the **plain floor** (two \
             relay processes in a chain, tokio `copy_bidirectional` with 64 KiB buffers, no \
             encryption: the same three TCP hops as Lattice's path), **rathole** 0.5 (crates.io; \
             server and client over its TLS transport) and **Lattice** (controld's public port → a \
             TLS data connection agentd dialled out → agentd → the container). The same sink and \
             echo server (relay/peer.c, static C, one process per connection) answer every path; \
             the same compiled sender writes {} KiB per `write(2)` and stops its clock when the \
             sink acknowledges the last byte. CPU-s per GB is the user + system CPU of the \
             relaying processes only (controld + agentd; the two floor relays; rathole's server + \
             client), over the bytes moved.{missing}",
            CHUNK >> 10
        ),
        rows,
        notes: vec![
            paths_table(names, f),
            ATTEMPTS.into(),
            format!(
                "Per round and path: one {mib} MiB stream, {PARALLEL} parallel streams of {mib} MiB, \
                 {ECHOES} echoes after 200 warm-up; {ROUNDS} rounds after a 64 MiB warm-up per path, \
                 who goes first rotating. Memory is the growth of both daemons' VmRSS with {IDLE} \
                 idle relayed connections open ({readings})."
            ),
        ],
    }
}

/// Every path's medians in one table.
fn paths_table(names: &[&str], f: &[Figures]) -> String {
    let mut t = String::from(
        "| path | one stream, MB/s | CPU-s/GB | parallel streams, MB/s | CPU-s/GB | echo p99, µs | \
         one stream / direct |\n|---|---|---|---|---|---|---|\n",
    );
    let direct = median(&f[DIRECT].one);
    for (n, x) in names.iter().zip(f) {
        let cpu = |v: &[f64]| {
            if v.iter().all(|c| *c == 0.0) {
                "—".to_string()
            } else {
                format!("{:.2}", median(v))
            }
        };
        let _ = writeln!(
            t,
            "| {n} | {:.0} | {} | {:.0} | {} | {:.0} | {:.2} |",
            median(&x.one),
            cpu(&x.one_cpu),
            median(&x.many),
            cpu(&x.many_cpu),
            median(&x.p99),
            median(&x.one) / direct
        );
    }
    t.trim_end().to_string()
}
