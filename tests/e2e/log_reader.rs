//! The agent's own reader of Docker's logs endpoint against the real
//! Engine: it gives exactly what bollard gives (streams, bytes, Docker's
//! pieces of a long line), a follow ends when the container goes, and a
//! refused read carries Docker's words.

use std::time::Duration;

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt;
use lattice_agentd::docker::{Docker, Isolation, LogQuery};
use lattice_e2e::docker;

/// A container of this test's, removed however the test ends.
struct Scratch(String);

impl Drop for Scratch {
    fn drop(&mut self) {
        docker(&["rm", "-f", &self.0]);
    }
}

fn scratch(script: &str) -> Scratch {
    let name = format!("log-reader-{}", uuid::Uuid::new_v4().simple());
    let id = docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "lattice-local/web:latest",
        "sh",
        "-c",
        script,
    ]);
    assert!(!id.is_empty(), "docker run {name}");
    Scratch(name)
}

fn kind(o: &LogOutput) -> (&'static str, Vec<u8>) {
    match o {
        LogOutput::StdOut { message } => ("out", message.to_vec()),
        LogOutput::StdErr { message } => ("err", message.to_vec()),
        LogOutput::StdIn { message } => ("in", message.to_vec()),
        LogOutput::Console { message } => ("console", message.to_vec()),
    }
}

fn query(container: &str, follow: bool) -> LogQuery<'_> {
    LogQuery {
        container,
        follow,
        timestamps: true,
        tail: "all",
        since: 0,
        tty: false,
    }
}

async fn engine() -> Docker {
    Docker::connect(Isolation {
        host_firewall: false,
        ..Isolation::default()
    })
    .await
    .expect("docker")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_log_reader_gives_exactly_what_bollard_gives() {
    lattice_e2e::require_images();
    let docker_ = engine().await;
    // Both streams, many short lines, and one 40 KiB line that Docker
    // keeps in 16 KiB pieces.
    let c = scratch(
        "i=0; while [ $i -lt 3000 ]; do echo out $i; echo err $i >&2; i=$((i+1)); done; \
         head -c 40960 /dev/zero | tr '\\0' x; echo; echo done",
    );
    lattice_e2e::wait_for(Duration::from_secs(60), || {
        (docker(&["inspect", "--format", "{{.State.Running}}", &c.0]) == "false").then_some(())
    })
    .expect("the container wrote its lines and exited");

    let ours: Vec<_> = docker_
        .logs(&query(&c.0, false))
        .await
        .expect("open")
        .map(|m| kind(&m.expect("a message")))
        .collect()
        .await;
    let opts = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .timestamps(true)
        .tail("all")
        .build();
    let theirs: Vec<_> = docker_
        .raw()
        .logs(&c.0, Some(opts))
        .map(|m| kind(&m.expect("a message")))
        .collect()
        .await;
    assert!(ours.len() > 6000, "{} messages", ours.len());
    assert_eq!(ours.len(), theirs.len());
    assert!(ours == theirs, "the same messages, in the same order");
    assert_eq!(ours.iter().filter(|(k, _)| *k == "err").count(), 3000);
    assert!(
        ours.iter()
            .any(|(_, m)| m.len() > 16 * 1024 && !m.ends_with(b"\n")),
        "Docker's pieces of the long line come as Docker sent them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_ends_when_its_container_goes_and_a_refusal_carries_dockers_words() {
    lattice_e2e::require_images();
    let docker_ = engine().await;
    let c = scratch("i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.01; done");
    let mut logs = docker_.logs(&query(&c.0, true)).await.expect("open");
    for _ in 0..20 {
        let m = tokio::time::timeout(Duration::from_secs(10), logs.next())
            .await
            .expect("a line within 10 s")
            .expect("the follow goes on")
            .expect("a message");
        assert_eq!(kind(&m).0, "out");
    }
    docker(&["rm", "-f", &c.0]);
    let rest = tokio::time::timeout(
        Duration::from_secs(20),
        logs.take_while(|m| std::future::ready(m.is_ok())).count(),
    )
    .await;
    assert!(
        rest.is_ok(),
        "the follow ended once the container was removed"
    );

    let missing = format!("log-reader-missing-{}", uuid::Uuid::new_v4().simple());
    let err = match docker_.logs(&query(&missing, false)).await {
        Ok(_) => panic!("a read of a missing container was not refused"),
        Err(e) => e,
    };
    assert!(err.contains("No such container"), "{err}");
    assert!(err.contains(&missing), "{err}");
}
