//! Chaos on real Docker, in the style of etcd's robustness tests: a churn of
//! deploy / stop / start / restart / rm and inserts into a Postgres workload
//! runs while faults hit (agentd or controld SIGKILLed at random moments;
//! controld's own Postgres stopped; the Docker Engine cut off from an agent;
//! a node gone for good). After each phase the driver waits for
//! convergence and checks the invariants:
//!
//! - every workload the API lists reaches its desired state;
//! - exactly one container per running workload (at most one when it is
//!   stopped: stopped before its first start, it has none), none for a
//!   deleted one, no container of a live node that no workload owns;
//! - no workload whose deploy was acknowledged is lost, no acknowledged
//!   delete is forgotten;
//! - the Postgres workload holds every row whose insert was acknowledged.
//!
//! `make chaos` runs it at full size; the e2e suite runs a small one.

mod faults;
mod gate;
mod ledger;
mod model;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

pub use faults::{Phase, Sizes};
pub use gate::SocketGate;
use ledger::Ledger;
use model::{Model, Op, Want};

use crate::{Cli, docker};

/// What one phase found.
#[derive(Debug, Default, Clone)]
pub struct PhaseReport {
    /// Its name.
    pub name: String,
    /// Faults injected, described.
    pub faults: Vec<String>,
    /// Requests acknowledged / failed during it.
    pub acked: u64,
    /// Requests that failed.
    pub failed: u64,
    /// Workloads listed when it converged.
    pub workloads: usize,
    /// Rows acknowledged / found in the Postgres workload.
    pub rows: (usize, usize),
    /// Seconds from the last fault to every invariant holding.
    pub converged_s: f64,
    /// Invariants that did not hold (empty: all held).
    pub violations: Vec<String>,
    /// Why requests failed: the first line of the CLI's error, counted.
    pub errors: BTreeMap<String, u64>,
}

/// The churn and the checks over one cluster.
pub struct Driver {
    cli: Cli,
    model: Model,
    ledger: Option<Ledger>,
    rng: fastrand::Rng,
    /// Nodes whose containers must all belong to listed workloads.
    pub live_nodes: Vec<String>,
    errors: BTreeMap<String, u64>,
    /// Where containers are counted.
    pub engines: Engines,
    /// What `deploy custom` runs.
    pub deploy_flags: Vec<String>,
}

/// Where the containers the invariants count live.
pub enum Engines {
    /// The Docker Engine (containers labelled with their node and workload).
    Docker,
    /// Hollow nodes' in-memory engines.
    Hollow(Vec<std::sync::Arc<lattice_agentd::runtime::memory::Memory>>),
}

impl Engines {
    /// How many containers each workload has on the live nodes.
    fn count(&self, live_nodes: &[String]) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        let ids: Vec<String> = match self {
            Engines::Docker => live_nodes
                .iter()
                .flat_map(|n| {
                    docker(&[
                        "ps",
                        "-a",
                        "--filter",
                        &format!("label=lattice.node={n}"),
                        "--format",
                        "{{.Label \"lattice.workload\"}}",
                    ])
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
                })
                .collect(),
            Engines::Hollow(engines) => engines.iter().flat_map(|e| e.workload_ids()).collect(),
        };
        for id in ids.into_iter().filter(|i| !i.is_empty()) {
            *out.entry(id).or_default() += 1;
        }
        out
    }
}

/// How long a phase may take to converge after its last fault.
const CONVERGE: Duration = Duration::from_secs(180);

impl Driver {
    /// A driver churning `n` names as `cli`.
    pub fn new(cli: Cli, n: usize, seed: u64) -> Self {
        Self {
            cli,
            model: Model::new("c", n),
            ledger: None,
            rng: fastrand::Rng::with_seed(seed),
            live_nodes: Vec::new(),
            errors: BTreeMap::new(),
            engines: Engines::Docker,
            deploy_flags: [
                "--image",
                "lattice-local/web:latest",
                "--port",
                "80",
                "--memory",
                "64Mi",
            ]
            .map(str::to_string)
            .to_vec(),
        }
    }

    /// Deploys the Postgres workload the inserts go to (before any fault).
    pub fn start_ledger(&mut self) {
        self.ledger = Some(Ledger::deploy(&self.cli, "ledger"));
    }

    /// One churn step: a request on a random name, and an insert.
    pub fn step(&mut self) {
        let names: Vec<String> = self.model.slots.keys().cloned().collect();
        let name = names[self.rng.usize(..names.len())].clone();
        let op = self.model.pick(&name, self.rng.u32(..100));
        let mut args = vec![op.verb()];
        if op == Op::Deploy {
            args.extend(["custom", &name]);
            args.extend(self.deploy_flags.iter().map(String::as_str));
        } else {
            args.push(&name);
        }
        if op == Op::Remove {
            args.push("--yes");
        }
        args.extend(["-o", "json"]);
        let r = self.cli.run(&args, None);
        let id = (op == Op::Deploy && r.code == 0)
            .then(|| r.json()["id"].as_str().map(str::to_string))
            .flatten();
        // "No workload named …" (exit 3) is an answer: the name is free.
        if r.code == 3 && op != Op::Deploy {
            self.model.absent(&name);
            if let Some(l) = &mut self.ledger {
                l.insert();
            }
            return;
        }
        if r.code != 0 {
            let why: String = r
                .stderr
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(120)
                .collect();
            *self
                .errors
                .entry(format!("{}: {why}", op.verb()))
                .or_default() += 1;
        }
        self.model.record(&name, op, r.code == 0, id);
        if let Some(l) = &mut self.ledger {
            l.insert();
        }
    }

