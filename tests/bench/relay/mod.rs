//! The public edge relay beside its floor and a peer, on one path shape:
//! direct to the container, a plain two-process relay (the floor: the same
//! three TCP hops, no encryption), rathole over TLS, and Lattice (controld
//! → TLS data connection → agentd). The same C sink and echo server answer
//! every path and the same compiled sender feeds it; rounds interleave the
//! paths; each throughput has the CPU-seconds per GB of its relaying
//! processes beside it.

mod floor;
mod paths;
mod table;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

pub use floor::main as floor_relay;
pub use paths::{Path, peer_image};

use crate::report::{Section, percentile, rss_kib};

const STREAM: u64 = 512 << 20;
const PARALLEL: usize = 8;
const CHUNK: usize = 256 * 1024;
const ECHOES: usize = 3000;
const IDLE: usize = 1000;
const ROUNDS: usize = 3;

/// Sends `bytes` into the sink at `addr`; MB/s once the sink has them all.
fn send(addr: &str, bytes: u64) -> f64 {
    let mut s = TcpStream::connect(addr).expect("connect");
    let chunk = vec![0u8; CHUNK];
    let t = Instant::now();
    s.write_all(&bytes.to_be_bytes()).expect("write length");
    let mut left = bytes;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        s.write_all(&chunk[..n]).expect("write");
        left -= n as u64;
    }
    let mut ack = [0u8; 1];
    s.read_exact(&mut ack)
        .expect("the sink acknowledges every byte");
    bytes as f64 / t.elapsed().as_secs_f64() / 1e6
}

/// `PARALLEL` streams at once: aggregate MB/s.
fn parallel(addr: &str) -> f64 {
    let t = Instant::now();
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..PARALLEL)
            .map(|_| s.spawn(|| send(addr, STREAM)))
            .collect();
        for h in hs {
            h.join().expect("stream");
        }
    });
    (STREAM * PARALLEL as u64) as f64 / t.elapsed().as_secs_f64() / 1e6
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
fn idle_memory(echo: &str, pids: &[u32]) -> (f64, String) {
    std::thread::sleep(Duration::from_secs(1));
    let before: Vec<u64> = pids.iter().map(|p| rss_kib(*p)).collect();
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        let mut s = TcpStream::connect(echo).expect("connect");
        s.write_all(&[1u8; 64]).expect("write");
        let mut b = [0u8; 64];
        s.read_exact(&mut b)
            .expect("every relayed connection answers");
        idle.push(s);
    }
    std::thread::sleep(Duration::from_secs(2));
    let after: Vec<u64> = pids.iter().map(|p| rss_kib(*p)).collect();
    drop(idle);
    let grown: u64 = before
        .iter()
        .zip(&after)
        .map(|(b, a)| a.saturating_sub(*b))
        .sum();
    let readings = format!(
        "controld {} → {} KiB, agentd {} → {} KiB",
        before[0], after[0], before[1], after[1]
    );
    (grown as f64 / IDLE as f64, readings)
}

/// Every figure of one path, one entry per round.
#[derive(Default)]
pub struct Figures {
    pub one: Vec<f64>,
    pub one_cpu: Vec<f64>,
    pub many: Vec<f64>,
    pub many_cpu: Vec<f64>,
    pub p50: Vec<f64>,
    pub p99: Vec<f64>,
}

/// CPU-seconds per GB the relaying processes spent while `f` moved `bytes`.
fn measured(p: &Path, bytes: u64, f: impl FnOnce() -> f64) -> (f64, f64) {
    let c0 = paths::cpu_seconds(&p.pids);
    let mbps = f();
    let cpu = paths::cpu_seconds(&p.pids) - c0;
    (mbps, cpu / (bytes as f64 / 1e9))
}

/// `lattice` is the cluster's edge (controld and agentd's pids); `direct`
/// the container's own address.
pub fn run(direct: Path, lattice: Path) -> Section {
    let (floor, _floor_procs) = paths::floor(&direct);
    let rathole = paths::rathole(&direct);
    let mut ps = vec![direct, floor, lattice];
    let _rathole_procs = match rathole {
        Ok((p, c)) => {
            ps.push(p);
            Some(c)
        }
        Err(e) => {
            eprintln!("relay: rathole left out: {e}");
            None
        }
    };
    eprintln!("relay: warming up…");
    for p in &ps {
        send(&p.sink, 64 << 20);
    }
    let mut figs: Vec<Figures> = ps.iter().map(|_| Figures::default()).collect();
    for round in 0..ROUNDS {
        eprintln!("relay: round {}/{ROUNDS}…", round + 1);
        // Who goes first rotates.
        for k in 0..ps.len() {
            let i = (k + round) % ps.len();
            let (p, f) = (&ps[i], &mut figs[i]);
            let (mbps, cpu) = measured(p, STREAM, || send(&p.sink, STREAM));
            f.one.push(mbps);
            f.one_cpu.push(cpu);
            let (mbps, cpu) = measured(p, STREAM * PARALLEL as u64, || parallel(&p.sink));
            f.many.push(mbps);
            f.many_cpu.push(cpu);
            let (p50, p99) = latencies(&p.echo);
            f.p50.push(p50);
            f.p99.push(p99);
        }
    }
    eprintln!("relay: {IDLE} idle connections…");
    let (per_conn, readings) = idle_memory(&ps[2].echo, &ps[2].pids);
    let names: Vec<&str> = ps.iter().map(|p| p.name).collect();
    table::section(&names, &figs, per_conn, &readings)
}
