//! Placement: a pure choice over a snapshot of nodes, so every rule is a
//! unit test. A node takes a workload when it is connected, not draining,
//! its Docker Engine answers, and the request fits in what its placed
//! workloads leave free; among those the one with the most free memory wins
//! (ties: most free CPU, then the name, so the choice is deterministic).
//! `waiting_reason` and `never_fits` say why a workload waits, or why it is
//! refused for good.

use std::cmp::Reverse;

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

/// The most per-node reasons a waiting workload's status names.
const REASONS_SHOWN: usize = 3;

/// Why a workload waits for a node, bounded whatever the fleet's size:
/// what it needs free, then the first few nodes' reasons.
pub fn waiting_reason(need: Need, reasons: &[String]) -> String {
    let mut wants = Vec::new();
    if need.cpu_millis > 0 {
        wants.push(format!("{}m CPU", need.cpu_millis));
    }
    if need.memory_bytes > 0 {
        wants.push(format!("{} MiB of memory", need.memory_bytes >> 20));
    }
    let head = if wants.is_empty() {
        "waiting for a node".to_string()
    } else {
        format!("waiting for a node with {} free", wants.join(" and "))
    };
    let mut why = reasons
        .iter()
        .take(REASONS_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if reasons.len() > REASONS_SHOWN {
        why.push_str(&format!(
            "; and {} more nodes",
            reasons.len() - REASONS_SHOWN
        ));
    }
    if why.is_empty() {
        head
    } else {
        format!("{head}: {why}")
    }
}

/// What a node could hold empty, as the scheduler counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Millicores.
    pub cpu_millis: i64,
    /// Bytes of memory.
    pub memory_bytes: i64,
    /// Spec bytes.
    pub spec_bytes: i64,
}

/// Why no node could take `need` even empty, or None when one could
/// (then the workload waits instead of being refused).
pub fn never_fits(nodes: &[Capacity], need: Need) -> Option<String> {
    if nodes.iter().any(|c| {
        (need.cpu_millis <= 0 || need.cpu_millis <= c.cpu_millis)
            && (need.memory_bytes <= 0 || need.memory_bytes <= c.memory_bytes)
            && need.spec_bytes <= c.spec_bytes
    }) || nodes.is_empty()
    {
        return None;
    }
    let most = |f: fn(&Capacity) -> i64| nodes.iter().map(f).max().unwrap_or(0);
    let mut over = Vec::new();
    if need.cpu_millis > most(|c| c.cpu_millis) {
        over.push(format!(
            "{}m CPU (the largest node has {}m)",
            need.cpu_millis,
            most(|c| c.cpu_millis)
        ));
    }
    if need.memory_bytes > most(|c| c.memory_bytes) {
        over.push(format!(
            "{} MiB of memory (the largest node has {} MiB)",
            need.memory_bytes >> 20,
            most(|c| c.memory_bytes) >> 20
        ));
    }
    if need.spec_bytes > most(|c| c.spec_bytes) {
        over.push(format!(
            "a {} KiB spec (a node holds at most {} KiB)",
            (need.spec_bytes + 1023) / 1024,
            most(|c| c.spec_bytes) / 1024
        ));
    }
    if over.is_empty() {
        over.push("more than any one node has of CPU and memory together".into());
    }
    Some(format!(
        "no node could ever take it: it asks for {}; ask for less, or add a larger machine",
        over.join(" and ")
    ))
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
    #[test]
    fn a_waiting_reason_names_the_need_and_stays_short() {
        let reasons: Vec<String> = (0..1000)
            .map(|i| format!("n{i} is not connected"))
            .collect();
        let r = waiting_reason(need(2000, 1), &reasons);
        assert!(
            r.starts_with("waiting for a node with 2000m CPU and 1024 MiB of memory free: n0 is not connected; n1"),
            "{r}"
        );
        assert!(r.ends_with("; and 997 more nodes"), "{r}");
        assert!(r.len() < 300, "{r}");
        assert_eq!(waiting_reason(need(0, 0), &[]), "waiting for a node");
    }

    #[test]
    fn only_what_no_node_could_ever_hold_is_refused() {
        let cap = |cpu, mem_gib| Capacity {
            cpu_millis: cpu,
            memory_bytes: mem_gib * GIB,
            spec_bytes: 1 << 20,
        };
        let fleet = [cap(2000, 8), cap(8000, 2)];
        assert_eq!(never_fits(&fleet, need(2000, 8)), None);
        assert_eq!(never_fits(&fleet, need(8000, 1)), None);
        assert_eq!(never_fits(&[], need(64000, 64)), None);
        let r = never_fits(&fleet, need(16000, 1)).expect("too much CPU");
        assert!(r.contains("16000m CPU (the largest node has 8000m)"), "{r}");
        let r = never_fits(&fleet, need(4000, 4)).expect("fits no single node");
        assert!(r.contains("CPU and memory together"), "{r}");
    }
}
