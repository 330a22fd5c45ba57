//! `lattice backup` / `lattice restore`: Postgres rows and S3 objects
//! survive backup → rm --purge → deploy → restore (also into another
//! workload); a cut or damaged file, or a backup of another kind, is
//! refused with the workload untouched; only the owner may take one.

use std::os::unix::fs::PermissionsExt;

use lattice_e2e::Cluster;

use crate::workloads_util::{Aws, access_url, psql};

#[test]
fn postgres_rows_survive_backup_purge_and_restore_and_bad_files_change_nothing() {
    let c = Cluster::start();
    let cli = &c.admin;
    cli.deploy("postgres", "db").wait().ok();
    let url = access_url(cli, "db");
    psql(&url, "create table notes(id int primary key, body text)");
    psql(
        &url,
        "insert into notes select g, repeat('x', 100) || g from generate_series(1, 5000) g",
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("db.backup");
    let f = file.to_str().expect("utf-8");
    let r = cli
        .run(&["backup", "db", f, "-o", "json"], None)
        .ok()
        .json();
    assert_eq!(
        (r["kind"].as_str(), r["format"].as_str()),
        (Some("postgres"), Some("pg_dump-custom")),
        "{r}"
    );
    assert_eq!(
        std::fs::metadata(&file).expect("file").permissions().mode() & 0o777,
        0o600
    );
    let bytes = std::fs::read(&file).expect("read");
    assert!(bytes.starts_with(b"LATTICE-BACKUP 1\n"));
    assert!(
        bytes.windows(5).any(|w| w == b"PGDMP"),
        "pg_dump's custom format inside"
    );
    // The same file name is never overwritten.
    cli.run(&["backup", "db", f], None).fails_with(2);

    // Gone for good, then back from the file.
    cli.run(&["rm", "db", "--purge", "--yes", "--wait"], None)
        .ok();
    cli.deploy("postgres", "db").wait().ok();
    let url = access_url(cli, "db");
    cli.run(&["restore", "db", f], None).ok();
    assert_eq!(psql(&url, "select count(*) from notes"), "5000");
    // Into another workload of the same kind (its own user owns the tables).
    cli.deploy("postgres", "copy").wait().ok();
    cli.run(&["restore", "copy", f], None).ok();
    assert_eq!(
        psql(&access_url(cli, "copy"), "select max(id) from notes"),
        "5000"
    );

    // Damaged files: refused before anything is sent; the data stays.
    psql(&url, "insert into notes values (5001, 'after the backup')");
    let cut = tmp.path().join("cut.backup");
    std::fs::write(&cut, &bytes[..bytes.len() * 3 / 4]).expect("cut");
    let r = cli
        .run(&["restore", "db", cut.to_str().expect("utf-8")], None)
        .fails_with(2);
    assert!(
        r.stderr.contains("incomplete") && r.stderr.contains("nothing was restored"),
        "{r:?}"
    );
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x55;
    let bad = tmp.path().join("bad.backup");
    std::fs::write(&bad, &flipped).expect("flip");
    let r = cli
        .run(&["restore", "db", bad.to_str().expect("utf-8")], None)
        .fails_with(2);
    assert!(r.stderr.contains("does not match the checksum"), "{r:?}");
    assert_eq!(
        psql(&url, "select count(*) from notes"),
        "5001",
        "untouched"
    );
    // The node checks too: data that does not add up to what the header
    // promised (a client that skipped the check, bytes lost on the way).
    let session = cli.stored_session(&c.controld.url()).expect("session");
    let token = session["access_token"].as_str().expect("token").to_string();
    let data = &bytes[bytes.len() / 3..bytes.len() / 2];
    for (sha, sent) in [
        ("ab".repeat(32), data.len()),
        (sha256_hex(data), data.len() / 2),
    ] {
        let err = raw_restore(&c, &token, &sha, data.len() as u64, &data[..sent]);
        assert!(
            err.contains("does not match its checksum") && err.contains("nothing was restored"),
            "{err}"
        );
    }
    assert_eq!(
        psql(&url, "select count(*) from notes"),
        "5001",
        "untouched by the node"
    );

    // Not someone else's; not into another kind.
    let eve = c.user("eve@example.com");
    let r = eve
        .run(
            &[
                "backup",
                "db",
                tmp.path().join("eve").to_str().expect("utf-8"),
            ],
            None,
        )
        .fails_with_any();
    assert!(r.stderr.contains("no workload named"), "{r:?}");
    assert!(!tmp.path().join("eve").exists() && !tmp.path().join("eve.partial").exists());
    cli.deploy("custom", "web")
        .web()
        .port(80)
        .flags(&["--volume", "/srv"])
        .wait()
        .ok();
    let r = cli.run(&["restore", "web", f], None).fails_with_any();
    assert!(r.stderr.contains("backup of a postgres workload"), "{r:?}");

    let audit = cli.run(&["audit", "-o", "json"], None).ok().stdout;
    assert!(
        audit.contains("\"backup\"") && audit.contains("\"restore\""),
        "{audit}"
    );
}

fn sha256_hex(b: &[u8]) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(b)?;
            c.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)[..64].to_string()
}

