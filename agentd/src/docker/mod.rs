//! The local Docker Engine, through bollard. Everything Docker-specific the
//! agent does lives here, each operation idempotent ("already started",
//! "no such container" on remove are success).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerInspectResponse, ContainerUpdateBody, RestartPolicy, RestartPolicyNameEnum,
    VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, EventsOptionsBuilder,
    ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveVolumeOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::StreamExt;
use lattice_proto::v1;

mod archive;
mod exec;
mod log_stream;
pub use exec::{ExecInput, ExecOutput, ExecRequest};
pub use log_stream::{LogQuery, Logs};
pub mod network;
mod spec;

pub use spec::{
    DEFAULT_STOP_TIMEOUT_SECS, container_ip, container_name, create_body, label, published_ports,
    split_tag, stop_timeout_secs, volume_name,
};

/// Where Docker is expected, for messages.
pub fn socket_description() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

/// How this node keeps tenants apart (agentd's `--publish-addr`,
/// `--host-firewall`).
#[derive(Debug, Clone, Copy)]
pub struct Isolation {
    /// Address direct ports are published on.
    pub publish_addr: std::net::IpAddr,
    /// Whether to keep workloads off the node's own addresses with iptables.
    pub host_firewall: bool,
    /// Where owners' subnets come from.
    pub pool: ipnet::Ipv4Net,
}

impl Default for Isolation {
    fn default() -> Self {
        Self {
            publish_addr: std::net::Ipv4Addr::LOCALHOST.into(),
            host_firewall: true,
            pool: network::DEFAULT_POOL
                .parse()
                .unwrap_or_else(|_| ipnet::Ipv4Net::default()),
        }
    }
}

/// A connected Docker Engine.
#[derive(Clone)]
pub struct Docker {
    inner: bollard::Docker,
    isolation: Isolation,
    /// Creating a container on an owner's network and removing that network
    /// once unused never interleave.
    networks: Arc<tokio::sync::Mutex<()>>,
    /// The firewall was set up (or found set up) once.
    firewall_done: Arc<AtomicBool>,
}

/// A Docker failure, phrased for the user.
pub type DResult<T> = Result<T, String>;

/// Why a container was not created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateError {
    /// The engine does not have the image: pull it and create again (as
    /// `docker run` does, instead of looking the image up before each create).
    NoImage,
    /// Worth another try after a pause: a conflict, a timeout, the engine
    /// restarting, a race with another agent on the same engine.
    Transient(String),
    /// Waiting cannot heal it: a bad image reference, an impossible spec.
    Invalid(String),
}

impl std::fmt::Display for CreateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoImage => f.write_str("the image is not on this node"),
            Self::Transient(e) | Self::Invalid(e) => f.write_str(e),
        }
    }
}

/// Sorts an engine's refusal of a create: Docker answers 400 for what is
/// wrong with the request itself; everything else (409 conflicts, 5xx,
/// a lost connection, a timeout) may heal.
fn create_error(e: &DockerError) -> CreateError {
    match e {
        DockerError::DockerResponseServerError {
            status_code: 404,
            message,
        } if message.contains("No such image") => CreateError::NoImage,
        DockerError::DockerResponseServerError {
            status_code: 400,
            message,
        } => CreateError::Invalid(message.clone()),
        other => CreateError::Transient(msg(other)),
    }
}

/// Whether a start failed because the container's network is gone (removed
/// between its create and its start): making the container again heals it.
pub fn lost_network(message: &str) -> bool {
    message.contains("network") && message.contains("not found")
}