    /// Churns for `d`.
    pub fn churn_for(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.step();
        }
    }

    /// Waits for convergence and checks every invariant; `faults` names
    /// what the phase did. Counts are since the previous check.
    pub fn check(&mut self, name: &str, faults: Vec<String>) -> PhaseReport {
        let started = Instant::now();
        let (acked, failed) = (self.model.acked, self.model.failed);
        (self.model.acked, self.model.failed) = (0, 0);
        let mut violations;
        let mut workloads = 0;
        loop {
            (violations, workloads) = match self.listed() {
                Ok(listed) => {
                    let v = self.violations(&listed);
                    (v, listed.len())
                }
                Err(e) => (vec![e], workloads),
            };
            if violations.is_empty() || started.elapsed() > CONVERGE {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let converged_s = started.elapsed().as_secs_f64();
        if let Ok(listed) = self.listed() {
            let shown = listed
                .iter()
                .map(|(n, w)| (n.clone(), (w.id.clone(), w.desired.clone())))
                .collect();
            self.model.settle(&shown);
        }
        let rows = match &self.ledger {
            Some(l) => match l.check() {
                Ok(r) => r,
                Err(e) => {
                    violations.push(e);
                    (l.acked.len(), 0)
                }
            },
            None => (0, 0),
        };
        PhaseReport {
            name: name.into(),
            faults,
            acked,
            failed,
            workloads,
            rows,
            converged_s,
            violations,
            errors: std::mem::take(&mut self.errors),
        }
    }

    fn listed(&self) -> Result<BTreeMap<String, Listed>, String> {
        let r = self.cli.run(&["ls", "-o", "json"], None);
        if r.code != 0 {
            return Err(format!("`lattice ls` failed: {}", r.stderr.trim()));
        }
        let v = r.json();
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .map(|w| {
                let s = |k: &str| w[k].as_str().unwrap_or_default().to_string();
                (
                    s("name"),
                    Listed {
                        id: s("id"),
                        status: s("status"),
                        desired: s("desired"),
                        message: s("message"),
                    },
                )
            })
            .collect())
    }

    fn violations(&self, listed: &BTreeMap<String, Listed>) -> Vec<String> {
        let mut out = Vec::new();
        let held = self.engines.count(&self.live_nodes);
        for (name, w) in listed {
            if w.status != w.desired {
                out.push(format!(
                    "{name} is {} but should be {} ({})",
                    w.status, w.desired, w.message
                ));
            }
            // One container when it runs; a workload stopped before its
            // first start has none yet.
            let n = held.get(&w.id).copied().unwrap_or(0);
            if n > 1 || (n == 0 && w.desired == "running") {
                out.push(format!("{name} ({}) has {n} containers, not 1", w.desired));
            }
            if self.model.deleted.contains(&w.id) {
                out.push(format!(
                    "{name} ({}) was deleted (acknowledged) but is listed as {} (desired {}): {}",
                    w.id, w.status, w.desired, w.message
                ));
            }
        }
        for (name, (want, _)) in &self.model.slots {
            let shown = listed.get(name);
            match (want, shown) {
                (Want::Running | Want::Stopped, None) => {
                    out.push(format!("{name} was deployed (acknowledged) and is lost"));
                }
                (Want::Running, Some(w)) if w.desired != "running" => {
                    out.push(format!(
                        "{name} should run but its desired state is {}",
                        w.desired
                    ));
                }
                (Want::Stopped, Some(w)) if w.desired != "stopped" => {
                    out.push(format!(
                        "{name} was stopped but its desired state is {}",
                        w.desired
                    ));
                }
                (Want::Absent, Some(_)) => {
                    out.push(format!("{name} was removed (acknowledged) but is listed"));
                }
                _ => {}
            }
        }
        for id in &self.model.deleted {
            if held.contains_key(id) {
                out.push(format!("deleted workload {id} still has a container"));
            }
        }
        let ids: BTreeSet<&str> = listed.values().map(|w| w.id.as_str()).collect();
        for (id, n) in &held {
            if !ids.contains(id.as_str()) && !self.model.deleted.contains(id) {
                out.push(format!("{n} orphan container(s) of workload {id}"));
            }
        }
        out
    }
}

/// One workload as `lattice ls -o json` shows it.
struct Listed {
    id: String,
    status: String,
    desired: String,
    message: String,
}

/// The phases as a Markdown table, with every violation under it.
pub fn markdown(phases: &[PhaseReport]) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| phase | faults | requests acked / failed | workloads | rows acked / found | converged in | violations |\n|---|---|---|---|---|---|---|"
    );
    for p in phases {
        let _ = writeln!(
            md,
            "| {} | {} | {} / {} | {} | {} / {} | {:.1} s | {} |",
            p.name,
            p.faults.join("; "),
            p.acked,
            p.failed,
            p.workloads,
            p.rows.0,
            p.rows.1,
            p.converged_s,
            p.violations.len()
        );
    }
    for p in phases {
        let mut errors: Vec<_> = p.errors.iter().collect();
        errors.sort_by(|a, b| b.1.cmp(a.1));
        if !errors.is_empty() {
            let _ = writeln!(
                md,
                "\nWhy requests failed in \"{}\" (most frequent first):\n",
                p.name
            );
        }
        for (why, n) in errors.iter().take(5) {
            let _ = writeln!(md, "- {n} × `{}`", why.replace('`', "'"));
        }
    }
    for p in phases.iter().filter(|p| !p.violations.is_empty()) {
        let _ = writeln!(md, "\n{}:\n", p.name);
        for v in &p.violations {
            let _ = writeln!(md, "- {v}");
        }
    }
    md
}
