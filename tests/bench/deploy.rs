//! Deploy to ready through Lattice against `docker run` of the same image
//! plus the same readiness poll, in interleaved rounds: a custom web server
//! (ready = TCP connect) and Postgres (ready = `pg_isready`), with where
//! Lattice's time goes, from the workload's own events.

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use lattice_e2e::{Cli, docker};

use crate::report::{Row, Section, median, with_range};

/// Rounds of each: a Postgres start varies by ±25 % from one to the next
/// on this machine, for both; a 5 % aim needs a median of many.
const ROUNDS: usize = 15;
const NET: &str = "lattice-bench-base";

/// The phases of one Lattice deploy, ms: accepted (CLI start → placed),
/// to starting (push, image check, create), to running (start, probe,
/// report), to the CLI seeing it (watch).
#[derive(Default)]
struct Phases {
    accept: Vec<f64>,
    start: Vec<f64>,
    probe: Vec<f64>,
    watch: Vec<f64>,
}

fn event_ms(events: &serde_json::Value, status: &str) -> Option<f64> {
    let at = events
        .as_array()?
        .iter()
        .rev()
        .find(|e| e["status"] == status)?["at"]
        .as_str()?;
    let t = chrono::DateTime::parse_from_rfc3339(at).ok()?;
    Some(t.timestamp_millis() as f64)
}

