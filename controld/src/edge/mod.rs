//! The public edge: every exposed workload port gets a port in
//! `--edge-ports` on controld, and each TCP connection accepted there is
//! relayed to the container over a byte stream its agent opens back to
//! controld. Agents behind NAT work because they dial out; nothing listens on
//! the node. Every buffer is bounded, so a stalled client stalls only its own
//! connection, and each connection is logged once with its byte counts.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, broadcast, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

mod relay;

use crate::fleet::{Change, Fleet};
use lattice_proto::state::Desired;

use crate::repo::Repo;

/// Edge settings.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// Address the edge listeners bind.
    pub addr: IpAddr,
    /// Port range (inclusive).
    pub range: (u16, u16),
    /// Name put in public URLs; None lets clients use the address they
    /// reached controld at.
    pub public_host: Option<String>,
    /// A connection with no traffic this long is closed.
    pub idle_timeout: Duration,
    /// Most relayed connections at once.
    pub max_connections: usize,
    /// Most relayed connections at once per workload.
    pub max_per_workload: usize,
    /// Most relayed connections at once from one client address.
    pub max_per_client: usize,
    /// How long a port another owner let go rests before reuse.
    pub quarantine: Duration,
    /// How long the agent has to open its side.
    pub claim_timeout: Duration,
}

/// Parses `20000-20999`.
pub fn parse_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("{s:?} is not a range like 20000-20999"))?;
    let a: u16 = a
        .trim()
        .parse()
        .map_err(|_| format!("{a:?} is not a port"))?;
    let b: u16 = b
        .trim()
        .parse()
        .map_err(|_| format!("{b:?} is not a port"))?;
    if a == 0 || a > b {
        return Err(format!("{s:?}: the first port must be 1..=the last"));
    }
    Ok((a, b))
}

/// The running edge.
pub struct Edge {
    cfg: EdgeConfig,
    metrics: Arc<crate::ops::Metrics>,
    fleet: Arc<Fleet>,
    repo: Repo,
    /// port → (workload id, accept task).
    listeners: Mutex<HashMap<u16, (String, JoinHandle<()>)>>,
    global: Arc<Semaphore>,
    per_workload: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Relayed connections per client address (IPv6: per /64).
    per_client: crate::quota::KeyedLimit,
    /// Bumped to close every relayed connection of a workload.
    closers: Mutex<HashMap<String, watch::Sender<u64>>>,
    /// Ports that could not be bound yet, with why (shown on the endpoint).
    problems: Mutex<HashMap<u16, String>>,
}

impl Edge {
    /// A new edge; call [`Edge::start`] to bind the stored ports.
    pub fn new(
        cfg: EdgeConfig,
        fleet: Arc<Fleet>,
        repo: Repo,
        metrics: Arc<crate::ops::Metrics>,
    ) -> Arc<Self> {
        Arc::new(Self {
            metrics,
            global: Arc::new(Semaphore::new(cfg.max_connections)),
            per_client: crate::quota::KeyedLimit::new(cfg.max_per_client),
            cfg,
            fleet,
            repo,
            listeners: Mutex::new(HashMap::new()),
            per_workload: Mutex::new(HashMap::new()),
            closers: Mutex::new(HashMap::new()),
            problems: Mutex::new(HashMap::new()),
        })
    }

    /// Why each edge port that is not listening yet is not (port → reason).
    pub fn problems(&self) -> HashMap<u16, String> {
        self.problems.lock().map(|p| p.clone()).unwrap_or_default()
    }

    fn set_problem(&self, port: u16, why: Option<String>) {
        if let Ok(mut p) = self.problems.lock() {
            match why {
                Some(w) => p.insert(port, w),
                None => p.remove(&port),
            };
        }
    }

    /// The ports and their quarantine, for allocation.
    pub fn pool(&self) -> crate::repo::EdgePool {
        crate::repo::EdgePool {
            range: self.cfg.range,
            quarantine: self.cfg.quarantine,
        }
    }

    /// The public host for URLs ("" = the address the client used).
    pub fn public_host(&self) -> String {
        self.cfg.public_host.clone().unwrap_or_default()
    }

