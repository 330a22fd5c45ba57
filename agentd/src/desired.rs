//! Putting a full desired state back together: controld sends it in chunks
//! of about 1 MiB that share a sync id, and the set is applied only once the
//! last chunk is in, so a half-received state never makes the agent drop
//! the workloads of the chunks it has not seen yet.

use lattice_proto::v1;
use prost::Message;

/// The most bytes of specs one full state may add up to here. controld caps
/// a node at `--node-spec-bytes` (32 MiB by default); this bounds the agent
/// whatever a misbehaving control plane sends.
pub const MAX_STATE_BYTES: usize = 256 << 20;

/// A full state being received.
#[derive(Default)]
pub struct Assembly {
    sync_id: String,
    workloads: Vec<v1::DesiredWorkload>,
    bytes: usize,
}

impl Assembly {
    /// Adds one chunk of a full state; the whole state once its last chunk
    /// is in. A chunk of another sync drops what an unfinished one held
    /// (controld started over, e.g. after a reconnect of its own).
    pub fn add(&mut self, d: v1::DesiredState) -> Result<Option<Vec<v1::DesiredWorkload>>, String> {
        if d.sync_id != self.sync_id {
            self.reset();
            self.sync_id = d.sync_id;
        }
        self.bytes += d.workloads.iter().map(Message::encoded_len).sum::<usize>();
        if self.bytes > MAX_STATE_BYTES {
            self.reset();
            return Err(format!(
                "the desired state is larger than {} MiB; ignored",
                MAX_STATE_BYTES >> 20
            ));
        }
        self.workloads.extend(d.workloads);
        if d.more {
            return Ok(None);
        }
        let all = std::mem::take(&mut self.workloads);
        self.reset();
        Ok(Some(all))
    }

    fn reset(&mut self) {
        self.sync_id.clear();
        self.workloads.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(id: &str) -> v1::DesiredWorkload {
        v1::DesiredWorkload {
            spec: Some(v1::ContainerSpec {
                workload_id: id.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn chunk(sync: &str, ids: &[&str], more: bool) -> v1::DesiredState {
        v1::DesiredState {
            workloads: ids.iter().map(|i| w(i)).collect(),
            partial: false,
            sync_id: sync.into(),
            more,
        }
    }

    fn ids(ws: &[v1::DesiredWorkload]) -> Vec<String> {
        ws.iter()
            .filter_map(|w| w.spec.as_ref().map(|s| s.workload_id.clone()))
            .collect()
    }

    #[test]
    fn chunks_are_applied_together_once_the_last_is_in() {
        let mut a = Assembly::default();
        assert_eq!(a.add(chunk("s1", &["a", "b"], true)), Ok(None));
        assert_eq!(a.add(chunk("s1", &["c"], true)), Ok(None));
        let all = a.add(chunk("s1", &["d"], false)).unwrap().unwrap();
        assert_eq!(ids(&all), ["a", "b", "c", "d"]);
        // A state in one message (and an empty one) applies at once.
        assert_eq!(
            ids(&a.add(chunk("s2", &["x"], false)).unwrap().unwrap()),
            ["x"]
        );
        assert!(a.add(chunk("s3", &[], false)).unwrap().unwrap().is_empty());
    }

    #[test]
    fn a_new_sync_drops_an_unfinished_one() {
        let mut a = Assembly::default();
        assert_eq!(a.add(chunk("old", &["a", "b"], true)), Ok(None));
        assert_eq!(a.add(chunk("new", &["c"], true)), Ok(None));
        let all = a.add(chunk("new", &["d"], false)).unwrap().unwrap();
        assert_eq!(ids(&all), ["c", "d"]);
    }

    #[test]
    fn an_oversized_state_is_refused_and_forgotten() {
        let mut a = Assembly::default();
        let big = v1::DesiredWorkload {
            spec: Some(v1::ContainerSpec {
                env: vec![v1::EnvVar {
                    key: "K".into(),
                    value: "x".repeat(1 << 20),
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut refused = false;
        for _ in 0..(MAX_STATE_BYTES >> 20) + 1 {
            let d = v1::DesiredState {
                workloads: vec![big.clone()],
                sync_id: "s".into(),
                more: true,
                ..Default::default()
            };
            if let Err(e) = a.add(d) {
                assert!(e.contains("larger than 256 MiB"), "{e}");
                refused = true;
                break;
            }
        }
        assert!(refused);
        assert_eq!(a.bytes, 0);
        assert!(a.workloads.is_empty());
    }
}
