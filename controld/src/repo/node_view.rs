//! The node rows placement reads on every deploy, kept in memory: loading
//! 1,000 rows per deploy through the store was most of a deploy's cost at
//! fleet size (`make scale`). Every write to a node row through the
//! repository drops the copy, except a heartbeat that changes nothing the
//! scheduler reads; a load that raced a write is not kept (generations).

use std::sync::{Arc, Mutex};

use crate::entity::node;

/// Every node row, shared by whoever reads the copy.
pub type Rows = Arc<Vec<node::Model>>;

/// The cached copy and a generation bumped by every invalidation.
#[derive(Clone, Default)]
pub struct NodeView {
    inner: Arc<Mutex<(u64, Option<Rows>)>>,
}

impl NodeView {
    /// The copy (shared, not cloned: every deploy reads it, and a clone of
    /// 1,000 rows was 90 million string copies in one `make scale` run), if
    /// there is one, and the generation to store a fresh load under.
    pub fn get(&self) -> (u64, Option<Rows>) {
        self.inner
            .lock()
            .map(|g| (g.0, g.1.clone()))
            .unwrap_or((0, None))
    }

    /// Keeps `rows` as the copy unless a write came after generation `gen`.
    pub fn put(&self, generation: u64, rows: &Rows) {
        if let Ok(mut g) = self.inner.lock()
            && g.0 == generation
        {
            g.1 = Some(rows.clone());
        }
    }

    /// Drops the copy (a node row changed).
    pub fn invalidate(&self) {
        if let Ok(mut g) = self.inner.lock() {
            g.0 += 1;
            g.1 = None;
        }
    }

    /// A heartbeat: drops the copy only when the node's Docker health changed.
    pub fn heartbeat(&self, id: &str, docker_ok: bool, docker_error: Option<&str>) {
        let same = self.inner.lock().is_ok_and(|g| {
            g.1.as_ref().is_some_and(|rows| {
                rows.iter().any(|n| {
                    n.id == id
                        && n.docker_ok == docker_ok
                        && n.docker_error.as_deref() == docker_error
                })
            })
        });
        if !same {
            self.invalidate();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, ok: bool) -> node::Model {
        node::Model {
            id: id.into(),
            name: id.into(),
            secret_hash: String::new(),
            created_at: 0,
            last_seen_at: None,
            connected: true,
            docker_ok: ok,
            docker_error: None,
            draining: false,
            cpu_millis_capacity: 1000,
            memory_bytes_capacity: 1 << 30,
            address: None,
            agent_version: None,
            pending_secret_hash: None,
            pending_secret: None,
        }
    }

    #[test]
    fn a_load_that_raced_a_write_is_not_kept_and_quiet_heartbeats_keep_the_copy() {
        let v = NodeView::default();
        let (generation, none) = v.get();
        assert!(none.is_none());
        v.invalidate(); // a write while the load ran
        v.put(generation, &Arc::new(vec![row("a", true)]));
        assert!(v.get().1.is_none(), "a stale load is dropped");
        let (generation, _) = v.get();
        v.put(generation, &Arc::new(vec![row("a", true)]));
        assert_eq!(v.get().1.map(|r| r.len()), Some(1));
        v.heartbeat("a", true, None);
        assert!(v.get().1.is_some(), "nothing the scheduler reads changed");
        v.heartbeat("a", false, Some("socket gone"));
        assert!(v.get().1.is_none(), "Docker health changed");
    }
}