fn epoch_ms(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Deploys through Lattice and waits; wall ms, phases recorded.
fn lattice(cli: &Cli, args: &[&str], name: &str, phases: &mut Phases) -> f64 {
    let began = SystemTime::now();
    let t = Instant::now();
    cli.run(args, None).ok();
    let wall = t.elapsed().as_secs_f64() * 1000.0;
    let ended = epoch_ms(began) + wall;
    let st = cli.run(&["status", name, "-o", "json"], None).ok().json();
    let ev = &st["events"];
    if let (Some(s), Some(st), Some(r)) = (
        event_ms(ev, "scheduled"),
        event_ms(ev, "starting"),
        event_ms(ev, "running"),
    ) {
        phases.accept.push(s - epoch_ms(began));
        phases.start.push(st - s);
        phases.probe.push(r - st);
        phases.watch.push(ended - r);
    }
    wall
}

fn remove(cli: &Cli, name: &str) {
    cli.run(&["rm", name, "--purge", "--yes", "--wait"], None)
        .ok();
}

fn poll_until(mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready() {
        assert!(Instant::now() < deadline, "the baseline never got ready");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `docker run -p` then the readiness poll; wall ms.
fn baseline(run: &[&str], name: &str, ready: impl FnMut() -> bool) -> f64 {
    let t = Instant::now();
    let st = Command::new("docker")
        .args(["run", "-d", "--name", name, "--network", NET])
        .args(run)
        .output()
        .expect("docker run");
    assert!(
        st.status.success(),
        "docker run: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    poll_until(ready);
    let wall = t.elapsed().as_secs_f64() * 1000.0;
    docker(&["rm", "-f", "-v", name]);
    wall
}

/// `a` then `b`, or `b` then `a`.
fn in_turn(a_first: bool, a: &mut impl FnMut(), b: &mut impl FnMut()) {
    if a_first {
        a();
        b();
    } else {
        b();
        a();
    }
}

fn tcp_ready(addr: &str) -> bool {
    let a: SocketAddr = addr.parse().expect("address");
    TcpStream::connect_timeout(&a, Duration::from_millis(100)).is_ok()
}

fn pg_ready(ip: &str) -> bool {
    Command::new("pg_isready")
        .args([
            "-q", "-h", ip, "-p", "5432", "-U", "u_bench", "-d", "bench", "-t", "1",
        ])
        .status()
        .is_ok_and(|s| s.success())
}

fn row(measure: &str, base: &[f64], lat: &[f64], aim: &str, met: bool) -> Row {
    let (b, l) = (median(base), median(lat));
    Row {
        measure: measure.into(),
        baseline: with_range(base, 0),
        lattice: with_range(lat, 0),
        ratio: format!("{:.2}× (+{:.0} ms)", l / b, l - b),
        aim: aim.into(),
        met: Some(met),
    }
}

pub fn run(cli: &Cli) -> Section {
    docker(&["network", "rm", NET]);
    docker(&["network", "create", "--subnet", "10.213.7.0/24", NET]);
    let (mut bc, mut lc, mut bp, mut lp) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut pc, mut pp) = (Phases::default(), Phases::default());
    // One untimed deploy each way first: caches, and the first container on
    // the network. Lattice's stays up through the rounds, so its owner's
    // network exists for them as the baseline's does (the network is made
    // with an owner's first workload on a node, and removed with the last).
    lattice(
        cli,
        &[
            "deploy",
            "custom",
            "warm",
            "--image",
            "lattice-local/web:latest",
            "--port",
            "80",
            "--wait",
        ],
        "warm",
        &mut Phases::default(),
    );
    baseline(
        &[
            "--ip",
            "10.213.7.10",
            "-p",
            "80",
            "lattice-local/web:latest",
        ],
        "bench-base-warm",
        || tcp_ready("10.213.7.10:80"),
    );
    for round in 1..=ROUNDS {
        eprintln!("deploy: round {round}/{ROUNDS}…");
        // Who goes first alternates (ABBA): whatever one run leaves behind
        // (a server's shutdown, a volume's removal) falls on both alike.
        let lattice_first = round % 2 == 1;
        let name = format!("web{round}");
        let mut lattice_web = || {
            lc.push(lattice(
                cli,
                &[
                    "deploy",
                    "custom",
                    &name,
                    "--image",
                    "lattice-local/web:latest",
                    "--port",
                    "80",
                    "--wait",
                ],
                &name,
                &mut pc,
            ));
            remove(cli, &name);
        };
        let mut baseline_web = || {
            bc.push(baseline(
                &[
                    "--ip",
                    "10.213.7.11",
                    "-p",
                    "80",
                    "lattice-local/web:latest",
                ],
                "bench-base-web",
                || tcp_ready("10.213.7.11:80"),
            ));
        };
        in_turn(lattice_first, &mut lattice_web, &mut baseline_web);
        let name = format!("pg{round}");
        let mut lattice_pg = || {
            lp.push(lattice(
                cli,
                &["deploy", "postgres", &name, "--wait", "--timeout", "2m"],
                &name,
                &mut pp,
            ));
            remove(cli, &name);
        };
        let mut baseline_pg = || {
            bp.push(baseline(
                &[
                    "--ip",
                    "10.213.7.12",
                    "-p",
                    "5432",
                    "-e",
                    "POSTGRES_USER=u_bench",
                    "-e",
                    "POSTGRES_PASSWORD=bench-only",
                    "-e",
                    "POSTGRES_DB=bench",
                    "-v",
                    "/var/lib/postgresql/data",
                    "lattice-local/postgres:latest",
                ],
                "bench-base-pg",
                || pg_ready("10.213.7.12"),
            ));
        };
        in_turn(lattice_first, &mut lattice_pg, &mut baseline_pg);
    }
    remove(cli, "warm");
    docker(&["network", "rm", NET]);
    let custom = median(&lc) <= median(&bc) * 1.05 || median(&lc) - median(&bc) <= 100.0;
    let pg = median(&lp) <= median(&bp) * 1.05;
    let phases = |p: &Phases| {
        format!(
            "accepted and placed {:.0} ms (CLI start, TLS, API, schedule, insert) → starting {:.0} ms \
             (push to the agent, volume, `docker create`, report) → running {:.0} ms \
             (`docker start`, readiness probe, report) → the CLI sees it {:.0} ms (watch)",
            median(&p.accept),
            median(&p.start),
            median(&p.probe),
            median(&p.watch)
        )
    };
    Section {
        title: "Deploy to ready vs `docker run`".into(),
        intro: "Baseline = `docker run -d -p` of the same cached image (with a volume for Postgres, as \
                Lattice gives it one) plus a poll every 10 ms: a TCP connect to the container for the \
                web server, host `pg_isready` for Postgres. Lattice = `lattice deploy … --wait`, wall \
                time of the CLI; its Postgres readiness is stricter (a real login and `select 1`)."
            .into(),
        rows: vec![
            row("custom web server, deploy → ready, ms", &bc, &lc, "≤ 1.05× or ≤ +100 ms", custom),
            row("Postgres, deploy → ready, ms", &bp, &lp, "≤ 1.05×", pg),
        ],
        notes: vec![
            format!("Where Lattice's time goes (medians, from the workload's events) — custom: {}.", phases(&pc)),
            format!("Postgres: {}.", phases(&pp)),
            format!("{ROUNDS} interleaved rounds after one untimed deploy each way; who goes first alternates."),
        ],
    }
}
