//! What the node's machine is using, measured off the control loop and sent
//! with each heartbeat: CPU busy (sysinfo's delta between two samples),
//! memory in use, and how many containers of this node's workloads exist.
//! The heartbeat reads the last figures; it never waits for a measurement.

use std::sync::Mutex;

use lattice_proto::v1;
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

/// The machine's load, refreshed by [`Usage::refresh`].
pub struct Usage {
    sys: Mutex<System>,
    last: Mutex<Option<v1::NodeUsage>>,
}

impl Default for Usage {
    fn default() -> Self {
        let kinds = RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing().with_cpu_usage())
            .with_memory(MemoryRefreshKind::nothing().with_ram());
        Self {
            sys: Mutex::new(System::new_with_specifics(kinds)),
            last: Mutex::new(None),
        }
    }
}

impl Usage {
    /// Samples the machine; `containers` is the engine's count (None when it
    /// did not answer: the last count is kept).
    pub fn refresh(&self, containers: Option<u32>) {
        let Ok(mut sys) = self.sys.lock() else { return };
        sys.refresh_cpu_usage();
        sys.refresh_memory();
        let cores = sys.cpus().len() as f64;
        let busy = f64::from(sys.global_cpu_usage()) / 100.0 * cores * 1000.0;
        let used = sys.total_memory().saturating_sub(sys.available_memory());
        drop(sys);
        if let Ok(mut last) = self.last.lock() {
            let containers = containers.or(last.map(|u| u.containers)).unwrap_or(0);
            *last = Some(v1::NodeUsage {
                cpu_busy_millis: busy.round().clamp(0.0, f64::from(u32::MAX)) as u32,
                memory_used_bytes: used,
                containers,
            });
        }
    }

    /// The last figures, if measured yet.
    pub fn last(&self) -> Option<v1::NodeUsage> {
        self.last.lock().ok().and_then(|l| *l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_those_of_this_machine() {
        let u = Usage::default();
        assert!(u.last().is_none(), "nothing before the first sample");
        u.refresh(Some(3));
        u.refresh(None);
        let got = u.last().expect("measured");
        assert_eq!(got.containers, 3, "a failed count keeps the last one");
        assert!(got.memory_used_bytes > 0, "this test uses memory");
    }
}
