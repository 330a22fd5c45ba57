//! What placement counts as reserved on each node, without a query per
//! deploy: the store's grouped sum (read at most every [`MAX_AGE`], or
//! again after something freed room) plus the holds of placements made
//! since. A deploy takes a hold inside the placement turn and writes its
//! row after the turn, so deploys no longer queue behind each other's
//! commits. A hold is dropped only by a sum read *after* its row was
//! written (or failed to be): a reservation is never in neither the sum
//! nor the holds. It may briefly be in both, which only errs on the side
//! of a fuller node.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::schedule::Need;
use crate::repo::Reserved;

/// How long a read sum serves placements before it is read again.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// Reservations: a read sum and the holds since.
#[derive(Default)]
pub struct Ledger {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The last sum read, by node id, and when its read began.
    sum: Option<(Instant, HashMap<String, Reserved>)>,
    /// Counts reads of the sum begun; a hold done in an earlier epoch is
    /// in every sum read since.
    epoch: u64,
    next: u64,
    holds: HashMap<u64, Hold>,
}

struct Hold {
    node: String,
    need: Need,
    /// The epoch in which its row's write ended, once it has.
    done: Option<u64>,
}

/// A placement's hold on a node's room, from its choice to its row's
/// write: dropping it says the write ended (committed or not).
pub struct HoldGuard {
    ledger: Arc<Ledger>,
    id: u64,
}

impl Drop for HoldGuard {
    fn drop(&mut self) {
        let mut inner = self.ledger.lock();
        let epoch = inner.epoch;
        if let Some(h) = inner.holds.get_mut(&self.id) {
            h.done = Some(epoch);
        }
    }
}

impl Ledger {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave the map half-written: every
        // update is one insert or one field write.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the sum must be read again; if so, the read's epoch, to be
    /// passed to [`Ledger::install`] once read (begin the read after this).
    pub fn begin_read(&self, now: Instant) -> Option<u64> {
        let mut inner = self.lock();
        let fresh = matches!(&inner.sum, Some((at, _)) if now.duration_since(*at) < MAX_AGE);
        if fresh {
            return None;
        }
        inner.epoch += 1;
        Some(inner.epoch)
    }

    /// Installs a sum whose read began at `epoch` (from
    /// [`Ledger::begin_read`]) at `at`; holds whose write ended before it
    /// are in it and go.
    pub fn install(&self, epoch: u64, at: Instant, sum: HashMap<String, Reserved>) {
        let mut inner = self.lock();
        inner.holds.retain(|_, h| h.done.is_none_or(|d| d >= epoch));
        inner.sum = Some((at, sum));
    }

    /// Room was freed (a workload or node went): the next placement reads
    /// the sum again.
    pub fn invalidate(&self) {
        self.lock().sum = None;
    }

    /// The reservation of every node: the last sum plus every hold.
    pub fn reserved(&self) -> HashMap<String, Reserved> {
        let inner = self.lock();
        let mut out = inner
            .sum
            .as_ref()
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        for h in inner.holds.values() {
            add(out.entry(h.node.clone()).or_default(), h.need);
        }
        out
    }

    /// What the holds alone reserve on each node (added to a sum read for
    /// one placement, after this is taken).
    pub fn held(&self) -> HashMap<String, Reserved> {
        let inner = self.lock();
        let mut out: HashMap<String, Reserved> = HashMap::new();
        for h in inner.holds.values() {
            add(out.entry(h.node.clone()).or_default(), h.need);
        }
        out
    }

    /// Holds `need` on `node` until the guard drops (after the row's write).
    pub fn hold(self: &Arc<Self>, node: &str, need: Need) -> HoldGuard {
        let mut inner = self.lock();
        inner.next += 1;
        let id = inner.next;
        inner.holds.insert(
            id,
            Hold {
                node: node.to_string(),
                need,
                done: None,
            },
        );
        HoldGuard {
            ledger: Arc::clone(self),
            id,
        }
    }
}

fn add(r: &mut Reserved, need: Need) {
    r.cpu_millis = r.cpu_millis.saturating_add(need.cpu_millis);
    r.memory_bytes = r.memory_bytes.saturating_add(need.memory_bytes);
    r.spec_bytes = r.spec_bytes.saturating_add(need.spec_bytes);
    r.workloads += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(cpu: i64) -> Need {
        Need {
            cpu_millis: cpu,
            memory_bytes: cpu * 1000,
            spec_bytes: 10,
        }
    }

    fn sum(cpu: i64) -> HashMap<String, Reserved> {
        HashMap::from([(
            "n1".to_string(),
            Reserved {
                cpu_millis: cpu,
                memory_bytes: cpu * 1000,
                spec_bytes: 10,
                workloads: 1,
            },
        )])
    }

    #[test]
    fn a_hold_counts_until_a_sum_read_after_its_write() {
        let l = Arc::new(Ledger::default());
        let t0 = Instant::now();
        let e = l.begin_read(t0).expect("nothing read yet");
        l.install(e, t0, sum(100));
        assert_eq!(l.begin_read(t0), None, "a fresh sum serves");
        let g = l.hold("n1", need(50));
        assert_eq!(l.reserved()["n1"].cpu_millis, 150);
        // A read that began before the write ended keeps the hold.
        let e = l.begin_read(t0 + MAX_AGE).expect("stale");
        drop(g);
        l.install(e, t0 + MAX_AGE, sum(100));
        assert_eq!(l.reserved()["n1"].cpu_millis, 150);
        // The next read began after it: the row is in the sum, the hold goes.
        let e = l.begin_read(t0 + 2 * MAX_AGE).expect("stale");
        l.install(e, t0 + 2 * MAX_AGE, sum(150));
        assert_eq!(l.reserved()["n1"].cpu_millis, 150);
        assert_eq!(l.reserved()["n1"].workloads, 1);
    }

    #[test]
    fn an_unfinished_hold_survives_every_read_and_invalidate_forces_one() {
        let l = Arc::new(Ledger::default());
        let t0 = Instant::now();
        let g = l.hold("n2", need(7));
        for i in 0..3 {
            l.invalidate();
            let e = l.begin_read(t0).expect("invalidated");
            l.install(e, t0, sum(i));
        }
        assert_eq!(l.reserved()["n2"].cpu_millis, 7);
        assert_eq!(l.held()["n2"].memory_bytes, 7000);
        assert!(!l.held().contains_key("n1"));
        drop(g);
    }
}
