//! Placement against the store: the scheduler's snapshot (nodes and what
//! their workloads reserve, one grouped sum), choosing a node for a new
//! workload or accepting it as waiting, checking a node for a change, and
//! the placer that puts waiting workloads on nodes as soon as one can take
//! them. Placements take turns ([`Fleet::placement_turn`]) from the
//! snapshot to the choice and take a hold on the room they chose (see
//! [`super::ledger`]) before the turn ends, so two never count the same free
//! room, and the row's write happens outside the turn.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::MutexGuard;
use tracing::{info, warn};

use super::Fleet;
use super::ledger::HoldGuard;
use super::schedule::{Candidate, Capacity, Need, Refusal, choose, never_fits, waiting_reason};
use crate::entity::{node, workload};
use crate::error::{Error, Result};
use crate::repo::Reserved;

/// How many waiting workloads one round of the placer looks at.
const PLACE_BATCH: u64 = 500;
/// How often the placer looks without being woken.
const PLACE_EVERY: Duration = Duration::from_secs(2);

/// Where a new workload goes.
#[derive(Debug)]
pub enum Placement {
    /// On this node, now.
    Node(Box<node::Model>),
    /// No node can take it now but one could: it waits, for this reason.
    Wait(String),
    /// It must go to this node (its kept volume lives there), which is away
    /// but would take it: it waits for the node, its room held, for this
    /// reason.
    WaitOn(Box<node::Model>, String),
}

