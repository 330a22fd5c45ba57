//! An in-memory container engine for tests and the fleet simulator: the
//! worker's convergence runs unchanged over it. Containers "start" after a
//! configurable delay, images can be missing, a container can be made to
//! exit at start or crash later, and the whole engine can be made to fail.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use bollard::models::{
    ContainerConfig, ContainerInspectResponse, ContainerState, HostConfig, RestartPolicy,
    RestartPolicyNameEnum,
};
use lattice_proto::v1;

use futures_util::StreamExt;

use super::{Event, Events, Progress, Runtime};
use crate::docker::{CreateError, DResult, container_name, label, volume_name};

#[derive(Default)]
struct State {
    containers: HashMap<String, ContainerInspectResponse>,
    volumes: HashSet<String>,
    missing_images: HashSet<String>,
    exit_at_start: HashMap<String, i64>,
    down: Option<String>,
    /// Creates that fail (transiently) before one succeeds.
    failing_creates: u32,
    next_id: u64,
    creates: u64,
}

/// The in-memory engine.
pub struct Memory {
    state: Mutex<State>,
    events: tokio::sync::broadcast::Sender<(String, Event)>,
    /// How long a start takes.
    pub start_delay: Duration,
}

impl Default for Memory {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            events: tokio::sync::broadcast::channel(1024).0,
            start_delay: Duration::ZERO,
        }
    }
}