fn is_not_found(e: &DockerError) -> bool {
    matches!(
        e,
        DockerError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

fn msg(e: &DockerError) -> String {
    match e {
        DockerError::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

impl Docker {
    /// Connects and pings; the error names the socket.
    pub async fn connect(isolation: Isolation) -> DResult<Self> {
        let inner = bollard::Docker::connect_with_local_defaults()
            .map_err(|e| format!("cannot use Docker at {}: {e}", socket_description()))?;
        let d = Self {
            inner,
            isolation,
            networks: Arc::default(),
            firewall_done: Arc::default(),
        };
        d.ping().await?;
        Ok(d)
    }

    /// Whether the engine answers.
    pub async fn ping(&self) -> DResult<()> {
        match tokio::time::timeout(Duration::from_secs(5), self.inner.ping()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!(
                "Docker at {} does not answer: {e}",
                socket_description()
            )),
            Err(_) => Err(format!(
                "Docker at {} did not answer within 5s",
                socket_description()
            )),
        }
    }

    /// CPU (millicores) and memory (bytes) of the machine.
    pub async fn capacity(&self) -> (u32, u64) {
        match self.inner.info().await {
            Ok(i) => (
                u32::try_from(i.ncpu.unwrap_or(0))
                    .unwrap_or(0)
                    .saturating_mul(1000),
                u64::try_from(i.mem_total.unwrap_or(0)).unwrap_or(0),
            ),
            Err(_) => (0, 0),
        }
    }

    /// The raw client (events, logs).
    pub fn raw(&self) -> &bollard::Docker {
        &self.inner
    }

    /// Inspects a container; None if it does not exist.
    pub async fn inspect(&self, name: &str) -> DResult<Option<ContainerInspectResponse>> {
        match self.inner.inspect_container(name, None).await {
            Ok(c) => Ok(Some(c)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(msg(&e)),
        }
    }

    /// Pulls an image, calling `progress` with a percentage.
    pub async fn pull(&self, image: &str, mut progress: impl FnMut(u32)) -> DResult<()> {
        let (from, tag) = split_tag(image);
        let opts = CreateImageOptionsBuilder::default()
            .from_image(from)
            .tag(tag)
            .build();
        let mut s = self.inner.create_image(Some(opts), None, None);
        let mut layers: HashMap<String, (i64, i64)> = HashMap::new();
        while let Some(item) = s.next().await {
            let info = item.map_err(|e| msg(&e))?;
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                return Err(err);
            }
            if let (Some(id), Some(p)) = (info.id, info.progress_detail)
                && let (Some(c), Some(t)) = (p.current, p.total)
            {
                {
                    layers.insert(id, (c, t));
                    let (c, t) = layers
                        .values()
                        .fold((0i64, 0i64), |(a, b), (c, t)| (a + c, b + t));
                    if t > 0 {
                        progress(u32::try_from((c * 100 / t).clamp(0, 100)).unwrap_or(0));
                    }
                }
            }
        }
        Ok(())
    }

    /// Creates the workload's volume (idempotent).
    pub async fn ensure_volume(&self, spec: &v1::ContainerSpec, node_id: &str) -> DResult<String> {
        let name = volume_name(&spec.workload_id);
        let labels = HashMap::from([
            (label::WORKLOAD.to_string(), spec.workload_id.clone()),
            (label::NODE.to_string(), node_id.to_string()),
            (label::OWNER.to_string(), spec.owner.clone()),
        ]);
        self.inner
            .create_volume(VolumeCreateRequest {
                name: Some(name.clone()),
                labels: Some(labels),
                ..Default::default()
            })
            .await
            .map_err(|e| format!("could not create volume {name}: {}", msg(&e)))?;
        Ok(name)
    }

    /// Creates the container for a spec under `name` (see [`crate::owned`]).
    /// A name conflict is success only when the container there is ours: a
    /// create that raced with ours, or an agent restarted mid-way. The
    /// owner's network is looked up each time, not remembered: Docker
    /// accepts a create on a network removed behind our back and fails only
    /// at start.
    pub async fn create(
        &self,
        name: &str,
        spec: &v1::ContainerSpec,
        node_id: &str,
    ) -> Result<(), CreateError> {
        let body = create_body(spec, node_id, self.isolation.publish_addr);
        let opts = CreateContainerOptionsBuilder::default().name(name).build();
        let _g = self.networks.lock().await;
        self.ensure_network(&spec.owner, node_id)
            .await
            .map_err(CreateError::Transient)?;
        match self.inner.create_container(Some(opts), body).await {
            Ok(_) => Ok(()),
            Err(DockerError::DockerResponseServerError {
                status_code: 409, ..
            }) => match self.inspect(name).await {
                Ok(Some(c)) if crate::owned::is_ours(&c, &spec.workload_id, node_id) => Ok(()),
                Ok(_) => Err(CreateError::Transient(format!(
                    "the name {name} was taken by a container that is not this node's"
                ))),
                Err(e) => Err(CreateError::Transient(e)),
            },
            Err(e) => Err(create_error(&e)),
        }
    }

    /// Lets Docker restart a ready container after crashes and reboots, even
    /// while the agent or the control plane is away.
    pub async fn keep_running(&self, name: &str) -> DResult<()> {
        let body = ContainerUpdateBody {
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            ..Default::default()
        };
        self.inner
            .update_container(name, body)
            .await
            .map_err(|e| msg(&e))
    }

    /// Starts a container (already running is success).
    pub async fn start(&self, name: &str) -> DResult<()> {
        match self.inner.start_container(name, None).await {
            Ok(())
            | Err(DockerError::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(msg(&e)),
        }
    }

    /// Stops a container cleanly: the image's stop signal, then a kill once
    /// the container's own grace period (its `--stop-timeout`) has passed.
    /// Already stopped or gone is success.
    pub async fn stop(&self, name: &str) -> DResult<()> {
        let opts = StopContainerOptionsBuilder::default().build();
        match self.inner.stop_container(name, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(DockerError::DockerResponseServerError {
                status_code: 304 | 404,
                ..
            }) => Ok(()),
            Err(e) => Err(msg(&e)),
        }
    }

    /// Stops a container cleanly (see [`Docker::stop`]), then removes it
    /// (gone is success). Every path that replaces or deletes a container
    /// comes through here, so none of them kills a workload mid-write.
    pub async fn remove(&self, name: &str) -> DResult<()> {
        let owner = self
            .inspect(name)
            .await
            .ok()
            .flatten()
            .and_then(|c| c.config?.labels?.get(label::OWNER).cloned());
        if let Err(e) = self.stop(name).await {
            tracing::warn!(container = %name, error = %e, "clean stop failed; removing anyway");
        }
        let opts = RemoveContainerOptionsBuilder::default().force(true).build();
        let removed = self.inner.remove_container(name, Some(opts)).await;
        if let Some(owner) = owner {
            self.prune_network(&owner).await;
        }
        match removed {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(DockerError::DockerResponseServerError {
                status_code: 409,
                message,
            }) if message.contains("already in progress") => Ok(()),
            Err(e) => Err(msg(&e)),
        }
    }

    /// Removes a volume (gone is success).
    pub async fn remove_volume(&self, name: &str) -> DResult<()> {
        let opts = RemoveVolumeOptionsBuilder::default().force(true).build();
        match self.inner.remove_volume(name, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(format!("could not remove volume {name}: {}", msg(&e))),
        }
    }

    /// The last `n` lines the container printed.
    pub async fn tail(&self, name: &str, n: usize) -> Vec<String> {
        let opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&n.to_string())
            .build();
        let mut s = self.inner.logs(name, Some(opts));
        let mut out = Vec::new();
        while let Some(Ok(chunk)) = s.next().await {
            let text = String::from_utf8_lossy(&chunk.into_bytes()).into_owned();
            out.extend(text.lines().map(str::to_string));
        }
        let skip = out.len().saturating_sub(n);
        out.split_off(skip)
    }

    /// Every container labelled for this node: (workload id, container name).
    pub async fn workloads(&self, node_id: &str) -> DResult<Vec<(String, String)>> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("{}={}", label::NODE, node_id)],
        )]);
        let opts = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list = self
            .inner
            .list_containers(Some(opts))
            .await
            .map_err(|e| msg(&e))?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let id = c.labels?.get(label::WORKLOAD).cloned()?;
                let name = c.names?.first()?.trim_start_matches('/').to_string();
                Some((id, name))
            })
            .collect())
    }

    /// Events of this node's containers (which workload; exit codes of `die`).
    pub fn events(&self, node_id: &str) -> crate::runtime::Events {
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            (
                "label".to_string(),
                vec![format!("{}={}", label::NODE, node_id)],
            ),
        ]);
        let opts = EventsOptionsBuilder::default().filters(&filters).build();
        self.inner
            .events(Some(opts))
            .take_while(|e| futures_util::future::ready(e.is_ok()))
            .filter_map(|e| {
                futures_util::future::ready(e.ok().and_then(|e| {
                    let attrs = e.actor.and_then(|a| a.attributes).unwrap_or_default();
                    let workload_id = attrs.get(label::WORKLOAD)?.clone();
                    let exit_code = (e.action.as_deref() == Some("die"))
                        .then(|| attrs.get("exitCode").and_then(|c| c.parse().ok()))
                        .flatten();
                    Some(crate::runtime::Event {
                        workload_id,
                        exit_code,
                    })
                }))
            })
            .boxed()
    }
}
