//! Which container is this node's for a workload. A name is only a hint:
//! a container is Lattice's — this node's, for this workload — only when its
//! labels say so. Several agents share one Docker Engine (the scale and
//! chaos tests run so, and a workload moved between two such nodes leaves
//! its old container behind), and anyone may create a container with our
//! name. A container whose labels disagree is never adopted, stopped or
//! removed: it is left alone, reported as a conflict, and this node's
//! container takes a second name derived from the node, which cannot clash
//! with another node's.

use bollard::models::ContainerInspectResponse;
use sha2::{Digest, Sha256};

use crate::docker::{DResult, Docker, container_name, label};
use crate::runtime::Runtime;

/// Where a workload's container is (or will be) on this node.
#[derive(Debug, Clone)]
pub struct Located {
    /// The container's name: the usual one, or this node's second name when
    /// the usual one is taken by a container that is not ours.
    pub name: String,
    /// The container, if it exists (and is ours).
    pub container: Option<ContainerInspectResponse>,
    /// A container in the way that is not ours, said for the owner.
    pub conflict: Option<String>,
}

/// Whether a container's labels say it is this node's container of this
/// workload.
pub fn is_ours(c: &ContainerInspectResponse, workload_id: &str, node_id: &str) -> bool {
    let labels = c.config.as_ref().and_then(|c| c.labels.as_ref());
    let get = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    get(label::WORKLOAD) == Some(workload_id) && get(label::NODE) == Some(node_id)
}

/// The name this node gives a workload's container when the usual one is
/// taken: unique per node, stable across agent restarts.
pub fn second_name(workload_id: &str, node_id: &str) -> String {
    let d = Sha256::digest(node_id.as_bytes());
    let tag: String = d.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{}-n{tag}", container_name(workload_id))
}

/// Says who a foreign container belongs to, by its labels.
fn describe(name: &str, c: &ContainerInspectResponse) -> String {
    let labels = c.config.as_ref().and_then(|c| c.labels.as_ref());
    match labels.and_then(|l| l.get(label::NODE)) {
        Some(node) => format!(
            "the container {name} on this Docker Engine belongs to another Lattice node ({node}); \
             it is left alone"
        ),
        None => format!(
            "a container named {name} that Lattice did not make is on this Docker Engine; \
             it is left alone"
        ),
    }
}

/// Why a workload's container could not be located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocateError {
    /// The engine did not answer as it should (worth another try).
    Engine(String),
    /// Both names are taken by containers that are not ours: this node has
    /// no container of the workload, and cannot create one until one of
    /// them is removed.
    Blocked(String),
}

impl std::fmt::Display for LocateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Engine(e) | Self::Blocked(e) => f.write_str(e),
        }
    }
}

/// Finds this node's container of a workload, or the name to create it
/// under.
pub async fn locate(
    rt: &dyn Runtime,
    workload_id: &str,
    node_id: &str,
) -> Result<Located, LocateError> {
    let usual = container_name(workload_id);
    let second = second_name(workload_id, node_id);
    let first = rt.inspect(&usual).await.map_err(LocateError::Engine)?;
    if let Some(c) = &first
        && is_ours(c, workload_id, node_id)
    {
        return Ok(Located {
            name: usual,
            container: first,
            conflict: None,
        });
    }
    let conflict = first.as_ref().map(|c| describe(&usual, c));
    match rt.inspect(&second).await.map_err(LocateError::Engine)? {
        Some(c) if is_ours(&c, workload_id, node_id) => Ok(Located {
            conflict: conflict.map(|m| format!("{m}; this workload runs as {second}")),
            name: second,
            container: Some(c),
        }),
        Some(c) => Err(LocateError::Blocked(format!(
            "{}; and {}: nothing is created until one of them is removed",
            conflict.unwrap_or_default(),
            describe(&second, &c)
        ))),
        // The usual name is free: use it (a second name left from an
        // earlier clash is found above as long as its container lives).
        None if first.is_none() => Ok(Located {
            name: usual,
            container: None,
            conflict: None,
        }),
        None => Ok(Located {
            conflict: conflict.map(|m| format!("{m}; this workload runs as {second}")),
            name: second,
            container: None,
        }),
    }
}

/// This node's container of a workload, if there is one (for exec, logs,
/// backups and relayed connections, which must never reach a container
/// that is not ours).
pub async fn find(
    rt: &dyn Runtime,
    workload_id: &str,
    node_id: &str,
) -> DResult<Option<(String, ContainerInspectResponse)>> {
    match locate(rt, workload_id, node_id).await {
        Ok(l) => Ok(l.container.map(|c| (l.name, c))),
        Err(LocateError::Blocked(_)) => Ok(None),
        Err(LocateError::Engine(e)) => Err(e),
    }
}

/// The local engine as one node sees it: the streams (logs, exec, backups,
/// relayed connections) reach a workload's container only through here, so
/// only ever this node's.
#[derive(Clone)]
pub struct NodeEngine {
    /// The engine.
    pub docker: Docker,
    /// This node's id (the `lattice.node` label of its containers).
    pub node_id: std::sync::Arc<str>,
}

impl NodeEngine {
    /// This node's container of a workload: its name and state.
    pub async fn container(
        &self,
        workload_id: &str,
    ) -> Result<(String, ContainerInspectResponse), String> {
        find(&self.docker, workload_id, &self.node_id)
            .await?
            .ok_or_else(|| "the workload has no container on this node".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn labelled(pairs: &[(&str, &str)]) -> ContainerInspectResponse {
        ContainerInspectResponse {
            config: Some(bollard::models::ContainerConfig {
                labels: Some(
                    pairs
                        .iter()
                        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                        .collect::<HashMap<_, _>>(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn ours_only_when_both_labels_match() {
        let w = "0192f1a2-0000-7000-8000-000000000001";
        let c = labelled(&[(label::WORKLOAD, w), (label::NODE, "n1")]);
        assert!(is_ours(&c, w, "n1"));
        assert!(!is_ours(&c, w, "n2"));
        assert!(!is_ours(&c, "other", "n1"));
        assert!(!is_ours(&labelled(&[]), w, "n1"));
        assert!(!is_ours(&ContainerInspectResponse::default(), w, "n1"));
    }

    #[test]
    fn second_names_differ_by_node_and_stay_valid() {
        let w = "0192f1a2-0000-7000-8000-000000000001";
        assert_eq!(second_name(w, "n1"), second_name(w, "n1"));
        assert_ne!(second_name(w, "n1"), second_name(w, "n2"));
        assert_ne!(second_name(w, "n1"), container_name(w));
        assert!(
            second_name(w, "n1")
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        );
    }
}
