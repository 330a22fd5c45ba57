//! `make scale`: one real controld against a fleet of hollow nodes (real
//! agents over in-memory engines, see `HollowFleet`), driven through its
//! gRPC API by many users at once. Measures deploy throughput and latency,
//! `List` and the node list under a full fleet, controld's memory and CPU at
//! rest, and how long every node takes to come back after a restart.
//! Writes its section of docs/BENCHMARKS.md.
//!
//! `lattice-scale [NODES] [USERS] [PER_USER] [sqlite|postgres]` (default
//! 1000 100 100 sqlite; postgres uses a fresh database on the server
//! `LATTICE_TEST_POSTGRES_URL` names, which `make scale` starts).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lattice_e2e::{Cli, Controld, HollowFleet, PASSWORD};
use lattice_proto::v1;
use lattice_proto::v1::auth_service_client::AuthServiceClient;
use lattice_proto::v1::node_service_client::NodeServiceClient;
use lattice_proto::v1::workload_service_client::WorkloadServiceClient;
use tonic::transport::Channel;

/// Deploys in flight at once.
const CONCURRENCY: usize = 32;
/// Samples per latency figure.
const SAMPLES: usize = 200;
/// Users watching all their workloads during the deploys.
const WATCHERS: usize = 10;

/// Follows one user's Watch stream, recording for every update how long
/// after the status change (its `updated_at`) it arrived.
async fn watch_delays(ch: Channel, token: String, out: Arc<std::sync::Mutex<Vec<f64>>>) {
    let Ok(r) = WorkloadServiceClient::new(ch)
        .watch(bearer(
            v1::WatchRequest {
                name: String::new(),
            },
            &token,
        ))
        .await
    else {
        return;
    };
    let mut stream = r.into_inner();
    while let Ok(Some(ev)) = stream.message().await {
        if ev.kind != "update" {
            continue;
        }
        let Some(at) = ev.workload.and_then(|w| w.updated_at) else {
            continue;
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        if let Ok(mut v) = out.lock() {
            v.push((now - at.unix_millis) as f64);
        }
    }
}

fn bearer<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    r
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn ms(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (pct(&v, 0.5), pct(&v, 0.99))
}

fn proc_field(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU seconds the process has used (user + system).
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: u64 = fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|x| x.parse::<u64>().ok()).sum());
    ticks as f64 / 100.0
}

async fn ready_nodes(ch: &Channel, token: &str) -> (usize, f64) {
    let t = Instant::now();
    let r = NodeServiceClient::new(ch.clone())
        .list(bearer(v1::ListNodesRequest {}, token))
        .await;
    let took = t.elapsed().as_secs_f64() * 1e3;
    let ready = r.map_or(0, |r| {
        r.into_inner()
            .nodes
            .iter()
            .filter(|n| n.status == lattice_proto::state::NodeState::Ready.to_wire() as i32)
            .count()
    });
    (ready, took)
}

async fn running_of(ch: &Channel, token: &str) -> (usize, f64) {
    let t = Instant::now();
    let r = WorkloadServiceClient::new(ch.clone())
        .list(bearer(v1::ListWorkloadsRequest {}, token))
        .await;
    let took = t.elapsed().as_secs_f64() * 1e3;
    let running = r.map_or(0, |r| {
        r.into_inner()
            .workloads
            .iter()
            .filter(|w| w.status == lattice_proto::state::Status::Running.to_wire() as i32)
            .count()
    });
    (running, took)
}

async fn all_running(ch: &Channel, tokens: &[String]) -> usize {
    let mut n = 0;
    for t in tokens {
        n += running_of(ch, t).await.0;
    }
    n
}

