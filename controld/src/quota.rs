//! Per-user quotas and default limits, as a cloud shared by strangers needs
//! them (Kubernetes' ResourceQuota and LimitRange, Fly's per-organisation
//! limits): how many workloads, how much CPU and memory, how many public
//! ports and concurrent streams one account may hold, and how many relayed
//! connections one client address may keep open. A refusal names the quota,
//! the current use and the request (RESOURCE_EXHAUSTED; exit code 8).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use lattice_proto::v1;

use crate::catalog::{LimitsDoc, SpecDoc};
use crate::entity::workload;
use crate::error::{Error, Result};

/// The limits a workload's container runs with: what its deploy asked for,
/// and for what it left unset, the defaults fixed when it was deployed.
pub fn limits_of(w: &workload::Model) -> v1::Resources {
    let defaults = serde_json::from_str::<SpecDoc>(&w.spec)
        .ok()
        .and_then(|s| s.default_limits)
        .unwrap_or_default();
    let cpu = u32::try_from(w.cpu_millis).unwrap_or(0);
    let mem = u64::try_from(w.memory_bytes).unwrap_or(0);
    v1::Resources {
        cpu_millis: if cpu == 0 { defaults.cpu_millis } else { cpu },
        memory_bytes: if mem == 0 { defaults.memory_bytes } else { mem },
    }
}

/// The bytes a workload's spec takes wherever it is held (controld's store,
/// the node's desired state, the agent's memory): what the spec-bytes quota
/// and a node's spec cap count.
pub fn spec_bytes(w: &workload::Model) -> u64 {
    stored_bytes(
        &w.name,
        &w.image,
        &w.spec,
        w.credentials.as_deref(),
        w.pending_credentials.as_deref(),
    )
}

/// [`spec_bytes`] of a workload not stored yet.
pub fn stored_bytes(
    name: &str,
    image: &str,
    spec: &str,
    credentials: Option<&str>,
    pending: Option<&str>,
) -> u64 {
    (name.len()
        + image.len()
        + spec.len()
        + credentials.map_or(0, str::len)
        + pending.map_or(0, str::len)) as u64
}

/// Quotas and default limits together, as controld's flags set them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Per-account quotas.
    pub quotas: Quotas,
    /// Limits for what a deploy leaves unset.
    pub defaults: DefaultLimits,
}

/// What one account may hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Workloads (not yet deleted).
    pub workloads: u64,
    /// CPU in millicores, summed over effective limits.
    pub cpu_millis: u64,
    /// Memory in bytes, summed over effective limits.
    pub memory_bytes: u64,
    /// Public edge ports.
    pub edge_ports: u64,
    /// Concurrent Watch and Logs streams.
    pub streams: usize,
    /// Bytes of workload specs (env, command, credentials…), see [`spec_bytes`].
    pub spec_bytes: u64,
}

/// The limits a container gets when its deploy names none (as a
/// LimitRange's default limit: they bound the container, they are not
/// reserved by the scheduler).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultLimits {
    /// CPU in millicores.
    pub cpu_millis: u32,
    /// Memory in bytes.
    pub memory_bytes: u64,
}

impl DefaultLimits {
    /// As stored in a workload's spec.
    pub fn doc(&self) -> LimitsDoc {
        LimitsDoc {
            cpu_millis: self.cpu_millis,
            memory_bytes: self.memory_bytes,
        }
    }

    /// A workload's effective (cpu, memory): its own, or the default.
    pub fn effective(&self, cpu_millis: i64, memory_bytes: i64) -> (u64, u64) {
        let cpu = u64::try_from(cpu_millis).unwrap_or(0);
        let mem = u64::try_from(memory_bytes).unwrap_or(0);
        (
            if cpu == 0 {
                u64::from(self.cpu_millis)
            } else {
                cpu
            },
            if mem == 0 { self.memory_bytes } else { mem },
        )
    }
}

/// What an account holds (or asks for), in the quota's units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Workloads.
    pub workloads: u64,
    /// CPU in millicores.
    pub cpu_millis: u64,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// Edge ports.
    pub edge_ports: u64,
    /// Spec bytes.
    pub spec_bytes: u64,
}

fn cpus(m: u64) -> String {
    if m.is_multiple_of(1000) {
        format!("{}", m / 1000)
    } else {
        format!("{:.2}", m as f64 / 1000.0)
    }
}

fn mib(b: u64) -> String {
    format!("{}Mi", b / (1024 * 1024))
}

fn kib(b: u64) -> String {
    format!("{}Ki", b.div_ceil(1024))
}

