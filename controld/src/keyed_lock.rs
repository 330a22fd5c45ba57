//! One holder at a time per key (a workload's rotations), others wait their
//! turn. Entries live only while someone holds or waits, so the map stays as
//! small as the work in flight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

/// Per-key async locks.
#[derive(Clone, Default)]
pub struct KeyedLocks {
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl KeyedLocks {
    /// Waits for `key`'s turn; the turn ends when the guard drops.
    pub async fn lock(&self, key: &str) -> OwnedMutexGuard<()> {
        let m = match self.locks.lock() {
            Ok(mut map) => {
                // Forget keys nobody holds or waits for.
                map.retain(|_, m| Arc::strong_count(m) > 1);
                map.entry(key.to_string()).or_default().clone()
            }
            Err(_) => Arc::default(),
        };
        m.lock_owned().await
    }

    /// Keys currently held or waited for.
    pub fn len(&self) -> usize {
        self.locks
            .lock()
            .map(|m| m.values().filter(|m| Arc::strong_count(m) > 1).count())
            .unwrap_or(0)
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_turn_at_a_time_per_key() {
        let l = KeyedLocks::default();
        let first = l.lock("w").await;
        let other = l.lock("v").await; // another key does not wait
        let l2 = l.clone();
        let waiter = tokio::spawn(async move {
            let _g = l2.lock("w").await;
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "the second holder of w waits");
        drop(first);
        waiter.await.unwrap();
        drop(other);
        assert!(l.is_empty());
    }
}
