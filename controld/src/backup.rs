//! Control-plane backup and restore (`lattice-controld backup FILE`,
//! `lattice-controld restore FILE --data-dir DIR`).
//!
//! A backup is one gzip'd tar: a manifest first (`lattice-backup.json`:
//! format, when, which binary, which database, the applied migrations and a
//! SHA-256 per file), then the files. The state is copied online — SQLite's
//! `VACUUM INTO` reads one consistent snapshot while controld keeps serving —
//! and the keys travel with it: without `keys/master.key` the sealed
//! workload credentials are noise, without `tls/` every pinned client and
//! every agent would refuse the restored server. On Postgres the database is
//! the operator's to dump (`pg_dump`, or the provider's own backups); the
//! archive then holds the keys alone and says so.
//!
//! A restore writes into a new directory only, verifies every file against
//! the manifest before anything is moved into place, and refuses a damaged
//! or truncated archive with the file's name and what to do.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store;

/// The manifest's name: always the archive's first entry.
const MANIFEST: &str = "lattice-backup.json";
/// The format this binary writes and reads.
const FORMAT: u32 = 1;
/// What of the data dir a restored controld needs besides the database.
const KEPT: &[&str] = &["keys", "tls", "ca-fingerprint"];
/// The SQLite copy's name inside the archive (and in a restored data dir).
const SQLITE_FILE: &str = "lattice.db";

/// What a backup holds, written first in the archive.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Archive format.
    pub format: u32,
    /// When it was taken (Unix milliseconds).
    pub created_unix_ms: i64,
    /// The controld version that took it.
    pub controld_version: String,
    /// `sqlite` (the state is in the archive) or `postgres` (keys only).
    pub database: String,
    /// Migrations applied to the state when it was taken.
    pub migrations: Vec<String>,
    /// Every file that follows, with its digest.
    pub files: Vec<Entry>,
}

/// One file of the archive.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// Path relative to the data dir.
    pub path: String,
    /// Hex SHA-256 of its bytes.
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
}

