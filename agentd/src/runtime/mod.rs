//! The seam between the worker and a container engine: everything
//! convergence and readiness need, as one trait. The Docker Engine (through
//! bollard) is one implementation; tests and the fleet simulator run the same
//! worker over an in-memory one. Container state travels as Docker's own
//! inspect model, the vocabulary both sides already speak.

use std::sync::Arc;

use bollard::models::ContainerInspectResponse;
use lattice_proto::v1;

use crate::docker::{CreateError, DResult, Docker};

/// Something happened to one of this node's containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The workload whose container it was.
    pub workload_id: String,
    /// The container exited, with this code.
    pub exit_code: Option<i32>,
}

/// The engine's events for this node's containers; ends when the engine
/// stops serving them.
pub type Events = futures_util::stream::BoxStream<'static, Event>;

/// Progress callback of a pull (percent).
pub type Progress<'a> = &'a (dyn Fn(u32) + Send + Sync);

/// What the worker asks of a container engine. Every operation is
/// idempotent: creating what exists, stopping what is stopped and removing
/// what is gone all succeed.
#[async_trait::async_trait]
pub trait Runtime: Send + Sync {
    /// Whether the engine answers.
    async fn ping(&self) -> DResult<()>;
    /// CPU (millicores) and memory (bytes) of the machine.
    async fn capacity(&self) -> (u32, u64);
    /// A container's state; None if it does not exist.
    async fn inspect(&self, name: &str) -> DResult<Option<ContainerInspectResponse>>;
    /// Pulls an image.
    async fn pull(&self, image: &str, progress: Progress<'_>) -> DResult<()>;
    /// Creates the workload's volume.
    async fn ensure_volume(&self, spec: &v1::ContainerSpec, node_id: &str) -> DResult<String>;
    /// Creates the workload's container under `name`;
    /// [`CreateError::NoImage`] when the engine lacks the image.
    async fn create(
        &self,
        name: &str,
        spec: &v1::ContainerSpec,
        node_id: &str,
    ) -> Result<(), CreateError>;
    /// Starts a container.
    async fn start(&self, name: &str) -> DResult<()>;
    /// Stops a container cleanly (its own grace period, then a kill).
    async fn stop(&self, name: &str) -> DResult<()>;
    /// Stops, then removes a container.
    async fn remove(&self, name: &str) -> DResult<()>;
    /// Removes a volume.
    async fn remove_volume(&self, name: &str) -> DResult<()>;
    /// Lets the engine restart a ready container when it exits.
    async fn keep_running(&self, name: &str) -> DResult<()>;
    /// The last `n` lines the container printed.
    async fn tail(&self, name: &str, n: usize) -> Vec<String>;
    /// Whether the workload answers as its spec says it should.
    async fn ready(&self, spec: &v1::ContainerSpec, c: &ContainerInspectResponse) -> bool;
    /// Every container labelled for this node: (workload id, container name).
    async fn workloads(&self, node_id: &str) -> DResult<Vec<(String, String)>>;
    /// Events of the containers labelled for this node, from now on.
    fn events(&self, node_id: &str) -> Events;
}

/// A shared runtime.
pub type SharedRuntime = Arc<dyn Runtime>;

#[async_trait::async_trait]
impl Runtime for Docker {
    async fn ping(&self) -> DResult<()> {
        Docker::ping(self).await
    }
    async fn capacity(&self) -> (u32, u64) {
        Docker::capacity(self).await
    }
    async fn inspect(&self, name: &str) -> DResult<Option<ContainerInspectResponse>> {
        Docker::inspect(self, name).await
    }
    async fn pull(&self, image: &str, progress: Progress<'_>) -> DResult<()> {
        Docker::pull(self, image, progress).await
    }
    async fn ensure_volume(&self, spec: &v1::ContainerSpec, node_id: &str) -> DResult<String> {
        Docker::ensure_volume(self, spec, node_id).await
    }
    async fn create(
        &self,
        name: &str,
        spec: &v1::ContainerSpec,
        node_id: &str,
    ) -> Result<(), CreateError> {
        Docker::create(self, name, spec, node_id).await
    }
    async fn start(&self, name: &str) -> DResult<()> {
        Docker::start(self, name).await
    }
    async fn stop(&self, name: &str) -> DResult<()> {
        Docker::stop(self, name).await
    }
    async fn remove(&self, name: &str) -> DResult<()> {
        Docker::remove(self, name).await
    }
    async fn remove_volume(&self, name: &str) -> DResult<()> {
        Docker::remove_volume(self, name).await
    }
    async fn keep_running(&self, name: &str) -> DResult<()> {
        Docker::keep_running(self, name).await
    }
    async fn tail(&self, name: &str, n: usize) -> Vec<String> {
        Docker::tail(self, name, n).await
    }
    async fn ready(&self, spec: &v1::ContainerSpec, c: &ContainerInspectResponse) -> bool {
        crate::probe::check_ready(self, spec, c).await
    }
    async fn workloads(&self, node_id: &str) -> DResult<Vec<(String, String)>> {
        Docker::workloads(self, node_id).await
    }
    fn events(&self, node_id: &str) -> Events {
        Docker::events(self, node_id)
    }
}

#[cfg(any(test, feature = "sim"))]
pub mod memory;
