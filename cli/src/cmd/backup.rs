//! `lattice backup NAME [FILE]` and `lattice restore NAME FILE`: a
//! workload's data to a local file and back, streamed in chunks (never held
//! in memory), with a progress bar on a terminal. A backup is written under
//! a temporary name and only gets its end marker and its real name once the
//! node's checksum matches the bytes that arrived; a restore checks the
//! whole file before it sends anything.

use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use lattice_proto::v1;
use lattice_proto::v1::restore_chunk::Chunk;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::api::{Api, Ctx};
use crate::args::{BackupArgs, RestoreArgs};
use crate::backup_file::{self, CHUNK, Header};
use crate::error::CliError;
use crate::output;
use crate::view::bytes as human;
use crate::wait::{Target, wait};

/// A bar on a terminal (bytes of `total`, or a running count), else nothing.
fn bar(total: Option<u64>, what: &str, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let b = match total {
        Some(t) => ProgressBar::new(t).with_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {msg} {bytes} {bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    b.set_message(what.to_string());
    b.enable_steady_tick(std::time::Duration::from_millis(120));
    b
}

fn default_file(name: &str) -> PathBuf {
    PathBuf::from(format!(
        "{name}-{}.lattice-backup",
        chrono::Utc::now().format("%Y%m%d-%H%M%S")
    ))
}

/// Where the bytes go: a file under a temporary name, or stdout.
enum Sink {
    File {
        part: PathBuf,
        dest: PathBuf,
        f: std::fs::File,
    },
    Stdout(std::io::Stdout),
}

impl Sink {
    fn open(dest: &Path) -> anyhow::Result<Self> {
        if dest == Path::new("-") {
            return Ok(Sink::Stdout(std::io::stdout()));
        }
        if dest.exists() {
            return Err(CliError::Usage(format!(
                "{} exists; choose another file or remove it",
                dest.display()
            ))
            .into());
        }
        let mut part = dest.as_os_str().to_owned();
        part.push(".partial");
        let part = PathBuf::from(part);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&part)
            .with_context(|| format!("could not create {}", part.display()))?;
        Ok(Sink::File {
            part,
            dest: dest.to_path_buf(),
            f,
        })
    }

    fn write(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::File { f, .. } => f.write_all(b),
            Sink::Stdout(o) => o.write_all(b),
        }
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Sink::File { part, dest, f } => {
                f.sync_all()?;
                std::fs::rename(&part, &dest)
                    .with_context(|| format!("could not write {}", dest.display()))
            }
            Sink::Stdout(mut o) => Ok(o.flush()?),
        }
    }

    fn abandon(self) {
        if let Sink::File { part, .. } = self {
            let _ = std::fs::remove_file(part);
        }
    }
}

/// `lattice backup NAME [FILE]`.
pub async fn backup(mut ctx: Ctx, a: BackupArgs) -> anyhow::Result<()> {
    lattice_proto::validate::name("name", &a.name).map_err(CliError::from)?;
    let dest = a.file.clone().unwrap_or_else(|| default_file(&a.name));
    let mut sink = Sink::open(&dest)?;
    let r = take(&mut ctx, &a.name, &mut sink).await;
    let (header, bytes, sha) = match r {
        Ok(x) => x,
        Err(e) => {
            sink.abandon();
            return Err(e);
        }
    };
    sink.finish()?;
    if dest == Path::new("-") {
        return Ok(());
    }
    let v = json!({"file": dest.display().to_string(), "workload": a.name, "kind": header.kind,
        "format": header.format, "bytes": bytes, "sha256": sha});
    output::emit(ctx.global.output, &v, || {
        output::line(format!(
            "wrote {} ({}, {} {}, sha256 {}…)",
            dest.display(),
            human(bytes),
            header.kind,
            header.format,
            &sha[..12]
        ))
    })
}

