//! `lattice-controld backup` of a running control plane, restored into a new
//! data dir: accounts, sessions, workloads and edge ports are all there, the
//! agent reconnects by itself, and a damaged backup restores nothing.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use lattice_e2e::{Cluster, bin, http_status, wait_for};

fn controld(args: &[&str]) -> std::process::Output {
    Command::new(bin("lattice-controld"))
        .args(args)
        .output()
        .expect("lattice-controld")
}

#[test]
fn a_restored_control_plane_has_everything_and_its_agent_comes_back() {
    let mut c = Cluster::processes();
    c.admin.deploy_web("web");
    let endpoint = c
        .admin
        .run(&["access", "web", "--format", "endpoint"], None)
        .ok()
        .stdout;
    let port = endpoint
        .trim()
        .rsplit(':')
        .next()
        .expect("port")
        .to_string();
    let ada = c.user("ada@example.com");
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("control.tar.gz");
    let old_dir = c.controld.data_dir.to_str().expect("utf-8").to_string();

    // Online: the server keeps serving while the copy is taken.
    let out = controld(&[
        "backup",
        file.to_str().expect("utf-8"),
        "--data-dir",
        &old_dir,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = std::fs::metadata(&file)
        .expect("backup")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "it holds the keys");
    c.admin.run(&["ls"], None).ok();

    // A damaged copy restores nothing and says so.
    let bytes = std::fs::read(&file).expect("read");
    let cut = tmp.path().join("cut.tar.gz");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).expect("cut");
    let broken_dir = tmp.path().join("broken");
    let out = controld(&[
        "restore",
        cut.to_str().expect("utf-8"),
        "--data-dir",
        broken_dir.to_str().expect("utf-8"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("truncated or damaged"),
        "{err}"
    );
    assert!(!broken_dir.exists(), "no half-restored directory");
    // Never over another controld's state.
    let out = controld(&[
        "restore",
        file.to_str().expect("utf-8"),
        "--data-dir",
        &old_dir,
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not empty"));

    // The old server goes; the restored one takes its address.
    c.controld.stop().expect("stop");
    let new_dir = tmp.path().join("restored");
    let out = controld(&[
        "restore",
        file.to_str().expect("utf-8"),
        "--data-dir",
        new_dir.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let addr = c.controld.addr.clone();
    c.controld.data_dir = new_dir;
    c.controld
        .restart_at(&addr)
        .expect("restored controld starts");

    // Sessions survive (no new login), and so do the accounts and workloads.
    let ls = c.admin.run(&["ls", "-o", "json"], None).ok().json();
    assert_eq!(ls[0]["name"], "web", "{ls}");
    ada.run(&["whoami"], None).ok();
    // The agent finds its server again by itself; the workload and its
    // public port are as they were.
    c.wait_status(&c.admin, "web", "running", 60);
    let again = c
        .admin
        .run(&["access", "web", "--format", "endpoint"], None)
        .ok()
        .stdout;
    assert_eq!(again.trim(), endpoint.trim(), "the same edge port");
    let served = wait_for(Duration::from_secs(30), || {
        (http_status(&format!("http://127.0.0.1:{port}/")) == Some(200)).then_some(())
    });
    assert!(served.is_some(), "the public port relays again");
    let nodes = c.admin.run(&["nodes", "-o", "json"], None).ok().json();
    assert_eq!(nodes[0]["status"], "ready", "{nodes}");
}

/// On Postgres the state is the operator's to dump: the archive holds the
/// keys and TLS identity, and both commands say what to run for the rest,
/// without the database password.
#[test]
fn on_postgres_the_archive_holds_the_keys_and_says_how_to_dump_the_state() {
    let url = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(lattice_e2e::fresh_postgres_database())
        .expect("a Postgres database (make test starts one)");
    let mut d = lattice_e2e::Controld::start(&["--database-url", &url]).expect("controld");
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("keys.tar.gz");
    let data_dir = d.data_dir.to_str().expect("utf-8").to_string();
    let out = controld(&[
        "backup",
        file.to_str().expect("utf-8"),
        "--data-dir",
        &data_dir,
        "--database-url",
        &url,
    ]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("pg_dump --format=custom") && said.contains("$LATTICE_DATABASE_URL"),
        "{said}"
    );
    let password = url
        .split(':')
        .nth(2)
        .and_then(|p| p.split('@').next())
        .expect("password in the URL");
    assert!(
        !said.contains(password),
        "the database password is not printed"
    );
    d.stop().expect("stop");

    let restored = tmp.path().join("restored");
    let out = controld(&[
        "restore",
        file.to_str().expect("utf-8"),
        "--data-dir",
        restored.to_str().expect("utf-8"),
    ]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("pg_restore"),
        "{said}"
    );
    assert!(restored.join("keys/master.key").is_file() && restored.join("tls/ca.pem").is_file());
    assert!(
        !restored.join("lattice.db").exists(),
        "no SQLite state in a Postgres backup"
    );
    // The restored keys and the same database make the same server.
    let again =
        lattice_e2e::Controld::start_in(&restored, "127.0.0.1:0", &["--database-url", &url])
            .expect("restored");
    assert_eq!(again.fingerprint, d.fingerprint, "the same TLS identity");
}
