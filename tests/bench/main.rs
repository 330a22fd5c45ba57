//! `make bench`: every fast path next to its baseline, in one run on this
//! machine — footprint and `lattice ls` against `docker ps`, the public edge
//! relay against direct connections, deploy against `docker run`, logs
//! against `docker logs`. Writes docs/BENCHMARKS.md (keeping `make scale`'s
//! sections).
//!
//! The relay's workload is relay/peer.c on the local base image: an echo
//! server (port 7000) for round trips and idle connections, and a sink
//! (port 7002) for throughput. `lattice-bench floor-relay …` is the plain
//! relay the relay section measures as the floor.

mod deploy;
mod footprint;
mod logs;
mod relay;
mod report;

use lattice_e2e::{Cluster, docker};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("floor-relay") {
        relay::floor_relay(&args[2..]);
    }
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    // The daemons as users run them: not at the tests' debug level.
    lattice_e2e::log_as_in_production();
    // The relay's idle-connection figure holds 1,000 connections from one address.
    let c = Cluster::start_full(
        &[],
        &[
            "--edge-max-connections-per-workload",
            "4096",
            "--edge-max-connections-per-client",
            "4096",
        ],
    );
    let cli = &c.admin;
    let pids = (
        c.controld.pid().expect("controld runs as a process"),
        c.agent.pid().expect("agentd runs as a process"),
    );
    // LATTICE_BENCH_SECTIONS=relay,logs runs only those, and writes no file.
    let only = std::env::var("LATTICE_BENCH_SECTIONS").ok();
    let wanted = |s: &str| only.as_deref().is_none_or(|o| o.split(',').any(|x| x == s));
    let mut sections = Vec::new();
    // Footprint first, on a fresh cluster: nothing has grown the daemons yet.
    if wanted("footprint") {
        eprintln!("footprint…");
        sections.push(footprint::run(cli, pids));
    }
    // The relay's workload, only when the relay section runs.
    if wanted("relay") {
        let peer = relay::peer_image();
        cli.run(
            &[
                "deploy", "custom", "bench", "--image", &peer, "--port", "7000", "--port", "7002",
                "--wait",
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
            .expect("id")
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
                .expect("endpoints")
                .iter()
                .find(|e| e["via"] == "public" && e["container_port"] == cport)
                .expect("a public endpoint");
            format!("127.0.0.1:{}", e["port"])
        };
        let direct = relay::Path {
            name: "direct",
            sink: format!("{ip}:7002"),
            echo: format!("{ip}:7000"),
            pids: Vec::new(),
        };
        let lattice = relay::Path {
            name: "Lattice",
            sink: edge(7002),
            echo: edge(7000),
            pids: vec![pids.0, pids.1],
        };
        sections.push(relay::run(direct, lattice));
        cli.run(&["rm", "bench", "--yes", "--wait"], None).ok();
    }
    if wanted("deploy") {
        eprintln!("deploy…");
        sections.push(deploy::run(cli));
    }
    if wanted("logs") {
        eprintln!("logs…");
        sections.push(logs::run(cli, pids));
    }

    let date = docker(&[
        "run",
        "--rm",
        "lattice-local/base:bookworm",
        "date",
        "-u",
        "+%Y-%m-%d",
    ]);
    let mut md = report::render(&sections, &report::machine(), &date);
    if only.is_some() {
        print!("{md}");
        return;
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/BENCHMARKS.md");
    // `make scale` keeps its own sections at the end.
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    if let Some(i) = old.find("## Fleet scale (`make scale`") {
        md = format!("{}\n\n{}", md.trim_end(), &old[i..]);
    }
    std::fs::write(&path, &md).expect("write docs/BENCHMARKS.md");
    print!("{md}");
}
