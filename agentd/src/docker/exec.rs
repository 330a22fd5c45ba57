//! Commands run inside a workload's container: short ones whose output is
//! collected (readiness probes, credential rotation), and attached ones
//! streamed both ways for `lattice exec`.

use bollard::exec::{CreateExecOptions, ResizeExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt;

/// An attached command's output stream.
pub type ExecOutput = std::pin::Pin<
    Box<
        dyn futures_util::Stream<
                Item = Result<bollard::container::LogOutput, bollard::errors::Error>,
            > + Send,
    >,
>;
/// An attached command's stdin.
pub type ExecInput = std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>;

use super::{DResult, Docker, msg};

/// What an attached command needs.
pub struct ExecRequest<'a> {
    /// Container name.
    pub container: &'a str,
    /// Program and arguments.
    pub cmd: &'a [String],
    /// `KEY=VALUE` pairs.
    pub env: Vec<String>,
    /// Allocate a terminal.
    pub tty: bool,
    /// Attach stdin.
    pub stdin: bool,
}

impl Docker {
    /// Runs a command in the container; Ok(exit code).
    pub async fn exec(&self, name: &str, cmd: &[String]) -> DResult<(i64, Vec<u8>)> {
        self.exec_env(name, cmd, &[]).await
    }

    /// Runs a command with extra environment; Ok(exit code, output).
    pub async fn exec_env(
        &self,
        name: &str,
        cmd: &[String],
        env: &[String],
    ) -> DResult<(i64, Vec<u8>)> {
        let created = self
            .inner
            .create_exec(
                name,
                CreateExecOptions {
                    cmd: Some(cmd.to_vec()),
                    env: (!env.is_empty()).then(|| env.to_vec()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| msg(&e))?;
        let mut output = Vec::new();
        if let StartExecResults::Attached { output: mut o, .. } = self
            .inner
            .start_exec(&created.id, None)
            .await
            .map_err(|e| msg(&e))?
        {
            while let Some(Ok(chunk)) = o.next().await {
                if output.len() < 64 * 1024 {
                    output.extend_from_slice(&chunk.into_bytes());
                }
            }
        }
        Ok((self.exit_code(&created.id).await.unwrap_or(-1), output))
    }

    /// An exec's exit code once Docker has recorded it (it may trail the
    /// end of the output by a moment, when an inspect finds none yet); None
    /// if Docker has not recorded one within 2 s.
    pub async fn exit_code(&self, id: &str) -> Option<i64> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let mut pause = std::time::Duration::from_millis(2);
        loop {
            if let Ok((Some(code), _)) = self.exec_state(id).await {
                return Some(code);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_millis(40));
        }
    }

    /// Starts an attached command; returns its exec id, output and stdin.
    pub async fn exec_attached(
        &self,
        r: ExecRequest<'_>,
    ) -> DResult<(String, ExecOutput, ExecInput)> {
        let created = self
            .inner
            .create_exec(
                r.container,
                CreateExecOptions {
                    cmd: Some(r.cmd.to_vec()),
                    env: (!r.env.is_empty()).then_some(r.env),
                    attach_stdin: Some(r.stdin),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    tty: Some(r.tty),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| msg(&e))?;
        let opts = StartExecOptions {
            detach: false,
            tty: r.tty,
            // Chunks of up to 32 KiB, like the relay's frames.
            output_capacity: Some(32 * 1024),
        };
        match self
            .inner
            .start_exec(&created.id, Some(opts))
            .await
            .map_err(|e| msg(&e))?
        {
            StartExecResults::Attached { output, input } => Ok((created.id, output, input)),
            StartExecResults::Detached => Err("Docker did not attach to the command".into()),
        }
    }

    /// Resizes an attached command's terminal.
    pub async fn resize_exec(&self, id: &str, rows: u16, cols: u16) -> DResult<()> {
        self.inner
            .resize_exec(
                id,
                ResizeExecOptions {
                    height: rows,
                    width: cols,
                },
            )
            .await
            .map_err(|e| msg(&e))
    }

    /// An exec's exit code (None while it runs) and its process id on this host.
    pub async fn exec_state(&self, id: &str) -> DResult<(Option<i64>, Option<i64>)> {
        let i = self.inner.inspect_exec(id).await.map_err(|e| msg(&e))?;
        let pid = i.pid.filter(|p| *p > 0 && i.running == Some(true));
        Ok((i.exit_code, pid))
    }
}
