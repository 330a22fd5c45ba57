//! `make bench`: the public edge relay against direct connections to the
//! container, in the same run, on this machine. Writes docs/BENCHMARKS.md.
//!
//! A custom workload runs two small servers: an echo server (port 7000) for
//! round-trip latency and idle connections, and a source (port 7001) that
//! writes zeros as fast as it can for throughput. Direct = the container's
//! own address and port; edge = controld's public port, relayed over the
//! agent's connection.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use lattice_e2e::{Cluster, docker};

const SERVERS: &str = r#"
perl -MIO::Socket::INET -e '
  $SIG{CHLD}="IGNORE";
  for $p (7000, 7001) { if (!fork) {
    $s = IO::Socket::INET->new(LocalPort=>$p, Listen=>4096, ReuseAddr=>1) or die "listen $p: $!";
    while ($c = $s->accept) { if (!fork) {
      if ($p == 7000) { while (sysread($c, $b, 65536)) { syswrite($c, $b) } }
      else { $z = "\0" x 262144; while (syswrite($c, $z)) {} }
      exit 0 } close $c }
  } }
  sleep' "#;

const BULK_DIRECT: u64 = 2 << 30;
const BULK_EDGE: u64 = 1 << 30;
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
    us.sort_by(f64::total_cmp);
    (us[us.len() / 2], us[us.len() * 99 / 100])
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let c = Cluster::start_full(&[], &["--edge-max-connections-per-workload", "4096"]);
    let cli = &c.admin;
    cli.run(
        &[
            "deploy",
            "custom",
            "bench",
            "--image",
            "lattice-local/web:latest",
            "--port",
            "7000",
            "--port",
            "7001",
            "--wait",
            "--",
            "sh",
            "-c",
            SERVERS,
        ],
        None,
    )
    .ok();
    let acc = cli
        .run(&["access", "bench", "--format", "json"], None)
        .ok()
        .json();
    let id = cli
        .run(&["status", "bench", "-o", "json"], None)
        .ok()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ip = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &format!("lattice-{id}"),
    ]);
    let edge = |cport: u64| {
        let e = acc["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["via"] == "public" && e["container_port"] == cport)
            .unwrap();
        format!("127.0.0.1:{}", e["port"])
    };
    let (direct_echo, direct_src) = (format!("{ip}:7000"), format!("{ip}:7001"));
    let (edge_echo, edge_src) = (edge(7000), edge(7001));

    eprintln!("warming up…");
    throughput(&direct_src, 64 << 20);
    throughput(&edge_src, 64 << 20);
    // Interleaved rounds, medians: one run on a shared 2-core machine is noisy.
    let (mut tpd, mut tpe, mut ld, mut le) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        eprintln!("round {round}/{ROUNDS}…");
        tpd.push(throughput(&direct_src, BULK_DIRECT));
        tpe.push(throughput(&edge_src, BULK_EDGE));
        ld.push(latencies(&direct_echo));
        le.push(latencies(&edge_echo));
    }
    let med = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    tpd.sort_by(f64::total_cmp);
    tpe.sort_by(f64::total_cmp);
    let (tp_direct, tp_edge) = (med(tpd.clone()), med(tpe.clone()));
    let (d50, d99) = (
        med(ld.iter().map(|x| x.0).collect()),
        med(ld.iter().map(|x| x.1).collect()),
    );
    let (e50, e99) = (
        med(le.iter().map(|x| x.0).collect()),
        med(le.iter().map(|x| x.1).collect()),
    );
    let spread = |v: &[f64]| {
        format!(
            "{:.0}–{:.0}",
            v.first().copied().unwrap_or(0.0),
            v.last().copied().unwrap_or(0.0)
        )
    };

    eprintln!("{IDLE} idle connections…");
    let (cp, ap) = (c.controld.pid().unwrap(), c.agent.pid().unwrap());
    std::thread::sleep(Duration::from_secs(1));
    let (c0, a0) = (rss_kib(cp), rss_kib(ap));
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        let mut s = TcpStream::connect(&edge_echo).expect("connect");
        s.write_all(&[1u8; 64]).unwrap();
        let mut b = [0u8; 64];
        s.read_exact(&mut b)
            .expect("every relayed connection answers");
        idle.push(s);
    }
    std::thread::sleep(Duration::from_secs(2));
    let (c1, a1) = (rss_kib(cp), rss_kib(ap));
    let per_conn_kib = ((c1.saturating_sub(c0)) + (a1.saturating_sub(a0))) as f64 / IDLE as f64;
    drop(idle);

    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let date = docker(&[
        "run",
        "--rm",
        "lattice-local/base:bookworm",
        "date",
        "-u",
        "+%Y-%m-%d",
    ]);
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Written by `make bench` (release build); numbers are from one run on the machine below.\n"
    );
    let _ = writeln!(md, "## Public edge relay vs direct\n");
    let _ = writeln!(
        md,
        "Machine: {cores} cores ({cpu}), {:.1} GiB memory; Docker bridge network; controld, agentd, the",
        mem as f64 / 1048576.0
    );
    let _ = writeln!(
        md,
        "client and the container all on this one machine, so they share its {cores} cores. Run on {date}.\n"
    );
    let _ = writeln!(
        md,
        "Direct = the container's own address and port. Edge = controld's public port: client → controld"
    );
    let _ = writeln!(
        md,
        "(TCP) → agentd (gRPC stream over TLS, the connection agentd dialled out) → container (TCP).\n"
    );
    let _ = writeln!(
        md,
        "| measure | direct | through the edge | edge / direct | aim |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|");
    let _ = writeln!(
        md,
        "| one bulk stream | {tp_direct:.0} MB/s | {tp_edge:.0} MB/s | {:.0} % | ≥ 400 MB/s and ≥ 50 % |",
        tp_edge / tp_direct * 100.0
    );
    let _ = writeln!(
        md,
        "| 64-byte echo, p50 round trip | {d50:.0} µs | {e50:.0} µs | +{:.0} µs | |",
        e50 - d50
    );
    let _ = writeln!(
        md,
        "| 64-byte echo, p99 round trip | {d99:.0} µs | {e99:.0} µs | +{:.0} µs | ≤ +1 ms |",
        e99 - d99
    );
    let _ = writeln!(
        md,
        "| memory per idle relayed connection ({IDLE} open) | — | {per_conn_kib:.1} KiB | | ≤ 64 KB |"
    );
    let _ = writeln!(
        md,
        "\nMemory is the growth of controld's and agentd's resident set (VmRSS) with {IDLE} idle relayed"
    );
    let _ = writeln!(
        md,
        "connections open (controld {c0} → {c1} KiB, agentd {a0} → {a1} KiB)."
    );
    let _ = writeln!(
        md,
        "Each figure is the median of {ROUNDS} interleaved rounds (bulk MB/s, direct {}, edge {}). Per round: {} MiB direct and {} MiB through the edge after a 64 MiB warm-up; {ECHOES} echo round trips after 200 warm-up.",
        spread(&tpd),
        spread(&tpe),
        BULK_DIRECT >> 20,
        BULK_EDGE >> 20
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/BENCHMARKS.md");
    // `make scale` keeps its own section at the end.
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    if let Some(i) = old.find("## Fleet scale (`make scale`") {
        md = format!("{}\n\n{}", md.trim_end(), &old[i..]);
    }
    std::fs::write(&path, &md).expect("write docs/BENCHMARKS.md");
    print!("{md}");
}
