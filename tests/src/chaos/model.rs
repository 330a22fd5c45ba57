//! What the chaos driver knows the user asked for: one slot per workload
//! name, holding the last acknowledged request (or that the outcome of the
//! last one is unknown: it failed while a daemon died), and every
//! acknowledged delete's workload id. The invariants are checked against it.

use std::collections::{BTreeMap, BTreeSet};

/// What the last acknowledged request of a name asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Never deployed, or removed (acknowledged).
    Absent,
    /// Deployed or started (acknowledged).
    Running,
    /// Stopped (acknowledged).
    Stopped,
    /// The last request failed: it may or may not have taken effect.
    Unknown,
}

/// The churn's view of every name it uses.
#[derive(Debug, Default)]
pub struct Model {
    /// Per name: what it should be, and its id when known.
    pub slots: BTreeMap<String, (Want, Option<String>)>,
    /// Ids whose delete was acknowledged: never to be seen again.
    pub deleted: BTreeSet<String>,
    /// Requests acknowledged / failed.
    pub acked: u64,
    /// Requests that failed (a daemon was down or died mid-request).
    pub failed: u64,
}

/// One request the churn makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `lattice deploy custom NAME`.
    Deploy,
    /// `lattice stop NAME`.
    Stop,
    /// `lattice start NAME`.
    Start,
    /// `lattice restart NAME`.
    Restart,
    /// `lattice rm NAME`.
    Remove,
}

impl Op {
    /// The CLI words for it.
    pub fn verb(self) -> &'static str {
        match self {
            Op::Deploy => "deploy",
            Op::Stop => "stop",
            Op::Start => "start",
            Op::Restart => "restart",
            Op::Remove => "rm",
        }
    }
}

impl Model {
    /// A model over `n` names, all absent.
    pub fn new(prefix: &str, n: usize) -> Self {
        let slots = (0..n)
            .map(|i| (format!("{prefix}{i}"), (Want::Absent, None)))
            .collect();
        Self {
            slots,
            ..Self::default()
        }
    }

    /// The request to make of `name`, from a roll in 0..100.
    pub fn pick(&self, name: &str, roll: u32) -> Op {
        match self.slots.get(name).map(|s| s.0) {
            Some(Want::Absent) | None => Op::Deploy,
            Some(_) => match roll {
                0..30 => Op::Stop,
                30..60 => Op::Start,
                60..80 => Op::Restart,
                _ => Op::Remove,
            },
        }
    }

    /// Records the outcome of `op` on `name`: acknowledged (with the id
    /// the server gave, for a deploy) or not.
    pub fn record(&mut self, name: &str, op: Op, acked: bool, id: Option<String>) {
        let Some(slot) = self.slots.get_mut(name) else {
            return;
        };
        if !acked {
            self.failed += 1;
            slot.0 = Want::Unknown;
            return;
        }
        self.acked += 1;
        if id.is_some() {
            slot.1 = id;
        }
        slot.0 = match op {
            Op::Deploy | Op::Start | Op::Restart => Want::Running,
            Op::Stop => Want::Stopped,
            Op::Remove => {
                if let Some(id) = slot.1.take() {
                    self.deleted.insert(id);
                }
                Want::Absent
            }
        };
    }

    /// The server says `name` does not exist (a definite answer, not a
    /// failure): it is absent.
    pub fn absent(&mut self, name: &str) {
        if let Some(slot) = self.slots.get_mut(name) {
            *slot = (Want::Absent, None);
            self.acked += 1;
        }
    }

    /// After a check: what the server shows becomes what is wanted for
    /// names whose outcome was unknown (`listed`: name → (id, desired)).
    pub fn settle(&mut self, listed: &BTreeMap<String, (String, String)>) {
        for (name, slot) in &mut self.slots {
            if slot.0 != Want::Unknown {
                continue;
            }
            *slot = match listed.get(name) {
                Some((id, desired)) if desired == "stopped" => (Want::Stopped, Some(id.clone())),
                Some((id, _)) => (Want::Running, Some(id.clone())),
                None => (Want::Absent, None),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledged_requests_set_what_is_wanted_and_failures_make_it_unknown() {
        let mut m = Model::new("w", 1);
        assert_eq!(m.pick("w0", 90), Op::Deploy);
        m.record("w0", Op::Deploy, true, Some("id1".into()));
        assert_eq!(m.slots["w0"], (Want::Running, Some("id1".into())));
        assert_eq!(m.pick("w0", 10), Op::Stop);
        m.record("w0", Op::Stop, false, None);
        assert_eq!(m.slots["w0"].0, Want::Unknown);
        let mut listed = BTreeMap::new();
        listed.insert("w0".to_string(), ("id1".to_string(), "stopped".to_string()));
        m.settle(&listed);
        assert_eq!(m.slots["w0"].0, Want::Stopped);
        m.record("w0", Op::Remove, true, None);
        assert!(m.deleted.contains("id1"));
        assert_eq!(m.slots["w0"], (Want::Absent, None));
        assert_eq!((m.acked, m.failed), (2, 1));
    }
}
