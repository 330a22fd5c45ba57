//! The public edge relay against direct connections to the container:
//! one bulk stream, 50 concurrent streams (aggregate and fairness), 64-byte
//! echo round trips, and memory per idle relayed connection.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::report::{Row, Section, median, percentile, range, rss_kib, with_range};

/// Where the two servers answer, directly and through the edge.
pub struct Targets {
    pub direct_echo: String,
    pub direct_src: String,
    pub edge_echo: String,
    pub edge_src: String,
}

const BULK: u64 = 1 << 30;
const STREAMS: usize = 50;
const PER_STREAM: u64 = 48 << 20;
const ECHOES: usize = 3000;
const IDLE: usize = 1000;
const ROUNDS: usize = 3;

fn throughput(addr: &str, bytes: u64) -> f64 {
    let mut s = TcpStream::connect(addr).expect("connect");
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0u64;
    let t = Instant::now();
    while got < bytes {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "stream ended early");
        got += n as u64;
    }
    got as f64 / t.elapsed().as_secs_f64() / 1e6
}

/// `STREAMS` streams at once: aggregate MB/s and slowest / fastest.
fn concurrent(addr: &str) -> (f64, f64) {
    let t = Instant::now();
    let each: Vec<f64> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..STREAMS)
            .map(|_| s.spawn(|| throughput(addr, PER_STREAM)))
            .collect();
        hs.into_iter().map(|h| h.join().expect("stream")).collect()
    });
    let total = (PER_STREAM * STREAMS as u64) as f64 / 1e6;
    let fair = each.iter().copied().fold(f64::INFINITY, f64::min)
        / each.iter().copied().fold(0.0, f64::max);
    (total / t.elapsed().as_secs_f64(), fair)
}

/// p50 and p99 of 64-byte round trips, µs.
fn latencies(addr: &str) -> (f64, f64) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).ok();
    let msg = [7u8; 64];
    let mut back = [0u8; 64];
    let mut us = Vec::with_capacity(ECHOES);
    for i in 0..ECHOES + 200 {
        let t = Instant::now();
        s.write_all(&msg).expect("write");
        s.read_exact(&mut back).expect("read");
        if i >= 200 {
            us.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    (percentile(&us, 50), percentile(&us, 99))
}

/// Growth of both daemons' RSS per idle relayed connection, KiB, with the readings.
fn idle_memory(edge_echo: &str, pids: (u32, u32)) -> (f64, String) {
    std::thread::sleep(Duration::from_secs(1));
    let (c0, a0) = (rss_kib(pids.0), rss_kib(pids.1));
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        let mut s = TcpStream::connect(edge_echo).expect("connect");
        s.write_all(&[1u8; 64]).expect("write");
        let mut b = [0u8; 64];
        s.read_exact(&mut b)
            .expect("every relayed connection answers");
        idle.push(s);
    }
    std::thread::sleep(Duration::from_secs(2));
    let (c1, a1) = (rss_kib(pids.0), rss_kib(pids.1));
    drop(idle);
    let per = (c1.saturating_sub(c0) + a1.saturating_sub(a0)) as f64 / IDLE as f64;
    (
        per,
        format!("controld {c0} → {c1} KiB, agentd {a0} → {a1} KiB"),
    )
}

