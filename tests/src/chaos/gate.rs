//! A gate in front of a Unix socket (the Docker Engine's): it forwards every
//! connection while open; closing it cuts every live connection and refuses
//! new ones until it opens again — the engine unreachable for whoever talks
//! through the gate, while it keeps running for everyone else.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

/// A socket gate; dropped, it stops forwarding and removes its socket.
pub struct SocketGate {
    path: PathBuf,
    open: watch::Sender<bool>,
    rt: Option<tokio::runtime::Runtime>,
}

impl SocketGate {
    /// Listens at `path`, forwarding to `target`; starts open.
    pub fn start(path: &Path, target: &Path) -> anyhow::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let _ = std::fs::remove_file(path);
        let listener = {
            let _guard = rt.enter();
            UnixListener::bind(path)?
        };
        let (open, _) = watch::channel(true);
        let gate = Arc::new(open.clone());
        let target = target.to_path_buf();
        rt.spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let mut state = gate.subscribe();
                if !*state.borrow() {
                    drop(client); // refused while closed
                    continue;
                }
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(upstream) = UnixStream::connect(&target).await else {
                        return;
                    };
                    let (mut client, mut upstream) = (client, upstream);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                        _ = state.wait_for(|open| !*open) => {} // cut
                    }
                });
            }
        });
        Ok(Self {
            path: path.to_path_buf(),
            open,
            rt: Some(rt),
        })
    }

    /// `unix://PATH`, for DOCKER_HOST.
    pub fn url(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// Cuts every connection and refuses new ones.
    pub fn close(&self) {
        self.open.send_replace(false);
    }

    /// Forwards again.
    pub fn open(&self) {
        self.open.send_replace(true);
    }
}

impl Drop for SocketGate {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}
