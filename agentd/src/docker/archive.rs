//! A container path as a tar stream, taken while the container is paused
//! so the files are one consistent moment (Docker reads paused containers'
//! files; the process simply does not run meanwhile).

use bollard::query_parameters::DownloadFromContainerOptionsBuilder;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::{DResult, Docker, msg};

impl Docker {
    /// Freezes a container's processes.
    pub async fn pause(&self, name: &str) -> DResult<()> {
        self.inner.pause_container(name).await.map_err(|e| msg(&e))
    }

    /// Lets a paused container run again.
    pub async fn unpause(&self, name: &str) -> DResult<()> {
        self.inner
            .unpause_container(name)
            .await
            .map_err(|e| msg(&e))
    }

    /// `path` inside the container as a tar stream (its entries start with
    /// the path's last component).
    pub fn archive(
        &self,
        name: &str,
        path: &str,
    ) -> impl Stream<Item = DResult<Bytes>> + Send + use<> {
        let opts = DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        self.inner
            .download_from_container(name, Some(opts))
            .map(|r| r.map_err(|e| msg(&e)))
    }
}