pub fn run(t: &Targets, pids: (u32, u32)) -> Section {
    eprintln!("relay: warming up…");
    throughput(&t.direct_src, 64 << 20);
    throughput(&t.edge_src, 64 << 20);
    let (mut tpd, mut tpe) = (Vec::new(), Vec::new());
    let (mut cd, mut ce, mut fd, mut fe) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut d50, mut d99, mut e50, mut e99) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        eprintln!("relay: round {round}/{ROUNDS}…");
        tpd.push(throughput(&t.direct_src, BULK));
        tpe.push(throughput(&t.edge_src, BULK));
        let (a, f) = concurrent(&t.direct_src);
        cd.push(a);
        fd.push(f);
        let (a, f) = concurrent(&t.edge_src);
        ce.push(a);
        fe.push(f);
        let (p50, p99) = latencies(&t.direct_echo);
        d50.push(p50);
        d99.push(p99);
        let (p50, p99) = latencies(&t.edge_echo);
        e50.push(p50);
        e99.push(p99);
    }
    eprintln!("relay: {IDLE} idle connections…");
    let (per_conn, readings) = idle_memory(&t.edge_echo, pids);
    let bulk = median(&tpe) / median(&tpd);
    let added99 = median(&e99) - median(&d99);
    let rows = vec![
        Row {
            measure: "one bulk stream, MB/s".into(),
            baseline: with_range(&tpd, 0),
            lattice: with_range(&tpe, 0),
            ratio: format!("{:.0} %", bulk * 100.0),
            aim: "≥ 50 %".into(),
            met: Some(bulk >= 0.5),
        },
        Row {
            measure: format!("{STREAMS} concurrent streams, aggregate MB/s"),
            baseline: with_range(&cd, 0),
            lattice: with_range(&ce, 0),
            ratio: format!("{:.0} %", median(&ce) / median(&cd) * 100.0),
            aim: String::new(),
            met: None,
        },
        Row {
            measure: format!("{STREAMS} concurrent streams, slowest / fastest"),
            baseline: with_range(&fd, 2),
            lattice: with_range(&fe, 2),
            ratio: String::new(),
            aim: String::new(),
            met: None,
        },
        Row {
            measure: "64-byte echo round trip p50, µs".into(),
            baseline: with_range(&d50, 0),
            lattice: with_range(&e50, 0),
            ratio: format!("+{:.0} µs", median(&e50) - median(&d50)),
            aim: String::new(),
            met: None,
        },
        Row {
            measure: "64-byte echo round trip p99, µs".into(),
            baseline: with_range(&d99, 0),
            lattice: with_range(&e99, 0),
            ratio: format!("+{added99:.0} µs"),
            aim: "≤ +500 µs".into(),
            met: Some(added99 <= 500.0),
        },
        Row {
            measure: format!("memory per idle relayed connection ({IDLE} open)"),
            baseline: "—".into(),
            lattice: format!("{per_conn:.1} KiB"),
            ratio: String::new(),
            aim: "≤ 64 KB".into(),
            met: Some(per_conn * 1024.0 <= 64_000.0),
        },
    ];
    Section {
        title: "Public edge relay vs direct".into(),
        intro:
            "Baseline = the container's own address and port. Lattice = controld's public port: \
                client → controld (TCP) → agentd over a TLS data connection of its own that agentd \
                dialled out (ALPN `lattice-tunnel/1`, raw bytes) → container (TCP)."
                .into(),
        rows,
        notes: vec![
            format!(
                "Per round: {} MiB bulk each way, {STREAMS} streams × {} MiB, {ECHOES} echoes after 200 \
                 warm-up; {ROUNDS} rounds after a 64 MiB warm-up (bulk ranges: direct {}, edge {}). \
                 Memory is the growth of both daemons' VmRSS with {IDLE} idle relayed connections \
                 open ({readings}).",
                BULK >> 20,
                PER_STREAM >> 20,
                range(&tpd, 0),
                range(&tpe, 0),
            ),
            copies_note(),
        ],
    }
}

/// Why a relayed bulk stream costs what it does, and whether this kernel
/// offers what would make it cheaper.
fn copies_note() -> String {
    let ulps = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_ulp")
        .map_or_else(|_| "unreadable".to_string(), |s| s.trim().to_string());
    let ktls = ulps.split_whitespace().any(|u| u == "tls");
    format!(
        "Where a relayed byte's CPU goes: it crosses three TCP connections instead of one, and is \
         copied into and out of user space twice, once on each side of the encrypted hop (AES-GCM \
         in controld and in agentd); on this 2-core machine the four processes of the path share \
         the cores, so bulk throughput is their summed CPU per byte. Framing is gone (raw bytes on \
         a data connection of its own). What would remove the copies is kernel TLS on the data \
         connection with `splice(2)` on every leg — kernel TLS on this machine: {} \
         (`tcp_available_ulp`: `{ulps}`).",
        if ktls {
            "available"
        } else {
            "absent, so not measurable here"
        }
    )
}