/// Takes a backup of the controld whose data dir and database are given,
/// into `out` (written to a temporary name, mode 0600, then renamed).
pub async fn take(data_dir: &Path, database_url: &str, out: &Path) -> anyhow::Result<Manifest> {
    if !data_dir.join("keys/master.key").is_file() {
        bail!(
            "{} holds no controld state (no keys/master.key): pass the server's --data-dir",
            data_dir.display()
        );
    }
    let out_dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let staging = tempfile::Builder::new()
        .prefix(".lattice-backup-")
        .tempdir_in(out_dir)
        .with_context(|| format!("could not write in {}", out_dir.display()))?;
    let sqlite = database_url.starts_with("sqlite:");
    let db = store::connect(database_url).await?;
    let migrations = store::applied_migrations(&db).await?;
    if migrations.is_empty() {
        bail!("the database has no Lattice schema: is this the server's --database-url?");
    }
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    if sqlite {
        let copy = staging.path().join(SQLITE_FILE);
        let quoted = copy
            .to_str()
            .context("the backup's directory is not UTF-8")?
            .replace('\'', "''");
        db.execute_unprepared(&format!("VACUUM INTO '{quoted}'"))
            .await
            .context("could not copy the SQLite state (VACUUM INTO)")?;
        files.push((SQLITE_FILE.into(), copy));
    }
    db.close().await.ok();
    for top in KEPT {
        collect(data_dir, Path::new(top), &mut files)?;
    }
    let entries = files
        .iter()
        .map(|(rel, abs)| {
            digest(abs).map(|(sha256, bytes)| Entry {
                path: rel.clone(),
                sha256,
                bytes,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let manifest = Manifest {
        format: FORMAT,
        created_unix_ms: crate::clock::now_ms(),
        controld_version: env!("CARGO_PKG_VERSION").into(),
        database: if sqlite { "sqlite" } else { "postgres" }.into(),
        migrations,
        files: entries,
    };
    let partial = staging.path().join("archive.partial");
    write_archive(&partial, &manifest, &files)?;
    fs::rename(&partial, out).with_context(|| format!("could not write {}", out.display()))?;
    Ok(manifest)
}

/// The files below `data_dir/rel` (or `rel` itself), as (relative, absolute).
fn collect(data_dir: &Path, rel: &Path, into: &mut Vec<(String, PathBuf)>) -> anyhow::Result<()> {
    let abs = data_dir.join(rel);
    let Ok(meta) = fs::symlink_metadata(&abs) else {
        return Ok(());
    };
    if meta.is_dir() {
        let mut names: Vec<_> = fs::read_dir(&abs)?
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names {
            // Half-written temporaries of fsutil::write_private are not state.
            if !n.to_string_lossy().starts_with('.') {
                collect(data_dir, &rel.join(n), into)?;
            }
        }
    } else if meta.is_file() {
        let name = rel.to_str().context("a data dir file name is not UTF-8")?;
        into.push((name.to_string(), abs));
    }
    Ok(())
}

fn digest(path: &Path) -> anyhow::Result<(String, u64)> {
    let mut f =
        fs::File::open(path).with_context(|| format!("could not read {}", path.display()))?;
    let mut h = Sha256::new();
    let bytes = io::copy(&mut f, &mut h)?;
    Ok((hex::encode(h.finalize()), bytes))
}

fn write_archive(path: &Path, m: &Manifest, files: &[(String, PathBuf)]) -> anyhow::Result<()> {
    let f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("could not create {}", path.display()))?;
    let gz = flate2::write::GzEncoder::new(f, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let json = serde_json::to_vec_pretty(m)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(u64::try_from(m.created_unix_ms / 1000).unwrap_or(0));
    tar.append_data(&mut header, MANIFEST, json.as_slice())?;
    for (rel, abs) in files {
        let mut f = fs::File::open(abs)?;
        tar.append_file(rel, &mut f)
            .with_context(|| format!("could not add {rel}"))?;
    }
    let gz = tar.into_inner()?;
    let f = gz.finish()?;
    f.sync_all()?;
    Ok(())
}

/// Restores `file` into `data_dir`, which must not exist or be empty. Every
/// file is checked against the manifest in a staging directory first; only
/// a complete, intact backup is moved into place.
pub fn restore(file: &Path, data_dir: &Path) -> anyhow::Result<Manifest> {
    if fs::read_dir(data_dir).is_ok_and(|mut d| d.next().is_some()) {
        bail!(
            "{} is not empty: restore into a new directory, then start lattice-controld with \
             --data-dir pointing at it",
            data_dir.display()
        );
    }
    let parent = match data_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    crate::fsutil::create_private_dir(parent)?;
    let staging = tempfile::Builder::new()
        .prefix(".lattice-restore-")
        .tempdir_in(parent)
        .with_context(|| format!("could not write in {}", parent.display()))?;
    let damaged = || {
        format!(
            "{} is not a complete Lattice control-plane backup (truncated or damaged); \
             nothing was restored — use another copy",
            file.display()
        )
    };
    let f = fs::File::open(file).with_context(|| format!("could not read {}", file.display()))?;
    let manifest = unpack(f, staging.path()).with_context(damaged)?;
    // Into place only now: a failure above leaves no half-restored directory.
    if data_dir.exists() {
        fs::remove_dir(data_dir)?;
    }
    fs::rename(staging.keep(), data_dir)
        .with_context(|| format!("could not create {}", data_dir.display()))?;
    Ok(manifest)
}

fn unpack(archive: impl Read, into: &Path) -> anyhow::Result<Manifest> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let mut entries = tar.entries()?;
    let first = entries.next().context("the archive is empty")??;
    if first.path()?.as_ref() != Path::new(MANIFEST) {
        bail!("the archive does not start with {MANIFEST}");
    }
    let manifest: Manifest =
        serde_json::from_reader(first.take(1 << 20)).context("the manifest is not readable")?;
    if manifest.format != FORMAT {
        bail!(
            "backup format {} is not one this controld reads ({FORMAT})",
            manifest.format
        );
    }
    let mut seen = Vec::new();
    for e in entries {
        let mut e = e?;
        let rel = e.path()?.into_owned();
        let want = manifest
            .files
            .iter()
            .find(|f| Path::new(&f.path) == rel)
            .with_context(|| format!("{} is not in the manifest", rel.display()))?;
        if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            bail!("{} is not a path inside the data dir", rel.display());
        }
        let dest = into.join(&rel);
        if let Some(dir) = dest.parent() {
            crate::fsutil::create_private_dir(dir)?;
        }
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&dest)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut bytes = 0u64;
        loop {
            let n = e.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            bytes += n as u64;
        }
        out.sync_all()?;
        if hex::encode(h.finalize()) != want.sha256 || bytes != want.bytes {
            bail!("{} does not match its checksum", rel.display());
        }
        seen.push(want.path.clone());
    }
    if let Some(missing) = manifest.files.iter().find(|f| !seen.contains(&f.path)) {
        bail!("{} is missing", missing.path);
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(dir: &Path) -> (Manifest, Vec<(String, PathBuf)>) {
        fs::create_dir_all(dir.join("keys")).expect("dir");
        fs::write(dir.join("keys/master.key"), b"k").expect("key");
        fs::write(dir.join("ca-fingerprint"), b"sha256:ab").expect("fp");
        let mut files = Vec::new();
        for top in KEPT {
            collect(dir, Path::new(top), &mut files).expect("collect");
        }
        let entries = files
            .iter()
            .map(|(p, a)| {
                let (sha256, bytes) = digest(a).expect("digest");
                Entry {
                    path: p.clone(),
                    sha256,
                    bytes,
                }
            })
            .collect();
        let m = Manifest {
            format: FORMAT,
            created_unix_ms: 0,
            controld_version: "t".into(),
            database: "postgres".into(),
            migrations: vec!["m1".into()],
            files: entries,
        };
        (m, files)
    }

    #[test]
    fn an_archive_round_trips_and_a_cut_one_is_refused() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (m, files) = sample(&tmp.path().join("src"));
        let archive = tmp.path().join("b.tar.gz");
        write_archive(&archive, &m, &files).expect("write");
        let back = restore(&archive, &tmp.path().join("dst")).expect("restore");
        assert_eq!(back.files.len(), 2);
        assert_eq!(
            fs::read(tmp.path().join("dst/keys/master.key")).expect("key"),
            b"k"
        );

        let bytes = fs::read(&archive).expect("read");
        let cut = tmp.path().join("cut.tar.gz");
        fs::write(&cut, &bytes[..bytes.len() / 2]).expect("cut");
        let err = format!(
            "{:#}",
            restore(&cut, &tmp.path().join("dst2")).expect_err("cut")
        );
        assert!(err.contains("truncated or damaged"), "{err}");
        assert!(!tmp.path().join("dst2").exists(), "nothing half-restored");

        let err = format!(
            "{:#}",
            restore(&archive, &tmp.path().join("dst")).expect_err("full")
        );
        assert!(err.contains("is not empty"), "{err}");
    }
}