/// One quota's check: (what, limit, used, asked, how to show an amount).
type Check = (&'static str, u64, u64, u64, fn(u64) -> String);

impl Quotas {
    /// Ok when `used + asked` fits every quota; else the first that does not.
    pub fn admit(&self, used: Usage, asked: Usage) -> Result<()> {
        let checks: [Check; 5] = [
            (
                "workloads",
                self.workloads,
                used.workloads,
                asked.workloads,
                |n| n.to_string(),
            ),
            (
                "CPU",
                self.cpu_millis,
                used.cpu_millis,
                asked.cpu_millis,
                cpus,
            ),
            (
                "memory",
                self.memory_bytes,
                used.memory_bytes,
                asked.memory_bytes,
                mib,
            ),
            (
                "public ports",
                self.edge_ports,
                used.edge_ports,
                asked.edge_ports,
                |n| n.to_string(),
            ),
            (
                "spec size (env, command and credentials)",
                self.spec_bytes,
                used.spec_bytes,
                asked.spec_bytes,
                kib,
            ),
        ];
        for (what, limit, used, asked, show) in checks {
            if used.saturating_add(asked) > limit {
                return Err(Error::Quota(format!(
                    "quota exceeded: {what} — you use {} of {} and this needs {} more; \
                     remove workloads you no longer need (`lattice rm NAME`) or ask an admin to raise it",
                    show(used),
                    show(limit),
                    show(asked)
                )));
            }
        }
        Ok(())
    }
}

/// Counts things held at once per key (an account's streams, a client
/// address's connections), with a cap; a [`Slot`] gives its place back on drop.
#[derive(Clone)]
pub struct KeyedLimit {
    cap: usize,
    held: Arc<Mutex<HashMap<String, usize>>>,
}

/// One place in a [`KeyedLimit`].
pub struct Slot {
    key: String,
    held: Arc<Mutex<HashMap<String, usize>>>,
}

impl KeyedLimit {
    /// At most `cap` at once per key.
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            held: Arc::default(),
        }
    }

    /// The cap.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// A place for `key`, or None with the cap reached.
    pub fn try_acquire(&self, key: &str) -> Option<Slot> {
        let mut h = self.held.lock().ok()?;
        let n = h.entry(key.to_string()).or_insert(0);
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(Slot {
            key: key.to_string(),
            held: self.held.clone(),
        })
    }

    /// How many `key` holds.
    pub fn held(&self, key: &str) -> usize {
        self.held
            .lock()
            .map(|h| h.get(key).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut h) = self.held.lock()
            && let Some(n) = h.get_mut(&self.key)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                h.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: Quotas = Quotas {
        workloads: 2,
        cpu_millis: 2000,
        memory_bytes: 1 << 30,
        edge_ports: 3,
        streams: 2,
        spec_bytes: 10 * 1024,
    };

    #[test]
    fn a_refusal_names_the_quota_the_use_and_the_request() {
        let used = Usage {
            workloads: 1,
            cpu_millis: 1500,
            memory_bytes: 512 << 20,
            edge_ports: 1,
            spec_bytes: 8 * 1024,
        };
        let one = |cpu, mem, ports| Usage {
            workloads: 1,
            cpu_millis: cpu,
            memory_bytes: mem,
            edge_ports: ports,
            spec_bytes: 1024,
        };
        assert!(Q.admit(used, one(500, 512 << 20, 2)).is_ok());
        let e = Q.admit(used, one(1000, 0, 0)).unwrap_err().to_string();
        assert!(
            e.contains("CPU") && e.contains("1.50 of 2") && e.contains("needs 1 more"),
            "{e}"
        );
        let e = Q.admit(used, one(0, 1 << 30, 0)).unwrap_err().to_string();
        assert!(e.contains("memory") && e.contains("512Mi of 1024Mi"), "{e}");
        let e = Q.admit(used, one(0, 0, 3)).unwrap_err().to_string();
        assert!(e.contains("public ports"), "{e}");
        let big = Usage {
            spec_bytes: 3000,
            ..one(0, 0, 0)
        };
        let e = Q.admit(used, big).unwrap_err().to_string();
        assert!(
            e.contains("spec size") && e.contains("8Ki of 10Ki") && e.contains("3Ki more"),
            "{e}"
        );
        let full = Usage {
            workloads: 2,
            ..used
        };
        assert!(
            Q.admit(full, one(0, 0, 0))
                .unwrap_err()
                .to_string()
                .contains("workloads")
        );
    }

    #[test]
    fn defaults_fill_only_what_is_unset() {
        let d = DefaultLimits {
            cpu_millis: 1000,
            memory_bytes: 512 << 20,
        };
        assert_eq!(d.effective(0, 0), (1000, 512 << 20));
        assert_eq!(d.effective(250, 0), (250, 512 << 20));
        assert_eq!(d.effective(0, 64 << 20), (1000, 64 << 20));
    }

    #[test]
    fn slots_are_given_back() {
        let l = KeyedLimit::new(2);
        let a = l.try_acquire("u").unwrap();
        let _b = l.try_acquire("u").unwrap();
        assert!(l.try_acquire("u").is_none());
        assert!(l.try_acquire("v").is_some());
        drop(a);
        assert_eq!(l.held("u"), 1);
        assert!(l.try_acquire("u").is_some());
    }
}