impl Fleet {
    /// The placement turn: held from reading the snapshot until the
    /// chosen room is held ([`Fleet::hold`]).
    pub async fn placement_turn(&self) -> MutexGuard<'_, ()> {
        self.placing.lock().await
    }

    /// Holds a placement's room on `node_id` until its row is written (drop
    /// the guard after the write). Take it inside the placement turn.
    pub fn hold(
        &self,
        node_id: &str,
        (cpu_millis, memory_bytes, spec_bytes): (i64, i64, u64),
    ) -> HoldGuard {
        self.ledger
            .hold(node_id, need(cpu_millis, memory_bytes, spec_bytes))
    }

    /// Asks the placer to look at waiting workloads now (a node came, room
    /// was freed); the next placement reads reservations again.
    pub fn wake_placer(&self) {
        self.ledger.invalidate();
        self.placer.notify_one();
    }

    /// What each node's workloads reserve, with the holds of placements
    /// whose rows are being written; `replacing` left out.
    async fn reserved(
        &self,
        replacing: Option<&str>,
    ) -> Result<std::collections::HashMap<String, Reserved>> {
        if let Some(id) = replacing {
            // Holds first: one whose write ends meanwhile is then in the sum too.
            let held = self.ledger.held();
            let mut sum = self.repo.reservations(Some(id), false).await?;
            for (node, h) in held {
                let r = sum.entry(node).or_default();
                r.cpu_millis = r.cpu_millis.saturating_add(h.cpu_millis);
                r.memory_bytes = r.memory_bytes.saturating_add(h.memory_bytes);
                r.spec_bytes = r.spec_bytes.saturating_add(h.spec_bytes);
            }
            return Ok(sum);
        }
        let now = Instant::now();
        if let Some(epoch) = self.ledger.begin_read(now) {
            let sum = self.repo.reservations(None, false).await?;
            self.ledger.install(epoch, now, sum);
        }
        Ok(self.ledger.reserved())
    }

    /// Every node as the scheduler sees it, with what its placed workloads
    /// reserve (leaving out `replacing`, whose reservation a change takes over).
    async fn candidates(
        &self,
        replacing: Option<&str>,
    ) -> Result<(Arc<Vec<node::Model>>, Vec<Candidate>)> {
        let nodes = self.repo.nodes_for_placement().await?;
        let used = self.reserved(replacing).await?;
        let cap = i64::try_from(self.node_spec_bytes).unwrap_or(i64::MAX);
        let candidates = nodes
            .iter()
            .map(|n| {
                let r = used.get(n.id.as_str()).copied().unwrap_or_default();
                Candidate {
                    id: n.id.clone(),
                    name: n.name.clone(),
                    connected: self.is_connected(&n.id),
                    draining: n.draining,
                    docker_problem: (!n.docker_ok).then(|| {
                        n.docker_error
                            .clone()
                            .unwrap_or_else(|| "Docker is unavailable".into())
                    }),
                    free_cpu_millis: n.cpu_millis_capacity - r.cpu_millis,
                    free_memory_bytes: n.memory_bytes_capacity - r.memory_bytes,
                    free_spec_bytes: cap.saturating_sub(r.spec_bytes),
                }
            })
            .collect();
        Ok((nodes, candidates))
    }

    /// Where a new workload goes: a node that can take it now, or waiting
    /// when none can now; refused only when no node could ever take it.
    /// Call inside [`Fleet::placement_turn`].
    pub async fn schedule(
        &self,
        cpu_millis: i64,
        memory_bytes: i64,
        spec_bytes: u64,
    ) -> Result<Placement> {
        let (nodes, candidates) = self.candidates(None).await?;
        let need = need(cpu_millis, memory_bytes, spec_bytes);
        if nodes.is_empty() {
            return Ok(Placement::Wait(
                "waiting for a node: no machine has joined yet; create a token with \
                 `lattice nodes join-token` and start lattice-agentd"
                    .into(),
            ));
        }
        match choose(&candidates, need) {
            Ok(c) => {
                let n = nodes
                    .iter()
                    .find(|n| n.id == c.id)
                    .ok_or_else(|| Error::internal("the chosen node is not in the snapshot"))?;
                Ok(Placement::Node(Box::new(n.clone())))
            }
            Err(Refusal(reasons)) => match never_fits(&self.capacities(&nodes), need) {
                Some(why) => Err(Error::NoNode(why)),
                None => Ok(Placement::Wait(waiting_reason(need, &reasons))),
            },
        }
    }

    fn capacities(&self, nodes: &[node::Model]) -> Vec<Capacity> {
        let spec = i64::try_from(self.node_spec_bytes).unwrap_or(i64::MAX);
        nodes
            .iter()
            .map(|n| Capacity {
                cpu_millis: n.cpu_millis_capacity,
                memory_bytes: n.memory_bytes_capacity,
                spec_bytes: spec,
            })
            .collect()
    }

    /// Whether node `node_id` takes a workload. `replacing`: a workload
    /// already placed there whose spec changes — its own reservation counts
    /// as free, and the node needs only the room (an existing placement
    /// stays on a node that is draining or away). Call inside
    /// [`Fleet::placement_turn`].
    pub async fn fits_on(
        &self,
        node_id: &str,
        (cpu_millis, memory_bytes, spec_bytes): (i64, i64, u64),
        replacing: Option<&str>,
    ) -> Result<node::Model> {
        let (nodes, candidates) = self.candidates(replacing).await?;
        let (Some(n), Some(mut c)) = (
            nodes.iter().find(|n| n.id == node_id).cloned(),
            candidates.into_iter().find(|c| c.id == node_id),
        ) else {
            return Err(Error::NoNode(
                "its node has been removed from the cluster".into(),
            ));
        };
        if replacing.is_some() {
            c.connected = true;
            c.draining = false;
            c.docker_problem = None;
        }
        match choose(
            std::slice::from_ref(&c),
            need(cpu_millis, memory_bytes, spec_bytes),
        ) {
            Ok(_) => Ok(n),
            Err(Refusal(reasons)) => Err(Error::NoNode(reasons.join("; "))),
        }
    }

    /// Where a workload that must go to node `node_id` goes (its kept volume
    /// lives there): that node now, or, when the node is only away and would
    /// otherwise take it, that node once its agent is back — the workload
    /// waits `pending` with the reason, as any placement that has to wait.
    /// Refused when the node could not take it even when back (no room,
    /// draining). Call inside [`Fleet::placement_turn`].
    pub async fn place_on(
        &self,
        node_id: &str,
        (cpu_millis, memory_bytes, spec_bytes): (i64, i64, u64),
    ) -> Result<Placement> {
        let (nodes, candidates) = self.candidates(None).await?;
        let (Some(n), Some(c)) = (
            nodes.iter().find(|n| n.id == node_id).cloned(),
            candidates.into_iter().find(|c| c.id == node_id),
        ) else {
            return Err(Error::NoNode(
                "its node has been removed from the cluster".into(),
            ));
        };
        let need = need(cpu_millis, memory_bytes, spec_bytes);
        let refusal = match choose(std::slice::from_ref(&c), need) {
            Ok(_) => return Ok(Placement::Node(Box::new(n))),
            Err(Refusal(reasons)) => reasons,
        };
        let back = Candidate {
            connected: true,
            docker_problem: None,
            ..c.clone()
        };
        if !c.connected && choose(std::slice::from_ref(&back), need).is_ok() {
            let why = format!(
                "waiting for node {}, where its kept volume lives, to come back",
                n.name
            );
            return Ok(Placement::WaitOn(Box::new(n), why));
        }
        Err(Error::NoNode(refusal.join("; ")))
    }

    /// One round of the placer: puts waiting workloads, oldest first, on
    /// the nodes that can take them now, and keeps the reason of those that
    /// still wait current. Returns how many it placed.
    pub async fn place_waiting(&self) -> Result<usize> {
        let turn = self.placement_turn().await;
        let waiting = self.repo.waiting(PLACE_BATCH).await?;
        if waiting.is_empty() {
            return Ok(0);
        }
        let (nodes, mut candidates) = self.candidates(None).await?;
        let capacities = self.capacities(&nodes);
        let mut placed = Vec::new();
        let mut changed = Vec::new();
        for w in waiting {
            let need = need_of(&w);
            let chosen = choose(&candidates, need).map(|c| (c.id.clone(), c.name.clone()));
            match chosen {
                Ok((id, name)) => {
                    let message = format!("placed on node {name}");
                    let hold = self.ledger.hold(&id, need);
                    let claimed = self.repo.claim(&w.id, &id, &message).await?;
                    drop(hold);
                    let Some(row) = claimed else {
                        continue;
                    };
                    if let Some(c) = candidates.iter_mut().find(|c| c.id == id) {
                        c.free_cpu_millis -= need.cpu_millis;
                        c.free_memory_bytes -= need.memory_bytes;
                        c.free_spec_bytes -= need.spec_bytes;
                    }
                    info!(workload = %row.id, node = %name, "waiting workload placed");
                    placed.push(row);
                }
                // No node at all: nothing new to say; keep why it waits.
                Err(Refusal(reasons)) if reasons.is_empty() => {}
                Err(Refusal(reasons)) => {
                    let why = never_fits(&capacities, need)
                        .unwrap_or_else(|| waiting_reason(need, &reasons));
                    if why != w.status_message {
                        self.repo.still_waiting(&w.id, &why).await?;
                        let mut w = w;
                        w.status_message = why;
                        changed.push(w);
                    }
                }
            }
        }
        drop(turn);
        for w in &changed {
            self.publish(w, false);
        }
        for w in &placed {
            self.publish(w, false);
            if let Err(e) = self.push_workload(&w.id).await {
                // The node gets it with its next full push.
                warn!(workload = %w.id, error = %e, "push of a placed workload failed");
            }
        }
        Ok(placed.len())
    }

    /// Runs the placer until shutdown: when woken, and every
    /// [`PLACE_EVERY`] in case a wake was missed.
    pub fn spawn_placer(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let fleet = Arc::clone(self);
        tokio::spawn(async move {
            let closing = fleet.closing();
            tokio::pin!(closing);
            loop {
                tokio::select! {
                    () = &mut closing => return,
                    () = fleet.placer.notified() => {}
                    () = tokio::time::sleep(PLACE_EVERY) => {}
                }
                if let Err(e) = fleet.place_waiting().await {
                    warn!(error = %e, "placing waiting workloads failed; trying again");
                }
            }
        })
    }
}

/// What a stored workload needs.
fn need_of(w: &workload::Model) -> Need {
    Need {
        cpu_millis: w.cpu_millis,
        memory_bytes: w.memory_bytes,
        spec_bytes: w.spec_bytes,
    }
}

fn need(cpu_millis: i64, memory_bytes: i64, spec_bytes: u64) -> Need {
    Need {
        cpu_millis,
        memory_bytes,
        spec_bytes: i64::try_from(spec_bytes).unwrap_or(i64::MAX),
    }
}
