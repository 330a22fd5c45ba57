//! One run of `make scale`: a fresh controld (and database), the fleet
//! joining, the deploy burst, the figures, a restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lattice_e2e::{Cli, Controld, HollowFleet, PASSWORD};
use lattice_proto::v1;
use lattice_proto::v1::auth_service_client::AuthServiceClient;
use lattice_proto::v1::node_service_client::NodeServiceClient;
use lattice_proto::v1::workload_service_client::WorkloadServiceClient;
use tonic::transport::Channel;

use crate::probe::{cpu_secs, ms, proc_field};

/// Deploys in flight at once.
pub const CONCURRENCY: usize = 32;
/// Samples per latency figure.
const SAMPLES: usize = 200;
/// How long controld rests before its memory and CPU at rest are read:
/// long enough for an allocator to hand back what the burst freed (jemalloc
/// decays freed pages over 10 s).
pub const REST: Duration = Duration::from_secs(30);
/// Users watching all their workloads during the deploys.
pub const WATCHERS: usize = 10;

/// The size of a run.
pub struct Setup {
    pub nodes: usize,
    pub users: usize,
    pub per_user: usize,
    pub postgres: bool,
}

/// What one run measured (latencies p50 / p99 in ms).
pub struct Figures {
    pub total: usize,
    pub joined_s: f64,
    pub accepted_s: f64,
    pub running_s: f64,
    pub deploy_ms: (f64, f64),
    pub list_ms: (f64, f64),
    pub nodes_ms: (f64, f64),
    pub fanout_ms: (f64, f64),
    pub fanout_n: usize,
    /// controld's resident set: fleet joined / peak under churn / its
    /// high-water mark over the whole run (the list samples included) / at
    /// rest.
    pub rss_mib: [u64; 4],
    /// Share of a core: under churn / at rest.
    pub cpu: (f64, f64),
    /// Restart → every node ready and every workload running (not when profiled).
    pub resync_s: Option<f64>,
}

/// One run from a fresh controld to its restart.
pub async fn once(setup: &Setup) -> Figures {
    let Setup {
        nodes,
        users,
        per_user,
        postgres,
    } = *setup;
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
    // Under a heap profiler (`make scale-heap`) the pid is the profiler's
    // and a restart would end the profile: both are left out.
    let profiled = std::env::var_os("LATTICE_TEST_CONTROLD_WRAPPER").is_some();
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
    eprintln!(
        "scale: every workload running: RSS {} MiB (high-water {} MiB)",
        proc_field(pid, "VmRSS:") >> 10,
        busy_rss >> 10
    );

    let mut list_ms = Vec::new();
    let mut nodes_ms = Vec::new();
    for _ in 0..SAMPLES {
        list_ms.push(running_of(&ch, &user_tokens[0]).await.1);
        nodes_ms.push(ready_nodes(&ch, &admin_token).await.1);
    }
    eprintln!(
        "scale: after the list samples: RSS {} MiB",
        proc_field(pid, "VmRSS:") >> 10
    );
    let cpu1 = cpu_secs(pid);
    tokio::time::sleep(REST).await;
    let rest_cpu = (cpu_secs(pid) - cpu1) / REST.as_secs_f64();
    let full_rss = proc_field(pid, "VmRSS:");
    let high_water = proc_field(pid, "VmHWM:");

    let resync_s = if profiled {
        None
    } else {
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
        Some(restarting.elapsed().as_secs_f64())
    };
    drop(fleet);
    drop(controld);
    let (d50, d99) = ms(deploy_ms);
    let (l50, l99) = ms(list_ms);
    let (n50, n99) = ms(nodes_ms);
    Figures {
        total,
        joined_s,
        accepted_s,
        running_s,
        deploy_ms: (d50, d99),
        list_ms: (l50, l99),
        nodes_ms: (n50, n99),
        fanout_ms: (f50, f99),
        fanout_n,
        rss_mib: [
            rest_rss >> 10,
            busy_rss >> 10,
            high_water >> 10,
            full_rss >> 10,
        ],
        cpu: (churn_cpu, rest_cpu),
        resync_s,
    }
}

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