async fn take(ctx: &mut Ctx, name: &str, sink: &mut Sink) -> anyhow::Result<(Header, u64, String)> {
    let mut api = Api::connect(ctx).await?;
    let mut stream = api
        .backup(v1::BackupRequest {
            name: name.to_string(),
        })
        .await?;
    let progress = bar(None, &format!("backing up {name}"), ctx.global.quiet);
    let mut header = None;
    let (mut h, mut bytes) = (Sha256::new(), 0u64);
    loop {
        let chunk = match stream.message().await {
            Ok(Some(c)) => c,
            Ok(None) => {
                return Err(CliError::Unavailable(format!(
                    "the backup of {name} ended before it was complete; nothing was kept"
                ))
                .into());
            }
            Err(s) => return Err(api.status(&s)),
        };
        if let Some(info) = chunk.info {
            let hd = Header {
                kind: info.kind,
                format: info.format,
                workload: info.workload,
                created_at: info
                    .created_at
                    .and_then(|t| output::rfc3339(t.unix_millis))
                    .unwrap_or_default(),
                image: info.image,
            };
            sink.write(&backup_file::header_bytes(&hd)?)?;
            header = Some(hd);
        }
        let header = header
            .as_ref()
            .context("the server sent data before saying what it is")?;
        if !chunk.data.is_empty() {
            h.update(&chunk.data);
            bytes += chunk.data.len() as u64;
            sink.write(&chunk.data)?;
            progress.inc(chunk.data.len() as u64);
        }
        if !chunk.sha256.is_empty() {
            progress.finish_and_clear();
            let ours = hex::encode(h.finalize());
            if ours != chunk.sha256 {
                return Err(CliError::Unavailable(
                    "the backup arrived damaged (its checksum does not match the node's); nothing was kept — try again".into(),
                )
                .into());
            }
            sink.write(&backup_file::trailer_bytes(&ours, bytes))?;
            return Ok((header.clone(), bytes, ours));
        }
    }
}

/// `lattice restore NAME FILE`.
pub async fn restore(mut ctx: Ctx, a: RestoreArgs) -> anyhow::Result<()> {
    lattice_proto::validate::name("name", &a.name).map_err(CliError::from)?;
    let size = std::fs::metadata(&a.file).map(|m| m.len()).unwrap_or(0);
    let checking = bar(Some(size), "checking", ctx.global.quiet);
    let file = a.file.clone();
    let v = tokio::task::spawn_blocking(move || backup_file::verify(&file, &|n| checking.inc(n)))
        .await
        .context("the check stopped")??;
    let mut api = Api::connect(&mut ctx).await?;
    let (tx, rx) = mpsc::channel(8);
    let start = v1::RestoreStart {
        name: a.name.clone(),
        kind: v.header.kind.clone(),
        format: v.header.format.clone(),
        bytes: v.bytes,
        sha256: v.sha256.clone(),
    };
    tx.send(v1::RestoreChunk {
        chunk: Some(Chunk::Start(start)),
    })
    .await?;
    let sending = bar(
        Some(v.bytes),
        &format!("restoring {}", a.name),
        ctx.global.quiet,
    );
    let (path, offset, total) = (a.file.clone(), v.offset, v.bytes);
    let reader = std::thread::spawn(move || -> anyhow::Result<()> {
        let mut f = std::fs::File::open(&path)?;
        f.seek(SeekFrom::Start(offset))?;
        let mut data = f.take(total);
        loop {
            let mut buf = vec![0u8; CHUNK];
            let n = data.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            buf.truncate(n);
            sending.inc(n as u64);
            if tx
                .blocking_send(v1::RestoreChunk {
                    chunk: Some(Chunk::Data(buf)),
                })
                .is_err()
            {
                return Ok(());
            }
        }
    });
    let done = api.restore(rx).await;
    let read = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reading {} failed", a.file.display()))?;
    let done = done?;
    read?;
    let restarted = done
        .workload
        .as_ref()
        .is_some_and(|w| w.status != lattice_proto::state::Status::Running.to_wire() as i32);
    if a.wait.wait && restarted {
        wait(&mut api, &a.name, Target::Running, a.wait.timeout).await?;
    }
    let out = json!({"workload": a.name, "file": a.file.display().to_string(), "bytes": done.bytes,
        "from": v.header.workload, "taken": v.header.created_at});
    output::emit(ctx.global.output, &out, || {
        output::line(format!(
            "restored {} into {} ({}, taken from {} at {})",
            a.file.display(),
            a.name,
            human(done.bytes),
            v.header.workload,
            v.header.created_at
        ))
    })
}
