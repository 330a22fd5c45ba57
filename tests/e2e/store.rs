//! The state store from the operator's side: migrations and a schema newer
//! than the binary.

use lattice_e2e::{Controld, bin};

fn controld(data_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin("lattice-controld"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_schema_newer_than_the_binary_is_refused_at_start() {
    let mut c = Controld::start(&[]).unwrap();
    c.stop().unwrap();
    let url = format!(
        "sqlite://{}?mode=rw",
        c.data_dir.join("lattice.db").display()
    );
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use sea_orm::ConnectionTrait;
            let db = sea_orm::Database::connect(url).await.unwrap();
            db.execute_unprepared(
                "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m29990101_000001_from_the_future', 0)",
            )
            .await
            .unwrap();
        });

    let status =
        String::from_utf8_lossy(&controld(&c.data_dir, &["migrate", "status"]).stdout).into_owned();
    assert!(
        status.contains("applied  m20261126_000001_accounts"),
        "{status}"
    );
    assert!(
        status.contains("m29990101_000001_from_the_future  (newer than this binary)"),
        "{status}"
    );

    let up = controld(&c.data_dir, &["migrate", "up"]);
    assert!(!up.status.success());
    assert!(String::from_utf8_lossy(&up.stderr).contains("newer than this lattice-controld"));

    let err = Controld::start_in(&c.data_dir, "127.0.0.1:0", &[])
        .err()
        .expect("must refuse to start");
    let msg = format!("{err:#}");
    assert!(msg.contains("newer than this lattice-controld"), "{msg}");
    assert!(msg.contains("m29990101_000001_from_the_future"), "{msg}");
}

#[test]
fn migrate_up_on_a_fresh_database_then_status() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("control");
    std::fs::create_dir_all(&d).unwrap();
    let up = controld(&d, &["migrate", "up"]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let status = String::from_utf8_lossy(&controld(&d, &["migrate", "status"]).stdout).into_owned();
    assert!(status.lines().all(|l| l.starts_with("applied")), "{status}");
}
