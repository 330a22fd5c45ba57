//! The latest observed state of every workload, and which ones the control
//! plane has not heard yet. Survives disconnects: after a reconnect every
//! report is sent again, so controld always converges on the truth.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use lattice_proto::v1;
use tokio::sync::Notify;

/// Latest report per workload, plus a dirty set.
#[derive(Default)]
pub struct Reports {
    inner: Mutex<(HashMap<String, v1::WorkloadReport>, HashSet<String>)>,
    /// Wakes the connection when something is dirty.
    pub changed: Notify,
}

impl Reports {
    /// Records a report; only a real change marks it dirty.
    pub fn set(&self, r: v1::WorkloadReport) {
        if let Ok(mut g) = self.inner.lock() {
            let (latest, dirty) = &mut *g;
            if latest.get(&r.workload_id) == Some(&r) {
                return;
            }
            dirty.insert(r.workload_id.clone());
            latest.insert(r.workload_id.clone(), r);
        }
        self.changed.notify_one();
    }

    /// The latest report of a workload.
    pub fn get(&self, id: &str) -> Option<v1::WorkloadReport> {
        self.inner.lock().ok().and_then(|g| g.0.get(id).cloned())
    }

    /// Takes the dirty reports (deleted ones are forgotten once taken).
    pub fn take_dirty(&self) -> Vec<v1::WorkloadReport> {
        let Ok(mut g) = self.inner.lock() else {
            return Vec::new();
        };
        let (latest, dirty) = &mut *g;
        let ids: Vec<String> = dirty.drain().collect();
        let mut out = Vec::new();
        for id in ids {
            if let Some(r) = latest.get(&id) {
                out.push(r.clone());
                if r.status() == v1::WorkloadStatus::Deleted {
                    latest.remove(&id);
                }
            }
        }
        out
    }

    /// Marks everything dirty (after a reconnect).
    pub fn mark_all_dirty(&self) {
        if let Ok(mut g) = self.inner.lock() {
            let (latest, dirty) = &mut *g;
            dirty.extend(latest.keys().cloned());
        }
        self.changed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(id: &str, s: v1::WorkloadStatus) -> v1::WorkloadReport {
        v1::WorkloadReport {
            workload_id: id.into(),
            status: s as i32,
            ..Default::default()
        }
    }

    #[test]
    fn dirty_tracking() {
        let rep = Reports::default();
        rep.set(r("a", v1::WorkloadStatus::Starting));
        rep.set(r("a", v1::WorkloadStatus::Running));
        let d = rep.take_dirty();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].status(), v1::WorkloadStatus::Running);
        rep.set(r("a", v1::WorkloadStatus::Running));
        assert!(rep.take_dirty().is_empty(), "no change, nothing to send");
        rep.mark_all_dirty();
        assert_eq!(rep.take_dirty().len(), 1);
        rep.set(r("a", v1::WorkloadStatus::Deleted));
        assert_eq!(rep.take_dirty().len(), 1);
        assert!(
            rep.get("a").is_none(),
            "deleted reports are forgotten once sent"
        );
    }
}
