//! The backup file `lattice backup` writes and `lattice restore` reads:
//!
//! ```text
//! LATTICE-BACKUP 1\n
//! {"kind":"postgres","format":"pg_dump-custom",…}\n      (the header, JSON)
//! …the data, as the node produced it…
//! \nLATTICE-BACKUP-END sha256=<64 hex> bytes=<20 digits>\n  (fixed length)
//! ```
//!
//! The end marker is written last, once the node's checksum matched ours:
//! a file without one was cut short. A restore checks the whole file
//! against it before it sends a byte, reading in chunks (a 1 GB backup is
//! never held in memory).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::CliError;

const MAGIC: &str = "LATTICE-BACKUP 1\n";
const END: &str = "\nLATTICE-BACKUP-END sha256=";
/// `END` + 64 hex + " bytes=" + 20 digits + "\n".
const TRAILER_LEN: u64 = (END.len() + 64 + 7 + 20 + 1) as u64;
/// The longest header line accepted.
const MAX_HEADER: u64 = 64 * 1024;
/// Chunk size for reading and sending.
pub const CHUNK: usize = 256 * 1024;

/// What the file says about its data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Header {
    /// The workload's kind.
    pub kind: String,
    /// The data's format (`pg_dump-custom`, `tar`).
    pub format: String,
    /// The workload it was taken from.
    pub workload: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// The workload's image then.
    pub image: String,
}

/// The first bytes of a backup file.
pub fn header_bytes(h: &Header) -> anyhow::Result<Vec<u8>> {
    let mut v = MAGIC.as_bytes().to_vec();
    serde_json::to_writer(&mut v, h)?;
    v.push(b'\n');
    Ok(v)
}

/// The last bytes of a backup file.
pub fn trailer_bytes(sha256: &str, bytes: u64) -> Vec<u8> {
    format!("{END}{sha256} bytes={bytes:020}\n").into_bytes()
}

/// A backup file checked whole: where its data is and what it holds.
#[derive(Debug)]
pub struct Verified {
    /// Its header.
    pub header: Header,
    /// Where the data starts.
    pub offset: u64,
    /// How long it is.
    pub bytes: u64,
    /// Its checksum.
    pub sha256: String,
}

fn damaged(path: &Path, why: &str) -> anyhow::Error {
    CliError::Usage(format!("{} {why}; nothing was restored", path.display())).into()
}

/// Checks a backup file end to end; `progress` is told of every chunk read.
pub fn verify(path: &Path, progress: &dyn Fn(u64)) -> anyhow::Result<Verified> {
    let mut f = File::open(path).with_context(|| format!("could not read {}", path.display()))?;
    let len = f.metadata()?.len();
    let mut r = BufReader::new(&mut f);
    let mut magic = vec![0u8; MAGIC.len()];
    if r.read_exact(&mut magic).is_err() || magic != MAGIC.as_bytes() {
        return Err(damaged(
            path,
            "is not a Lattice backup (it does not start with LATTICE-BACKUP 1)",
        ));
    }
    let mut line = Vec::new();
    r.by_ref().take(MAX_HEADER).read_until(b'\n', &mut line)?;
    let header: Header =
        serde_json::from_slice(&line).map_err(|_| damaged(path, "has a damaged header"))?;
    let offset = (MAGIC.len() + line.len()) as u64;
    let cut = || {
        damaged(
            path,
            "is incomplete: its end marker is missing (the backup was cut short)",
        )
    };
    if len < offset + TRAILER_LEN {
        return Err(cut());
    }
    let mut trailer = vec![0u8; TRAILER_LEN as usize];
    f.seek(SeekFrom::Start(len - TRAILER_LEN))?;
    f.read_exact(&mut trailer)?;
    let trailer = String::from_utf8(trailer).map_err(|_| cut())?;
    let rest = trailer.strip_prefix(END).ok_or_else(cut)?;
    let (sha256, bytes) = rest.trim_end().split_once(" bytes=").ok_or_else(cut)?;
    let bytes: u64 = bytes.parse().map_err(|_| cut())?;
    if sha256.len() != 64 || offset + bytes + TRAILER_LEN != len {
        return Err(cut());
    }
    f.seek(SeekFrom::Start(offset))?;
    let mut h = Sha256::new();
    let mut data = (&mut f).take(bytes);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = data.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        progress(n as u64);
    }
    if hex::encode(h.finalize()) != sha256 {
        return Err(damaged(
            path,
            "is damaged: its data does not match the checksum it was written with",
        ));
    }
    Ok(Verified {
        header,
        offset,
        bytes,
        sha256: sha256.to_string(),
    })
}

/// Writes a complete file (for tests and small data).
#[cfg(test)]
fn write_all(path: &Path, h: &Header, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = File::create(path)?;
    f.write_all(&header_bytes(h)?)?;
    f.write_all(data)?;
    f.write_all(&trailer_bytes(
        &hex::encode(Sha256::digest(data)),
        data.len() as u64,
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            kind: "postgres".into(),
            format: "pg_dump-custom".into(),
            workload: "db".into(),
            created_at: "2026-12-03T00:00:00Z".into(),
            image: "postgres:16".into(),
        }
    }

    #[test]
    fn whole_files_verify_and_cut_or_changed_ones_do_not() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("b");
        let data: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        write_all(&p, &header(), &data).expect("write");
        let v = verify(&p, &|_| {}).expect("verifies");
        assert_eq!((v.header, v.bytes), (header(), data.len() as u64));

        let whole = std::fs::read(&p).expect("read");
        std::fs::write(&p, &whole[..whole.len() - 10]).expect("cut");
        let e = format!("{:#}", verify(&p, &|_| {}).expect_err("cut"));
        assert!(e.contains("incomplete"), "{e}");
        std::fs::write(&p, &whole[..whole.len() / 2]).expect("cut");
        assert!(format!("{:#}", verify(&p, &|_| {}).expect_err("half")).contains("incomplete"));

        let mut flipped = whole.clone();
        flipped[MAGIC.len() + 200 + 1000] ^= 1;
        std::fs::write(&p, &flipped).expect("flip");
        let e = format!("{:#}", verify(&p, &|_| {}).expect_err("flipped"));
        assert!(e.contains("does not match the checksum"), "{e}");

        std::fs::write(&p, b"PGDMP junk").expect("other");
        assert!(
            format!("{:#}", verify(&p, &|_| {}).expect_err("other"))
                .contains("not a Lattice backup")
        );
    }
}
