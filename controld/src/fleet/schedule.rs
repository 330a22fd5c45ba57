//! Placement: a pure choice over a snapshot of nodes, so every rule is a
//! unit test. A node takes a workload when it is connected, not draining,
//! its Docker Engine answers, and the request fits in what its placed
//! workloads leave free; among those the one with the most free memory wins
//! (ties: most free CPU, then the name, so the choice is deterministic).

use std::cmp::Reverse;
use std::collections::HashMap;

use super::Fleet;
use crate::entity::node;
use crate::error::{Error, Result};

/// One node as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Node id.
    pub id: String,
    /// Node name (for reasons and ties).
    pub name: String,
    /// Has a live control stream.
    pub connected: bool,
    /// Takes no new work.
    pub draining: bool,
    /// Why its Docker Engine cannot run containers, if it cannot.
    pub docker_problem: Option<String>,
    /// Millicores not reserved by placed workloads.
    pub free_cpu_millis: i64,
    /// Bytes not reserved by placed workloads.
    pub free_memory_bytes: i64,
    /// Spec bytes the node may still take (see `quota::spec_bytes`).
    pub free_spec_bytes: i64,
}

/// What a workload asks for (0 = unlimited, fits anywhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// Millicores.
    pub cpu_millis: i64,
    /// Bytes.
    pub memory_bytes: i64,
    /// Bytes of its spec.
    pub spec_bytes: i64,
}

/// Why no node took the workload, one reason per node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub Vec<String>);

/// Chooses a node for `need`, or says why each node refused.
pub fn choose(nodes: &[Candidate], need: Need) -> std::result::Result<&Candidate, Refusal> {
    let mut reasons = Vec::new();
    let fits = |n: &&Candidate| {
        let reason = if !n.connected {
            Some(format!("{} is not connected", n.name))
        } else if n.draining {
            Some(format!("{} is draining", n.name))
        } else if let Some(p) = &n.docker_problem {
            Some(format!("{} cannot run containers: {p}", n.name))
        } else if need.memory_bytes > 0 && need.memory_bytes > n.free_memory_bytes {
            Some(format!(
                "{} has not enough free memory ({} MiB requested, {} MiB free)",
                n.name,
                need.memory_bytes >> 20,
                n.free_memory_bytes.max(0) >> 20
            ))
        } else if need.cpu_millis > 0 && need.cpu_millis > n.free_cpu_millis {
            Some(format!(
                "{} has not enough free CPU ({}m requested, {}m free)",
                n.name,
                need.cpu_millis,
                n.free_cpu_millis.max(0)
            ))
        } else if need.spec_bytes > n.free_spec_bytes {
            Some(format!(
                "{} holds as many workload specs as it may ({} KiB requested, {} KiB free); \
                 an admin can raise --node-spec-bytes",
                n.name,
                (need.spec_bytes + 1023) / 1024,
                n.free_spec_bytes.max(0) / 1024
            ))
        } else {
            None
        };
        match reason {
            Some(r) => {
                reasons.push(r);
                false
            }
            None => true,
        }
    };
    let best = nodes.iter().filter(fits).min_by_key(|n| {
        (
            Reverse(n.free_memory_bytes),
            Reverse(n.free_cpu_millis),
            n.name.as_str(),
        )
    });
    best.ok_or(Refusal(reasons))
}

