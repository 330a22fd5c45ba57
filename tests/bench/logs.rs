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
const FOLLOW_FOR: Duration = Duration::from_secs(10);

/// What one reader gave: lines, seconds, and seconds until its first line.
struct Reading {
    lines: usize,
    secs: f64,
    first_line_secs: f64,
}

impl Reading {
    fn rate(&self) -> f64 {
        self.lines as f64 / self.secs
    }
}

/// Runs `cmd` and counts the lines it prints, for at most `for_at_most`
/// (follow) or until it ends (read). A follow is timed from its first line,
/// so each reader's rate is its steady speed, not its start-up (each
/// reader's time to its first line is kept apart); a read is timed from
/// the start.
fn count_lines(
    mut cmd: Command,
    for_at_most: Option<Duration>,
    pids: (u32, u32),
    peak: &mut u64,
) -> Reading {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut out = child.stdout.take().expect("stdout");
    let start = Instant::now();
    let (mut lines, mut buf) = (0usize, vec![0u8; 1 << 16]);
    let mut sampled = Instant::now();
    let mut first: Option<(Instant, usize)> = None;
    loop {
        if let Some(d) = for_at_most
            && first.is_some_and(|(t, _)| t.elapsed() >= d)
        {
            break;
        }
        let n = out.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|b| **b == b'\n').count();
        if first.is_none() && lines > 0 {
            first = Some((Instant::now(), lines));
        }
        if sampled.elapsed() > Duration::from_millis(200) {
            *peak = (*peak).max(rss_kib(pids.0) + rss_kib(pids.1));
            sampled = Instant::now();
        }
    }
    let end = Instant::now();
    let _ = child.kill();
    let _ = child.wait();
    let (first_at, first_lines) = first.unwrap_or((start, 0));
    match for_at_most {
        Some(_) => Reading {
            lines: lines - first_lines,
            secs: (end - first_at).as_secs_f64(),
            first_line_secs: (first_at - start).as_secs_f64(),
        },
        None => Reading {
            lines,
            secs: (end - start).as_secs_f64(),
            first_line_secs: (first_at - start).as_secs_f64(),
        },
    }
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

/// Lattice beside its baseline round by round: each round's ratio is taken
/// from the two readers of that round, and the worst of them must meet
/// `least` (a median can hide a bad round).
fn per_round_row(measure: &str, base: &[f64], lat: &[f64], least: f64) -> Row {
    let ratios: Vec<f64> = lat.iter().zip(base).map(|(l, b)| l / b).collect();
    let worst = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    Row {
        measure: measure.into(),
        baseline: with_range(base, 0),
        lattice: with_range(lat, 0),
        ratio: format!("{:.2}× (worst round {worst:.2}×)", median(&ratios)),
        aim: format!("≥ {least}× every round"),
        met: Some(worst >= least),
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
        let r = count_lines(d, None, pids, &mut peak);
        assert_eq!(r.lines, LINES, "docker logs read every line");
        rd.push(r.rate());
        let r = count_lines(cli.command(&["logs", "loglines"]), None, pids, &mut peak);
        assert_eq!(r.lines, LINES, "lattice logs read every line");
        rl.push(r.rate());
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
    let mut firsts: [Vec<f64>; 3] = Default::default();
    for round in 0..FOLLOW_ROUNDS {
        eprintln!("logs: follow round {}/{FOLLOW_ROUNDS}…", round + 1);
        for k in 0..3 {
            let reader = (round + k) % 3;
            let cmd = match reader {
                0 => docker_follow(&c, false),
                1 => docker_follow(&c, true),
                _ => cli.command(&["logs", "-f", "--tail", "0", "flood"]),
            };
            let r = count_lines(cmd, Some(FOLLOW_FOR), pids, &mut peak);
            rates[reader].push(r.rate());
            firsts[reader].push(r.first_line_secs * 1e3);
        }
    }
    let [fd, ft, fl] = rates;
    let [first_d, _, first_l] = firsts;
    cli.run(&["rm", "flood", "--yes", "--wait"], None).ok();
    Section {
        title: "Logs vs `docker logs`".into(),
        intro: format!(
            "The same container, read both ways, lines per second as the reader counts them. Read: \
             {LINES} lines of 60 bytes, `docker logs C` against `lattice logs NAME`. Follow: a container \
             running `yes` (as fast as it can write), `docker logs -f --tail 0 C` (and with `-t`) \
             against `lattice logs -f --tail 0 NAME`, {} s each from the reader's first line (its start-up \
             is the last row).",
            FOLLOW_FOR.as_secs()
        ),
        rows: vec![
            rate_row(&format!("read {LINES} lines, lines/s"), &rd, &rl),
            per_round_row("follow a flood, lines/s", &fd, &fl, 0.95),
            Row {
                aim: "— (the same read)".into(),
                met: None,
                ..rate_row("follow a flood vs `docker logs -f -t`, lines/s", &ft, &fl)
            },
            Row {
                measure: "follow: start to first line, ms".into(),
                baseline: with_range(&first_d, 0),
                lattice: with_range(&first_l, 0),
                ratio: format!("{:.1}×", median(&first_l) / median(&first_d)),
                aim: "—".into(),
                met: None,
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