/// A Restore call made directly (no CLI check first); returns its error.
fn raw_restore(c: &Cluster, token: &str, sha256: &str, bytes: u64, data: &[u8]) -> String {
    use lattice_proto::v1;
    use v1::restore_chunk::Chunk;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let ch = c.controld.channel().await.expect("channel");
        let mut client = v1::workload_service_client::WorkloadServiceClient::new(ch);
        let start = v1::RestoreStart {
            name: "db".into(),
            kind: "postgres".into(),
            format: "pg_dump-custom".into(),
            bytes,
            sha256: sha256.into(),
        };
        let chunks = vec![
            v1::RestoreChunk {
                chunk: Some(Chunk::Start(start)),
            },
            v1::RestoreChunk {
                chunk: Some(Chunk::Data(data.to_vec())),
            },
        ];
        let mut req = tonic::Request::new(tokio_stream::iter(chunks));
        req.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        match client.restore(req).await {
            Ok(_) => "it was accepted".into(),
            Err(s) => s.message().to_string(),
        }
    })
}

#[test]
fn s3_objects_survive_backup_purge_and_restore() {
    let c = Cluster::start();
    let cli = &c.admin;
    cli.deploy("s3", "media").wait().ok();
    let tmp = tempfile::tempdir().expect("tmp");
    let obj = tmp.path().join("photo.bin");
    let body: Vec<u8> = (0..2_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(&obj, &body).expect("obj");
    let s3 = Aws::of(cli, "media");
    s3.run(&["s3", "mb", "s3://photos"]);
    s3.run(&[
        "s3",
        "cp",
        obj.to_str().expect("utf-8"),
        "s3://photos/a/photo.bin",
    ]);
    let file = tmp.path().join("media.backup");
    let f = file.to_str().expect("utf-8");
    cli.run(&["backup", "media", f], None).ok();
    // The server answers again once the backup is done (it was paused).
    assert!(
        s3.run(&["s3", "ls", "s3://photos/a/"])
            .contains("photo.bin")
    );

    cli.run(&["rm", "media", "--purge", "--yes", "--wait"], None)
        .ok();
    cli.deploy("s3", "media").wait().ok();
    let s3 = Aws::of(cli, "media");
    s3.run(&["s3", "mb", "s3://scratch"]);
    cli.run(&["restore", "media", f, "--wait"], None).ok();
    let back = tmp.path().join("back.bin");
    s3.run(&[
        "s3",
        "cp",
        "s3://photos/a/photo.bin",
        back.to_str().expect("utf-8"),
    ]);
    assert_eq!(std::fs::read(&back).expect("back"), body);
    let buckets = s3.run(&["s3", "ls"]);
    assert!(
        !buckets.contains("scratch"),
        "the volume is as it was in the backup: {buckets}"
    );
}

/// A backup pauses an S3 container while it reads the volume; if the agent
/// dies right then, the container must not stay frozen: the agent lets it
/// go when it comes back.
#[test]
fn a_container_left_paused_by_a_dead_agent_is_let_go_when_it_returns() {
    let mut c = Cluster::processes();
    c.admin.deploy_web("web");
    let id = c
        .admin
        .run(&["status", "web", "-o", "json"], None)
        .ok()
        .json()["id"]
        .as_str()
        .expect("id")
        .to_string();
    let name = format!("lattice-{id}");
    c.agent.kill9();
    lattice_e2e::docker(&["pause", &name]);
    assert_eq!(
        lattice_e2e::docker(&["inspect", "-f", "{{.State.Paused}}", &name]),
        "true"
    );
    c.agent.restart();
    let free = lattice_e2e::wait_for(std::time::Duration::from_secs(30), || {
        (lattice_e2e::docker(&["inspect", "-f", "{{.State.Paused}}", &name]) == "false")
            .then_some(())
    });
    assert!(free.is_some(), "still paused:\n{}", c.agent.logs());
    c.wait_status(&c.admin, "web", "running", 30);
}
