//! Private files: keys and secrets are written atomically with mode 0600 in
//! directories with mode 0700, so a crash never leaves half a key and no
//! other local user can read one.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;

/// Creates `dir` (and parents) with mode 0700 if missing.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically with mode 0600.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().with_context(|| format!("could not write {}", path.display()))
}

/// Reads a secret file, or creates it with `make` on first use.
pub fn read_or_create_secret(
    path: &Path,
    make: impl FnOnce() -> Vec<u8>,
) -> anyhow::Result<Vec<u8>> {
    if path.exists() {
        return fs::read(path).with_context(|| format!("could not read {}", path.display()));
    }
    let bytes = make();
    write_private(path, &bytes)?;
    Ok(bytes)
}
