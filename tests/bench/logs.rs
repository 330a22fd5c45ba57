//! `lattice logs` against `docker logs` on the same container: reading
//! 200,000 lines, and following a container that writes as fast as it can,
//! with both daemons' memory watched while they do.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lattice_e2e::{Cli, wait_for};

use crate::report::{Row, Section, median, rss_kib, with_range};

const LINES: usize = 200_000;
const ROUNDS: usize = 3;
/// Follow rounds: each of the three readers goes first twice.
const FOLLOW_ROUNDS: usize = 6;
const FOLLOW_FOR: Duration = Duration::from_secs(5);

fn count_lines(
    mut cmd: Command,
    for_at_most: Option<Duration>,
    pids: (u32, u32),
    peak: &mut u64,
) -> (usize, f64) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut out = child.stdout.take().expect("stdout");
    let t = Instant::now();
    let (mut lines, mut buf) = (0usize, vec![0u8; 1 << 16]);
    let mut sampled = Instant::now();
    loop {
        if for_at_most.is_some_and(|d| t.elapsed() >= d) {
            break;
        }
        let n = out.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|b| **b == b'\n').count();
        if sampled.elapsed() > Duration::from_millis(200) {
            *peak = (*peak).max(rss_kib(pids.0) + rss_kib(pids.1));
            sampled = Instant::now();
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    (lines, secs)
}

fn docker_follow(container: &str, times: bool) -> Command {
    let mut d = Command::new("docker");
    d.args(["logs", "-f", "--tail", "0"]);
    if times {
        d.arg("-t");
    }
    d.arg(container);
    d
}

fn container_of(cli: &Cli, name: &str) -> String {
    let id = cli.run(&["status", name, "-o", "json"], None).ok().json()["id"]
        .as_str()
        .expect("id")
        .to_string();
    format!("lattice-{id}")
}

fn rate_row(measure: &str, base: &[f64], lat: &[f64]) -> Row {
    let r = median(lat) / median(base);
    Row {
        measure: measure.into(),
        baseline: with_range(base, 0),
        lattice: with_range(lat, 0),
        ratio: format!("{r:.2}×"),
        aim: "≥ 0.9×".into(),
        met: Some(r >= 0.9),
    }
}

pub fn run(cli: &Cli, pids: (u32, u32)) -> Section {
    let script = format!(
        "awk 'BEGIN{{for(i=1;i<={LINES};i++) printf \"line %d the quick brown fox jumps over the lazy dog\\n\", i}}'; exec sleep 1000000"
    );
    cli.run(
        &[
            "deploy",
            "custom",
            "loglines",
            "--image",
            "lattice-local/web:latest",
            "--wait",
            "--",
            "sh",
            "-c",
            &script,
        ],
        None,
    )
    .ok();
    let c = container_of(cli, "loglines");
    wait_for(Duration::from_secs(120), || {
        let out = Command::new("docker").args(["logs", &c]).output().ok()?;
        (out.stdout.iter().filter(|b| **b == b'\n').count() >= LINES).then_some(())
    })
    .expect("the container wrote its lines");
    let base_rss = rss_kib(pids.0) + rss_kib(pids.1);
    let mut peak = base_rss;
    let (mut rd, mut rl) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        eprintln!("logs: read round {round}/{ROUNDS}…");
        let mut d = Command::new("docker");
        d.args(["logs", &c]);
        let (n, s) = count_lines(d, None, pids, &mut peak);
        assert_eq!(n, LINES, "docker logs read every line");
        rd.push(n as f64 / s);
        let (n, s) = count_lines(cli.command(&["logs", "loglines"]), None, pids, &mut peak);
        assert_eq!(n, LINES, "lattice logs read every line");
        rl.push(n as f64 / s);
    }
    cli.run(&["rm", "loglines", "--yes", "--wait"], None).ok();

    let flood = "exec yes 'line the quick brown fox jumps over the lazy dog 0123456789'";
    cli.run(
        &[
            "deploy",
            "custom",
            "flood",
            "--image",
            "lattice-local/web:latest",
            "--wait",
            "--",
            "sh",
            "-c",
            flood,
        ],
        None,
    )
    .ok();
    let c = container_of(cli, "flood");
    // Three readers of the same flood: `docker logs -f`, the same with
    // Docker's per-line times (what a followed Lattice read asks Docker
    // for: each line's time is its resume cursor), and `lattice logs -f`.
    // Who goes first rotates, so a rotation of the log file or a busy
    // moment falls on each in turn.
    let mut rates: [Vec<f64>; 3] = Default::default();
    for round in 0..FOLLOW_ROUNDS {
        eprintln!("logs: follow round {}/{FOLLOW_ROUNDS}…", round + 1);
        for k in 0..3 {
            let reader = (round + k) % 3;
            let cmd = match reader {
                0 => docker_follow(&c, false),
                1 => docker_follow(&c, true),
                _ => cli.command(&["logs", "-f", "--tail", "0", "flood"]),
            };
            let (n, s) = count_lines(cmd, Some(FOLLOW_FOR), pids, &mut peak);
            rates[reader].push(n as f64 / s);
        }
    }
    let [fd, ft, fl] = rates;
    cli.run(&["rm", "flood", "--yes", "--wait"], None).ok();
    Section {
        title: "Logs vs `docker logs`".into(),
        intro: format!(
            "The same container, read both ways, lines per second as the reader counts them. Read: \
             {LINES} lines of 60 bytes, `docker logs C` against `lattice logs NAME`. Follow: a container \
             running `yes` (as fast as it can write), `docker logs -f --tail 0 C` (and with `-t`) \
             against `lattice logs -f --tail 0 NAME`, {} s each.",
            FOLLOW_FOR.as_secs()
        ),
        rows: vec![
            rate_row(&format!("read {LINES} lines, lines/s"), &rd, &rl),
            rate_row("follow a flood, lines/s", &fd, &fl),
            Row {
                aim: "— (the same read)".into(),
                met: None,
                ..rate_row("follow a flood vs `docker logs -f -t`, lines/s", &ft, &fl)
            },
        ],
        notes: vec![
            format!(
                "A followed read asks Docker for each line's time (`-t`): it is the line's cursor, with \
                 which `lattice logs -f` resumes without losing or repeating a line after controld or \
                 the node comes back. Docker itself serves `docker logs -f -t` at {:.2}× the lines of \
                 `docker logs -f` here — dockerd is the bottleneck of a flood (two thirds of all CPU \
                 samples under `perf`, the same share for every reader) and each line costs it more with \
                 its time; the third row is Lattice against that same read.",
                median(&ft) / median(&fd)
            ),
            format!(
                "Memory: controld + agentd resident set {} MiB before, at most {} MiB while any reader \
                 ran (sampled every 200 ms); each hop holds a bounded window of frames. {ROUNDS} \
                 interleaved read rounds; {FOLLOW_ROUNDS} follow rounds, who goes first rotating.",
                base_rss / 1024,
                peak / 1024
            ),
        ],
    }
}