    /// Binds every stored edge port and follows workload changes.
    pub async fn start(self: &Arc<Self>) -> crate::error::Result<JoinHandle<()>> {
        for p in self.repo.all_edge_ports().await? {
            self.bind(p.port, &p.workload_id, p.container_port).await;
        }
        let me = self.clone();
        let mut changes = self.fleet.subscribe();
        Ok(tokio::spawn(async move {
            loop {
                match changes.recv().await {
                    Ok(c) => me.on_change(&c),
                    Err(broadcast::error::RecvError::Lagged(_)) => me.resync().await,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }))
    }

    fn on_change(&self, c: &Change) {
        if c.deleted || c.workload.desired != Desired::Running {
            self.close_connections(&c.workload.id);
        }
        if c.deleted {
            self.release(&c.workload.id);
        }
    }

    async fn resync(self: &Arc<Self>) {
        let Ok(ports) = self.repo.all_edge_ports().await else {
            return;
        };
        let keep: Vec<i32> = ports.iter().map(|p| p.port).collect();
        if let Ok(mut l) = self.listeners.lock() {
            l.retain(|port, (_, h)| {
                let k = keep.contains(&i32::from(*port));
                if !k {
                    h.abort();
                    self.set_problem(*port, None);
                }
                k
            });
        }
    }

    /// Starts listening on `port` for a workload's container port. A port
    /// that cannot be bound (another program holds it) is retried with
    /// backoff until it can, or until the workload releases it; meanwhile the
    /// endpoint carries the reason and the workload gets an event.
    pub async fn bind(self: &Arc<Self>, port: i32, workload_id: &str, container_port: i32) {
        let Ok(port) = u16::try_from(port) else {
            return;
        };
        let addr = SocketAddr::new(self.cfg.addr, port);
        let me = self.clone();
        let wid = workload_id.to_string();
        let cport = u32::try_from(container_port).unwrap_or(0);
        let first = TcpListener::bind(addr).await;
        let task = tokio::spawn(async move {
            let listener = match first {
                Ok(l) => l,
                Err(e) => me.bind_with_retries(addr, &wid, e).await,
            };
            debug!(%addr, workload = %wid, "edge port bound");
            loop {
                match listener.accept().await {
                    Ok((tcp, peer)) => {
                        let me = me.clone();
                        let wid = wid.clone();
                        tokio::spawn(async move { me.relay(tcp, peer, wid, cport).await });
                    }
                    Err(e) => {
                        warn!(error = %e, "edge accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        if let Ok(mut l) = self.listeners.lock()
            && let Some((_, old)) = l.insert(port, (workload_id.to_string(), task))
        {
            old.abort();
        }
    }

    /// Retries binding `addr` until it works (the task is aborted when the
    /// workload lets the port go).
    async fn bind_with_retries(
        &self,
        addr: SocketAddr,
        wid: &str,
        e: std::io::Error,
    ) -> TcpListener {
        let why = format!(
            "public port {} could not be bound ({e}); retrying until it is free",
            addr.port()
        );
        warn!(%addr, workload = %wid, error = %e, "could not bind an edge port; retrying");
        self.set_problem(addr.port(), Some(why.clone()));
        self.record_event(wid, &why).await;
        let mut delay = Duration::from_millis(250);
        loop {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
            if let Ok(l) = TcpListener::bind(addr).await {
                self.set_problem(addr.port(), None);
                info!(%addr, workload = %wid, "edge port bound after retrying");
                self.record_event(wid, &format!("public port {} is listening", addr.port()))
                    .await;
                return l;
            }
        }
    }

    async fn record_event(&self, wid: &str, message: &str) {
        let repo = &self.repo;
        if let Ok(Some(w)) = repo.workload_by_id(wid).await
            && let Err(e) = repo.event(wid, w.status, message).await
        {
            warn!(workload = %wid, error = %e, "could not record an edge event");
        }
    }

    /// Stops listening on a workload's ports (it was deleted); the ports
    /// are free for the next deploy.
    pub fn release(&self, workload_id: &str) {
        if let Ok(mut l) = self.listeners.lock() {
            l.retain(|port, (w, h)| {
                let keep = w != workload_id;
                if !keep {
                    h.abort();
                    self.set_problem(*port, None);
                }
                keep
            });
        }
        if let Ok(mut c) = self.closers.lock() {
            c.remove(workload_id);
        }
        if let Ok(mut p) = self.per_workload.lock() {
            p.remove(workload_id);
        }
    }

    /// Stops listening on one port (an update removed its container port).
    pub fn release_port(&self, port: i32) {
        let Ok(port) = u16::try_from(port) else {
            return;
        };
        if let Ok(mut l) = self.listeners.lock()
            && let Some((_, h)) = l.remove(&port)
        {
            h.abort();
        }
        self.set_problem(port, None);
    }

    /// Closes every relayed connection of a workload (stopped or deleted).
    pub fn close_connections(&self, workload_id: &str) {
        if let Ok(c) = self.closers.lock()
            && let Some(tx) = c.get(workload_id)
        {
            tx.send_modify(|n| *n += 1);
        }
    }

    fn closer(&self, workload_id: &str) -> watch::Receiver<u64> {
        let Ok(mut c) = self.closers.lock() else {
            return watch::channel(0).1;
        };
        c.entry(workload_id.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    fn workload_permits(&self, workload_id: &str) -> Arc<Semaphore> {
        let Ok(mut p) = self.per_workload.lock() else {
            return Arc::new(Semaphore::new(0));
        };
        p.entry(workload_id.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.cfg.max_per_workload)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("20000-20999").unwrap(), (20000, 20999));
        assert_eq!(parse_range("5-5").unwrap(), (5, 5));
        assert!(parse_range("10-5").is_err());
        assert!(parse_range("0-5").is_err());
        assert!(parse_range("abc").is_err());
    }
}
