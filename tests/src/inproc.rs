//! A daemon running in this process: its library's entry point on a runtime
//! of its own (tests are synchronous), stopped the way a signal stops the
//! binary — the shutdown future resolves and the server drains.

use std::future::Future;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

/// One in-process daemon.
pub struct InProcess {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

impl InProcess {
    /// Runs `daemon(shutdown)` on a new thread with its own runtime.
    pub fn spawn<F, Fut>(name: &str, daemon: F) -> Self
    where
        F: FnOnce(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let _ = rustls::crypto::ring::default_provider().install_default();
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()?;
                rt.block_on(daemon(Box::pin(async move {
                    let _ = stopped.await;
                })))
            })
            .expect("spawn a daemon thread");
        Self {
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Whether it ended by itself (an error at start-up, say).
    pub fn finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Asks it to shut down and waits until it has; its result.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| anyhow::anyhow!("the in-process daemon panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
