//! What Lattice costs at rest: agentd's and controld's resident set with
//! one node running ten workloads, and `lattice ls` against `docker ps`.

use std::process::Command;
use std::time::{Duration, Instant};

use lattice_e2e::Cli;

use crate::report::{Row, Section, median, rss_kib, with_range};

const WORKLOADS: usize = 10;
const ROUNDS: usize = 11;

fn wall_ms(mut cmd: Command) -> f64 {
    let t = Instant::now();
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed().as_secs_f64() * 1000.0
}

pub fn run(cli: &Cli, pids: (u32, u32)) -> Section {
    for i in 0..WORKLOADS {
        cli.run(
            &[
                "deploy",
                "custom",
                &format!("idle{i}"),
                "--image",
                "lattice-local/web:latest",
                "--port",
                "80",
            ],
            None,
        )
        .ok();
    }
    lattice_e2e::wait_for(Duration::from_secs(120), || {
        let ls = cli.run(&["ls", "-o", "json"], None).ok().json();
        let all = ls.as_array()?;
        (all.iter().filter(|w| w["status"] == "running").count() >= WORKLOADS).then_some(())
    })
    .expect("ten workloads running");
    // At rest: let start-up work and the first reports settle.
    std::thread::sleep(Duration::from_secs(10));
    let (mut agent, mut control) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        agent.push(rss_kib(pids.1) as f64 / 1024.0);
        control.push(rss_kib(pids.0) as f64 / 1024.0);
        std::thread::sleep(Duration::from_secs(1));
    }
    let (mut ls, mut ps) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        ps.push(wall_ms({
            let mut c = Command::new("docker");
            c.arg("ps");
            c
        }));
        ls.push(wall_ms(cli.command(&["ls"])));
    }
    for i in 0..WORKLOADS {
        cli.run(&["rm", &format!("idle{i}"), "--yes"], None).ok();
    }
    let (a, c) = (median(&agent), median(&control));
    let r = median(&ls) / median(&ps);
    Section {
        title: "Footprint".into(),
        intro: format!(
            "Release build, one node running {WORKLOADS} custom workloads (a web server each, with a public \
             port), at rest. `lattice ls` and `docker ps` list the same containers ({ROUNDS} interleaved \
             runs, wall time including process start; `lattice ls` also does a TLS handshake and an \
             authenticated call)."
        ),
        rows: vec![
            Row {
                measure: "agentd resident set, MiB".into(),
                baseline: "—".into(),
                lattice: with_range(&agent, 1),
                ratio: String::new(),
                aim: "≤ 15 MiB".into(),
                met: Some(a <= 15.0),
            },
            Row {
                measure: "controld resident set, MiB".into(),
                baseline: "—".into(),
                lattice: with_range(&control, 1),
                ratio: String::new(),
                aim: "≤ 40 MiB".into(),
                met: Some(c <= 40.0),
            },
            Row {
                measure: "`lattice ls` vs `docker ps`, ms".into(),
                baseline: with_range(&ps, 0),
                lattice: with_range(&ls, 0),
                ratio: format!("{r:.2}×"),
                aim: "≤ 1.5×".into(),
                met: Some(r <= 1.5),
            },
        ],
        notes: Vec::new(),
    }
}