impl Memory {
    /// An engine where every image is present and starts succeed at once.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut s)
    }

    fn up(&self) -> DResult<()> {
        self.with(|s| s.down.clone()).map_or(Ok(()), Err)
    }

    /// Makes every call fail with `error` (None: the engine answers again).
    pub fn set_down(&self, error: Option<&str>) {
        self.with(|s| s.down = error.map(str::to_string));
    }

    /// Makes an image absent and unpullable.
    pub fn remove_image(&self, image: &str) {
        self.with(|s| s.missing_images.insert(image.to_string()));
    }

    /// Makes containers of `image` exit with `code` as soon as they start.
    pub fn exit_at_start(&self, image: &str, code: i64) {
        self.with(|s| s.exit_at_start.insert(image.to_string(), code));
    }

    /// A running container exits with `code`; with a restart policy the
    /// engine starts it again at once (one more restart).
    pub fn crash(&self, workload_id: &str, code: i64) {
        let node = self.with(|s| {
            if let Some(c) = s.containers.get_mut(&container_name(workload_id)) {
                let again = c
                    .host_config
                    .as_ref()
                    .and_then(|h| h.restart_policy.as_ref())
                    .and_then(|p| p.name)
                    == Some(RestartPolicyNameEnum::UNLESS_STOPPED);
                let st = c.state.get_or_insert_with(Default::default);
                st.exit_code = Some(code);
                st.running = Some(again);
                if again {
                    st.started_at = Some(now());
                    c.restart_count = Some(c.restart_count.unwrap_or(0) + 1);
                }
            }
            s.containers
                .get(&container_name(workload_id))
                .and_then(|c| {
                    c.config
                        .as_ref()?
                        .labels
                        .as_ref()?
                        .get(label::NODE)
                        .cloned()
                })
        });
        if let Some(node) = node {
            let _ = self.events.send((
                node,
                Event {
                    workload_id: workload_id.to_string(),
                    exit_code: i32::try_from(code).ok(),
                },
            ));
        }
    }

    /// Makes the next `n` creates fail as a busy engine's would (a
    /// conflict, a timeout): errors worth retrying.
    pub fn fail_creates(&self, n: u32) {
        self.with(|s| s.failing_creates = n);
    }

    /// Puts a container that is not this agent's under `name`, labelled as
    /// `labels` say (another node's, or nobody's).
    pub fn plant(&self, name: &str, labels: &[(&str, &str)]) {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        let c = ContainerInspectResponse {
            id: Some(format!("planted-{name}")),
            name: Some(format!("/{name}")),
            config: Some(ContainerConfig {
                labels: Some(labels),
                ..Default::default()
            }),
            state: Some(ContainerState {
                running: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.with(|s| s.containers.insert(name.to_string(), c));
    }

    /// The container under a name, as inspect shows it.
    pub fn container_named(&self, name: &str) -> Option<ContainerInspectResponse> {
        self.with(|s| s.containers.get(name).cloned())
    }

    /// How many containers were created so far.
    pub fn creates(&self) -> u64 {
        self.with(|s| s.creates)
    }

    /// The container of a workload, as inspect shows it.
    pub fn container(&self, workload_id: &str) -> Option<ContainerInspectResponse> {
        self.with(|s| s.containers.get(&container_name(workload_id)).cloned())
    }

    /// The workload of every container this engine holds (a test's view:
    /// the engine answers even when set down).
    pub fn workload_ids(&self) -> Vec<String> {
        self.with(|s| {
            s.containers
                .values()
                .filter_map(|c| {
                    c.config
                        .as_ref()?
                        .labels
                        .as_ref()?
                        .get(label::WORKLOAD)
                        .cloned()
                })
                .collect()
        })
    }

    /// Whether a workload's volume exists.
    pub fn has_volume(&self, workload_id: &str) -> bool {
        self.with(|s| s.volumes.contains(&volume_name(workload_id)))
    }
}

fn now() -> String {
    humantime::format_rfc3339(SystemTime::now()).to_string()
}

#[async_trait::async_trait]
impl Runtime for Memory {
    async fn ping(&self) -> DResult<()> {
        self.up()
    }
    async fn capacity(&self) -> (u32, u64) {
        (4000, 8 << 30)
    }
    async fn inspect(&self, name: &str) -> DResult<Option<ContainerInspectResponse>> {
        self.up()?;
        Ok(self.with(|s| s.containers.get(name).cloned()))
    }
    async fn pull(&self, image: &str, progress: Progress<'_>) -> DResult<()> {
        self.up()?;
        progress(0);
        Err(format!("pull access denied for {image}: no registry"))
    }
    async fn ensure_volume(&self, spec: &v1::ContainerSpec, _node_id: &str) -> DResult<String> {
        self.up()?;
        let name = volume_name(&spec.workload_id);
        self.with(|s| s.volumes.insert(name.clone()));
        Ok(name)
    }
    async fn create(
        &self,
        name: &str,
        spec: &v1::ContainerSpec,
        node_id: &str,
    ) -> Result<(), CreateError> {
        self.up().map_err(CreateError::Transient)?;
        let name = name.to_string();
        self.with(|s| {
            if s.missing_images.contains(&spec.image) {
                return Err(CreateError::NoImage);
            }
            if s.failing_creates > 0 {
                s.failing_creates -= 1;
                return Err(CreateError::Transient(
                    "Conflict. The container name is already in use by a container being removed"
                        .into(),
                ));
            }
            if let Some(c) = s.containers.get(&name) {
                return if crate::owned::is_ours(c, &spec.workload_id, node_id) {
                    Ok(())
                } else {
                    Err(CreateError::Transient(format!(
                        "the name {name} was taken by a container that is not this node's"
                    )))
                };
            }
            s.next_id += 1;
            s.creates += 1;
            let labels = HashMap::from([
                (label::WORKLOAD.to_string(), spec.workload_id.clone()),
                (label::NODE.to_string(), node_id.to_string()),
                (label::SPEC.to_string(), spec.spec_hash.clone()),
            ]);
            let c = ContainerInspectResponse {
                id: Some(format!("mem{:08}", s.next_id)),
                name: Some(format!("/{name}")),
                config: Some(ContainerConfig {
                    image: Some(spec.image.clone()),
                    labels: Some(labels),
                    ..Default::default()
                }),
                host_config: Some(HostConfig::default()),
                state: Some(ContainerState {
                    running: Some(false),
                    ..Default::default()
                }),
                restart_count: Some(0),
                ..Default::default()
            };
            s.containers.insert(name, c);
            Ok(())
        })
    }
    async fn start(&self, name: &str) -> DResult<()> {
        self.up()?;
        tokio::time::sleep(self.start_delay).await;
        self.with(|s| {
            let exit = |c: &ContainerInspectResponse| {
                let image = c.config.as_ref().and_then(|c| c.image.clone())?;
                s.exit_at_start.get(&image).copied()
            };
            let Some(c) = s.containers.get(name) else {
                return Err(format!("No such container: {name}"));
            };
            let code = exit(c);
            if let Some(c) = s.containers.get_mut(name) {
                let st = c.state.get_or_insert_with(Default::default);
                st.running = Some(code.is_none());
                st.exit_code = Some(code.unwrap_or(0));
                st.started_at = Some(now());
            }
            Ok(())
        })
    }
    async fn stop(&self, name: &str) -> DResult<()> {
        self.up()?;
        self.with(|s| {
            if let Some(st) = s.containers.get_mut(name).and_then(|c| c.state.as_mut()) {
                st.running = Some(false);
            }
        });
        Ok(())
    }
    async fn remove(&self, name: &str) -> DResult<()> {
        self.up()?;
        self.with(|s| s.containers.remove(name));
        Ok(())
    }
    async fn remove_volume(&self, name: &str) -> DResult<()> {
        self.up()?;
        self.with(|s| s.volumes.remove(name));
        Ok(())
    }
    async fn keep_running(&self, name: &str) -> DResult<()> {
        self.up()?;
        self.with(|s| {
            if let Some(c) = s.containers.get_mut(name) {
                c.host_config
                    .get_or_insert_with(Default::default)
                    .restart_policy = Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                });
            }
        });
        Ok(())
    }
    async fn tail(&self, name: &str, n: usize) -> Vec<String> {
        vec![format!("{name} printed this")]
            .into_iter()
            .take(n)
            .collect()
    }
    async fn ready(&self, _spec: &v1::ContainerSpec, c: &ContainerInspectResponse) -> bool {
        crate::probe::is_running(c)
    }
    fn events(&self, node_id: &str) -> Events {
        let node = node_id.to_string();
        tokio_stream::wrappers::BroadcastStream::new(self.events.subscribe())
            .filter_map(move |e| {
                futures_util::future::ready(match e {
                    Ok((n, ev)) if n == node => Some(ev),
                    _ => None,
                })
            })
            .boxed()
    }
    async fn workloads(&self, node_id: &str) -> DResult<Vec<(String, String)>> {
        self.up()?;
        Ok(self.with(|s| {
            s.containers
                .iter()
                .filter_map(|(name, c)| {
                    let l = c.config.as_ref()?.labels.as_ref()?;
                    if l.get(label::NODE).map(String::as_str) != Some(node_id) {
                        return None;
                    }
                    Some((l.get(label::WORKLOAD)?.clone(), name.clone()))
                })
                .collect()
        }))
    }
}
