//! A container path as a tar stream, taken while the container is paused
//! so the files are one consistent moment (Docker reads paused containers'
//! files; the process simply does not run meanwhile).

use std::collections::HashMap;

use bollard::query_parameters::{
    DownloadFromContainerOptionsBuilder, ListContainersOptionsBuilder,
};
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

    /// Lets go of every container of this node left paused: a backup pauses
    /// one only while it streams and unpauses it whatever happens, unless
    /// the agent itself died on the way — so at start, any paused one is
    /// such a leftover. Returns how many it let go.
    pub async fn unpause_leftovers(&self, node_id: &str) -> DResult<usize> {
        let filters = HashMap::from([
            (
                "label".to_string(),
                vec![format!("{}={}", super::label::NODE, node_id)],
            ),
            ("status".to_string(), vec!["paused".to_string()]),
        ]);
        let opts = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let paused = self
            .inner
            .list_containers(Some(opts))
            .await
            .map_err(|e| msg(&e))?;
        let mut n = 0;
        for c in paused {
            if let Some(id) = c.id {
                self.unpause(&id).await?;
                n += 1;
            }
        }
        Ok(n)
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