/// Today's date (UTC) from `date`, without a date crate for one line.
fn chrono_free_date() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    // The figures are what users get: the daemons' own log level.
    lattice_e2e::log_as_in_production();
    let arg = |i: usize, d: usize| {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(d)
    };
    let (nodes, users, per_user) = (arg(1, 1000), arg(2, 100), arg(3, 100));
    let postgres = std::env::args().nth(4).is_some_and(|b| b == "postgres");
    let backend = if postgres { "Postgres" } else { "SQLite" };
    let total = users * per_user;
    let quota = per_user.max(50).to_string();
    let mut flags = vec![
        "--quota-workloads".to_string(),
        quota,
        "--auth-rate-per-minute".into(),
        "1000000".into(),
        "--node-lease".into(),
        "60s".into(),
    ];
    if postgres {
        let url = lattice_e2e::fresh_postgres_database()
            .await
            .expect("a Postgres database (set LATTICE_TEST_POSTGRES_URL; make scale does)");
        flags.extend(["--database-url".into(), url]);
    }
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut controld = Controld::start(&flags).expect("controld");
    let pid = controld.pid().expect("pid");
    let admin = Cli::new(Some(&controld.url()));
    admin.register("admin@example.com", PASSWORD, &controld.fingerprint);
    let ch = controld.channel().await.expect("channel");
    let login = |email: String| {
        let ch = ch.clone();
        async move {
            let mut auth = AuthServiceClient::new(ch);
            let _ = auth
                .register(v1::RegisterRequest {
                    email: email.clone(),
                    password: PASSWORD.into(),
                    invite: String::new(),
                })
                .await;
            let scope = if email.starts_with("admin@") {
                v1::TokenScope::Admin
            } else {
                v1::TokenScope::Deploy
            };
            let session = auth
                .login(v1::LoginRequest {
                    email,
                    password: PASSWORD.into(),
                })
                .await
                .expect("login")
                .into_inner();
            // Access tokens last 15 minutes; a run at full size takes longer.
            let req = v1::CreateApiTokenRequest {
                name: "scale".into(),
                scope: scope as i32,
                expires_in_seconds: 24 * 3600,
            };
            auth.create_api_token(bearer(req, &session.access_token))
                .await
                .expect("api token")
                .into_inner()
                .secret
        }
    };
    let admin_token = login("admin@example.com".into()).await;

    eprintln!("scale: {nodes} hollow nodes joining");
    let mut tokens = Vec::with_capacity(nodes);
    for _ in 0..nodes {
        let t = NodeServiceClient::new(ch.clone())
            .create_join_token(bearer(
                v1::CreateJoinTokenRequest {
                    expires_in_seconds: 3600,
                },
                &admin_token,
            ))
            .await
            .expect("join token")
            .into_inner()
            .token;
        tokens.push(t);
    }
    let joining = Instant::now();
    let fleet = HollowFleet::start(&controld.url(), &tokens, Duration::from_millis(500));
    while ready_nodes(&ch, &admin_token).await.0 < nodes {
        assert!(
            joining.elapsed() < Duration::from_secs(600),
            "the fleet did not join in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let joined_s = joining.elapsed().as_secs_f64();
    let rest_rss = proc_field(pid, "VmRSS:");

    eprintln!("scale: {users} users deploying {per_user} workloads each");
    let mut user_tokens = Vec::with_capacity(users);
    for u in 0..users {
        user_tokens.push(login(format!("user{u}@example.com")).await);
    }
    let work: Vec<(String, String)> = (0..per_user)
        .flat_map(|i| {
            user_tokens
                .iter()
                .map(move |t| (t.clone(), format!("w{i}")))
        })
        .collect();
    let work = Arc::new(tokio::sync::Mutex::new(work.into_iter()));
    let fanout = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut watchers = tokio::task::JoinSet::new();
    for t in user_tokens.iter().take(WATCHERS) {
        watchers.spawn(watch_delays(ch.clone(), t.clone(), fanout.clone()));
    }
    let deploying = Instant::now();
    let cpu0 = cpu_secs(pid);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (ch, work) = (ch.clone(), work.clone());
        tasks.spawn(async move {
            let mut lat = Vec::new();
            loop {
                let next = work.lock().await.next();
                let Some((token, name)) = next else {
                    return lat;
                };
                let req = v1::DeployRequest {
                    name,
                    kind: "custom".into(),
                    image: "sim/app:1".into(),
                    resources: Some(v1::Resources {
                        cpu_millis: 50,
                        memory_bytes: 64 << 20,
                    }),
                    ..Default::default()
                };
                let t = Instant::now();
                WorkloadServiceClient::new(ch.clone())
                    .deploy(bearer(req, &token))
                    .await
                    .expect("deploy");
                lat.push(t.elapsed().as_secs_f64() * 1e3);
            }
        });
    }
    let mut deploy_ms = Vec::with_capacity(total);
    while let Some(l) = tasks.join_next().await {
        deploy_ms.extend(l.expect("deployer"));
    }
    let accepted_s = deploying.elapsed().as_secs_f64();
    while all_running(&ch, &user_tokens).await < total {
        assert!(
            deploying.elapsed() < Duration::from_secs(1200),
            "not all running in 20 minutes"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let running_s = deploying.elapsed().as_secs_f64();
    watchers.abort_all();
    let fanout = std::mem::take(&mut *fanout.lock().expect("delays"));
    let fanout_n = fanout.len();
    let (f50, f99) = ms(fanout);
    let churn_cpu = (cpu_secs(pid) - cpu0) / running_s;
    let busy_rss = proc_field(pid, "VmHWM:");

    let mut list_ms = Vec::new();
    let mut nodes_ms = Vec::new();
    for _ in 0..SAMPLES {
        list_ms.push(running_of(&ch, &user_tokens[0]).await.1);
        nodes_ms.push(ready_nodes(&ch, &admin_token).await.1);
    }
    let cpu1 = cpu_secs(pid);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let rest_cpu = (cpu_secs(pid) - cpu1) / 10.0;
    let full_rss = proc_field(pid, "VmRSS:");

    eprintln!("scale: restarting controld");
    let restarting = Instant::now();
    tokio::task::block_in_place(|| controld.restart()).expect("restart");
    let ch = controld.channel().await.expect("channel");
    while ready_nodes(&ch, &admin_token).await.0 < nodes
        || all_running(&ch, &user_tokens).await < total
    {
        assert!(
            restarting.elapsed() < Duration::from_secs(600),
            "the fleet did not come back in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let resync_s = restarting.elapsed().as_secs_f64();
    drop(fleet);

    let (d50, d99) = ms(deploy_ms);
    let (l50, l99) = ms(list_ms);
    let (n50, n99) = ms(nodes_ms);
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let date = chrono_free_date();
    let mut md = String::new();
    let heading = format!("## Fleet scale (`make scale`, {backend})");
    let _ = writeln!(md, "{heading}\n");
    let _ = writeln!(
        md,
        "Run on {date}, {} cores, on the machine the relay figures above ran on.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let _ = writeln!(
        md,
        "One controld ({build} build, {backend} store) and {nodes} hollow nodes — real agents (identity, TLS, heartbeats every 2 s,\n\
         reports, convergence) over in-memory engines whose containers take 0.5 s to start, all on this machine —\n\
         driven over gRPC by {users} users deploying {per_user} workloads each, {CONCURRENCY} deploys in flight.\n"
    );
    let _ = writeln!(md, "| figure | measured | aim |\n|---|---|---|");
    let rows = [
        (
            "nodes joined and ready",
            format!("{joined_s:.1} s"),
            "—".to_string(),
        ),
        (
            "deploys accepted",
            format!(
                "{:.0}/s ({total} in {accepted_s:.1} s)",
                total as f64 / accepted_s
            ),
            "—".into(),
        ),
        (
            "deploy throughput (to `running`)",
            format!(
                "{:.0}/s ({total} in {running_s:.1} s)",
                total as f64 / running_s
            ),
            "≥ 200/s".into(),
        ),
        (
            "Deploy latency p50 / p99",
            format!("{d50:.1} / {d99:.1} ms"),
            "p99 ≤ 1 s".into(),
        ),
        (
            &*format!("List, a user with {per_user} workloads, p50 / p99"),
            format!("{l50:.1} / {l99:.1} ms"),
            "p99 ≤ 50 ms".into(),
        ),
        (
            &*format!("node list with {nodes} nodes, p50 / p99"),
            format!("{n50:.1} / {n99:.1} ms"),
            "—".into(),
        ),
        (
            &*format!(
                "Watch fan-out: status change → event at a watcher, p50 / p99 ({WATCHERS} watchers, {fanout_n} events)"
            ),
            format!("{f50:.0} / {f99:.0} ms"),
            "—".into(),
        ),
        (
            "controld RSS: fleet joined / peak under churn / at rest, full",
            format!(
                "{} / {} / {} MiB",
                rest_rss >> 10,
                busy_rss >> 10,
                full_rss >> 10
            ),
            "≤ 300 MiB".into(),
        ),
        (
            "controld CPU: under churn / at rest",
            format!(
                "{:.0}% / {:.0}% of a core",
                churn_cpu * 100.0,
                rest_cpu * 100.0
            ),
            "—".into(),
        ),
        (
            "controld restart → every node ready and every workload running",
            format!("{resync_s:.1} s"),
            "≤ 30 s".into(),
        ),
    ];
    for (k, v, aim) in rows {
        let _ = writeln!(md, "| {k} | {v} | {aim} |");
    }
    print!("{md}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/BENCHMARKS.md");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    // This backend's section is replaced; every other section stays.
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
        format!("{before}\n\n{}{after}", md.trim_end()) + "\n",
    )
    .expect("write docs/BENCHMARKS.md");
}