impl Fleet {
    /// Every node as the scheduler sees it, with what its placed workloads
    /// reserve (leaving out `replacing`, whose reservation a change takes over).
    async fn candidates(
        &self,
        replacing: Option<&str>,
    ) -> Result<(Vec<node::Model>, Vec<Candidate>)> {
        let nodes = self.repo.nodes().await?;
        let mut used: HashMap<String, (i64, i64, u64)> = HashMap::new();
        for w in self.repo.all_workloads().await? {
            if replacing == Some(w.id.as_str()) {
                continue;
            }
            if let Some(n) = w.node_id.clone() {
                let u = used.entry(n).or_default();
                u.0 += w.cpu_millis;
                u.1 += w.memory_bytes;
                u.2 += crate::quota::spec_bytes(&w);
            }
        }
        let cap = self.node_spec_bytes;
        let candidates = nodes
            .iter()
            .map(|n| {
                let (cpu, mem, specs) = used.get(n.id.as_str()).copied().unwrap_or_default();
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
                    free_cpu_millis: n.cpu_millis_capacity - cpu,
                    free_memory_bytes: n.memory_bytes_capacity - mem,
                    free_spec_bytes: i64::try_from(cap.saturating_sub(specs)).unwrap_or(i64::MAX),
                }
            })
            .collect();
        Ok((nodes, candidates))
    }

    /// Chooses a node for a workload over the current nodes and placements.
    pub async fn schedule(
        &self,
        cpu_millis: i64,
        memory_bytes: i64,
        spec_bytes: u64,
    ) -> Result<node::Model> {
        let (mut nodes, candidates) = self.candidates(None).await?;
        if nodes.is_empty() {
            return Err(Error::NoNode(
                "no node is ready: no machine has joined yet; create a token with `lattice nodes join-token` and start lattice-agentd".into(),
            ));
        }
        match choose(&candidates, need(cpu_millis, memory_bytes, spec_bytes)) {
            Ok(c) => {
                let i = nodes
                    .iter()
                    .position(|n| n.id == c.id)
                    .ok_or_else(|| Error::internal("the chosen node is not in the snapshot"))?;
                Ok(nodes.swap_remove(i))
            }
            Err(Refusal(reasons)) => Err(Error::NoNode(format!(
                "no node is ready: {}",
                reasons.join("; ")
            ))),
        }
    }

    /// Whether node `node_id` takes a workload. `replacing`: a workload
    /// already placed there whose spec changes — its own reservation counts
    /// as free, and the node needs only the room (an existing placement
    /// stays on a node that is draining or away).
    pub async fn fits_on(
        &self,
        node_id: &str,
        (cpu_millis, memory_bytes, spec_bytes): (i64, i64, u64),
        replacing: Option<&str>,
    ) -> Result<node::Model> {
        let (nodes, candidates) = self.candidates(replacing).await?;
        let (Some(n), Some(mut c)) = (
            nodes.into_iter().find(|n| n.id == node_id),
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
}

fn need(cpu_millis: i64, memory_bytes: i64, spec_bytes: u64) -> Need {
    Need {
        cpu_millis,
        memory_bytes,
        spec_bytes: i64::try_from(spec_bytes).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: i64 = 1 << 30;

    fn node(name: &str, free_mem_gib: i64, free_cpu: i64) -> Candidate {
        Candidate {
            id: format!("id-{name}"),
            name: name.into(),
            connected: true,
            draining: false,
            docker_problem: None,
            free_cpu_millis: free_cpu,
            free_memory_bytes: free_mem_gib * GIB,
            free_spec_bytes: 1 << 20,
        }
    }

    fn need(cpu: i64, mem_gib: i64) -> Need {
        Need {
            cpu_millis: cpu,
            memory_bytes: mem_gib * GIB,
            spec_bytes: 4096,
        }
    }

    #[test]
    fn most_free_memory_wins() {
        let nodes = [node("a", 2, 4000), node("b", 8, 1000), node("c", 4, 8000)];
        assert_eq!(
            choose(&nodes, need(500, 1)).map(|n| n.name.as_str()),
            Ok("b")
        );
    }

    #[test]
    fn capacity_is_respected_with_numbers_in_the_reason() {
        let nodes = [node("a", 1, 4000), node("b", 8, 500)];
        assert_eq!(
            choose(&nodes, need(1000, 2)).map(|n| n.name.as_str()),
            Err(Refusal(vec![
                "a has not enough free memory (2048 MiB requested, 1024 MiB free)".into(),
                "b has not enough free CPU (1000m requested, 500m free)".into(),
            ]))
        );
        // Unlimited requests fit even a full node.
        let full = [node("full", 0, 0)];
        assert!(choose(&full, need(0, 0)).is_ok());
    }

    #[test]
    fn draining_disconnected_and_docker_down_take_nothing() {
        let mut away = node("away", 64, 64000);
        away.connected = false;
        let mut drain = node("drain", 64, 64000);
        drain.draining = true;
        let mut broken = node("broken", 64, 64000);
        broken.docker_problem = Some("socket missing".into());
        let small = node("small", 2, 1000);
        let all = [away.clone(), drain.clone(), broken.clone(), small];
        assert_eq!(
            choose(&all, need(100, 1)).map(|n| n.name.as_str()),
            Ok("small")
        );
        let Err(Refusal(reasons)) = choose(&[away, drain, broken], need(100, 1)) else {
            panic!("no node should take it");
        };
        assert_eq!(
            reasons,
            vec![
                "away is not connected".to_string(),
                "drain is draining".into(),
                "broken cannot run containers: socket missing".into(),
            ]
        );
    }

    #[test]
    fn ties_break_on_cpu_then_name() {
        let nodes = [node("b", 4, 1000), node("a", 4, 1000), node("c", 4, 2000)];
        assert_eq!(choose(&nodes, need(0, 0)).map(|n| n.name.as_str()), Ok("c"));
        assert_eq!(
            choose(&nodes[..2], need(0, 0)).map(|n| n.name.as_str()),
            Ok("a")
        );
    }

    #[test]
    fn a_node_holding_its_spec_cap_takes_no_more() {
        let mut full = node("full", 64, 64000);
        full.free_spec_bytes = 4000;
        let roomy = node("roomy", 1, 1000);
        assert_eq!(
            choose(&[full.clone(), roomy], need(100, 0)).map(|n| n.name.as_str()),
            Ok("roomy")
        );
        let Err(Refusal(reasons)) = choose(&[full], need(100, 0)) else {
            panic!("the full node should refuse");
        };
        assert!(
            reasons[0].contains("4 KiB requested, 3 KiB free"),
            "{reasons:?}"
        );
        assert!(reasons[0].contains("--node-spec-bytes"), "{reasons:?}");
    }

    #[test]
    fn no_nodes_means_no_reasons() {
        assert_eq!(choose(&[], need(0, 0)), Err(Refusal(Vec::new())));
    }
}
