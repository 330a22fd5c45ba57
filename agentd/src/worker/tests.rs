//! The worker's convergence over the in-memory runtime, on tokio's paused
//! clock: every wait (readiness, rechecks, backoff) passes instantly and in
//! the same order every run.

use std::sync::Arc;
use std::time::Duration;

use lattice_proto::state::{Desired, Status};
use lattice_proto::v1;
use tokio::sync::{mpsc, watch};

use crate::Ctx;
use crate::runtime::memory::Memory;

const ID: &str = "w1";

struct Harness {
    ctx: Arc<Ctx>,
    rt: Arc<Memory>,
    desired: watch::Sender<v1::DesiredWorkload>,
    wake: mpsc::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

fn spec(image: &str, hash: &str) -> v1::ContainerSpec {
    v1::ContainerSpec {
        workload_id: ID.into(),
        name: "web".into(),
        image: image.into(),
        readiness: "tcp".into(),
        ports: vec![80],
        volume_path: "/data".into(),
        spec_hash: hash.into(),
        ..Default::default()
    }
}

fn want(s: v1::ContainerSpec, run: Desired, purge: bool) -> v1::DesiredWorkload {
    v1::DesiredWorkload {
        spec: Some(s),
        run: run.to_wire() as i32,
        purge,
    }
}

fn start(rt: Memory, first: v1::DesiredWorkload) -> Harness {
    let rt = Arc::new(rt);
    let ctx = Arc::new(Ctx::with_runtime(
        "node-1".into(),
        Duration::from_secs(30),
        rt.clone(),
    ));
    let (desired, drx) = watch::channel(first);
    let (wake, wrx) = mpsc::channel(1);
    let task = tokio::spawn(super::run(ctx.clone(), drx, wrx));
    Harness {
        ctx,
        rt,
        desired,
        wake,
        task,
    }
}

impl Harness {
    /// Waits (on the paused clock) until the latest report has `status`.
    async fn until(&self, status: Status) -> v1::WorkloadReport {
        for _ in 0..2000 {
            if let Some(r) = self.ctx.reports.get(ID)
                && Status::from_wire(r.status) == status
            {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let last = self.ctx.reports.get(ID);
        panic!("never reached {status}; last report: {last:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_workload_starts_once_and_is_kept_running() {
    let h = start(
        Memory::new(),
        want(spec("web:1", "h1"), Desired::Running, false),
    );
    let r = h.until(Status::Running).await;
    assert_eq!(r.spec_hash, "h1");
    assert!(!r.container_id.is_empty());
    assert!(h.rt.has_volume(ID));
    let c = h.rt.container(ID).expect("a container");
    assert!(
        crate::crashloop::was_ready(&c),
        "ready turns the restart policy on"
    );
    // Rechecks and wake-ups converge to the same container.
    let _ = h.wake.send(()).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(h.rt.creates(), 1);
    assert_eq!(
        Status::from_wire(h.ctx.reports.get(ID).map_or(0, |r| r.status)),
        Status::Running
    );
}

#[tokio::test(start_paused = true)]
async fn a_crash_at_start_fails_fast_and_is_not_retried() {
    let rt = Memory::new();
    rt.exit_at_start("broken:1", 3);
    let h = start(rt, want(spec("broken:1", "h1"), Desired::Running, false));
    let r = h.until(Status::Failed).await;
    assert!(
        r.message.contains("exited during start with code 3"),
        "{}",
        r.message
    );
    assert!(
        !r.last_log_lines.is_empty(),
        "the last lines come with the failure"
    );
    let _ = h.wake.send(()).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        h.rt.creates(),
        1,
        "a failed spec waits for a new generation"
    );
    // A new generation (restart) is a fresh attempt.
    h.rt.exit_at_start("broken:1", 0);
    let _ = h
        .desired
        .send(want(spec("fixed:1", "h2"), Desired::Running, false));
    h.until(Status::Running).await;
}

#[tokio::test(start_paused = true)]
async fn a_crash_after_ready_is_reported_as_a_crash_loop() {
    let h = start(
        Memory::new(),
        want(spec("web:1", "h1"), Desired::Running, false),
    );
    h.until(Status::Running).await;
    // The supervisor follows the engine's events as it does Docker's.
    let sup = crate::supervisor::Supervisor::new(h.ctx.clone());
    let events = tokio::spawn(sup.watch_docker());
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.rt.crash(ID, 137);
    let _ = h.wake.send(()).await;
    let r = h.until(Status::CrashLooping).await;
    events.abort();
    assert_eq!(r.restart_count, 1);
    assert_eq!(r.last_exit_code, Some(137));
}

#[tokio::test(start_paused = true)]
async fn a_spec_change_replaces_the_container_and_keeps_the_volume() {
    let h = start(
        Memory::new(),
        want(spec("web:1", "h1"), Desired::Running, false),
    );
    h.until(Status::Running).await;
    let first = h.rt.container(ID).and_then(|c| c.id);
    let _ = h
        .desired
        .send(want(spec("web:2", "h2"), Desired::Running, false));
    for _ in 0..200 {
        if h.ctx
            .reports
            .get(ID)
            .is_some_and(|r| r.spec_hash == "h2" && Status::from_wire(r.status) == Status::Running)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let c = h.rt.container(ID).expect("a container");
    assert_ne!(c.id, first, "a new container for the new spec");
    assert_eq!(c.config.and_then(|c| c.image).as_deref(), Some("web:2"));
    assert!(h.rt.has_volume(ID));
    assert_eq!(h.rt.creates(), 2);
}

#[tokio::test(start_paused = true)]
async fn stop_keeps_the_container_and_delete_purge_removes_everything() {
    let h = start(
        Memory::new(),
        want(spec("web:1", "h1"), Desired::Running, false),
    );
    h.until(Status::Running).await;
    let _ = h
        .desired
        .send(want(spec("web:1", "h1"), Desired::Stopped, false));
    h.until(Status::Stopped).await;
    assert!(
        h.rt.container(ID)
            .is_some_and(|c| !crate::probe::is_running(&c))
    );
    let _ = h
        .desired
        .send(want(spec("web:1", "h1"), Desired::Deleted, true));
    h.until(Status::Deleted).await;
    assert!(h.rt.container(ID).is_none());
    assert!(!h.rt.has_volume(ID));
    tokio::time::timeout(Duration::from_secs(5), h.task)
        .await
        .expect("the worker ends once its workload is deleted")
        .expect("no panic");
}

#[tokio::test(start_paused = true)]
async fn engine_errors_are_reported_and_recovered_from() {
    let rt = Memory::new();
    rt.set_down(Some("connection refused"));
    let h = start(rt, want(spec("web:1", "h1"), Desired::Running, false));
    let r = h.until(Status::Pending).await;
    assert!(r.message.contains("connection refused"), "{}", r.message);
    assert_eq!(h.rt.creates(), 0);
    h.rt.set_down(None);
    let _ = h.wake.send(()).await;
    h.until(Status::Running).await;
}

#[tokio::test(start_paused = true)]
async fn a_missing_image_that_cannot_be_pulled_fails_with_the_reason() {
    let rt = Memory::new();
    rt.remove_image("private/app:1");
    let h = start(
        rt,
        want(spec("private/app:1", "h1"), Desired::Running, false),
    );
    let r = h.until(Status::Failed).await;
    assert!(r.message.contains("could not be pulled"), "{}", r.message);
    assert_eq!(h.rt.creates(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_transient_create_error_is_retried_with_backoff_not_failed() {
    let rt = Memory::new();
    rt.fail_creates(3);
    let h = start(rt, want(spec("web:1", "h1"), Desired::Running, false));
    // Each failure is said as retrying, with the attempt; never `failed`.
    let mut seen = Vec::new();
    for _ in 0..2000 {
        if let Some(r) = h.ctx.reports.get(ID) {
            assert_ne!(Status::from_wire(r.status), Status::Failed, "{}", r.message);
            if r.message.contains("retrying in") && !seen.contains(&r.message) {
                seen.push(r.message.clone());
            }
            if Status::from_wire(r.status) == Status::Running {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.until(Status::Running).await;
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(
        seen[0].contains("(attempt 1)") && seen[2].contains("(attempt 3)"),
        "{seen:?}"
    );
    assert!(
        seen[0].contains("could not create the container: Conflict"),
        "{seen:?}"
    );
    assert_eq!(h.rt.creates(), 1);
}

#[tokio::test(start_paused = true)]
async fn another_nodes_container_under_our_name_is_left_alone() {
    let rt = Memory::new();
    let usual = crate::docker::container_name(ID);
    rt.plant(
        &usual,
        &[
            (crate::docker::label::WORKLOAD, ID),
            (crate::docker::label::NODE, "node-2"),
        ],
    );
    let h = start(rt, want(spec("web:1", "h1"), Desired::Running, false));
    let r = h.until(Status::Running).await;
    assert!(
        r.conflict
            .contains("belongs to another Lattice node (node-2)"),
        "{r:?}"
    );
    let second = crate::owned::second_name(ID, "node-1");
    assert!(r.conflict.contains(&second), "{r:?}");
    let ours =
        h.rt.container_named(&second)
            .expect("ours, under the second name");
    assert!(crate::owned::is_ours(&ours, ID, "node-1"));
    // The other node's container still runs, untouched, through a stop and
    // a delete of ours.
    let _ = h
        .desired
        .send(want(spec("web:1", "h1"), Desired::Stopped, false));
    h.until(Status::Stopped).await;
    let _ = h
        .desired
        .send(want(spec("web:1", "h1"), Desired::Deleted, true));
    h.until(Status::Deleted).await;
    assert!(h.rt.container_named(&second).is_none());
    let theirs = h.rt.container_named(&usual).expect("left alone");
    assert!(crate::probe::is_running(&theirs));
}

#[tokio::test(start_paused = true)]
async fn a_container_made_by_hand_under_both_names_blocks_and_says_so() {
    let rt = Memory::new();
    rt.plant(&crate::docker::container_name(ID), &[]);
    rt.plant(&crate::owned::second_name(ID, "node-1"), &[("app", "mine")]);
    let h = start(rt, want(spec("web:1", "h1"), Desired::Running, false));
    let r = h.until(Status::Pending).await;
    assert!(r.message.contains("that Lattice did not make"), "{r:?}");
    assert!(r.message.contains("retrying in"), "{r:?}");
    assert_eq!(h.rt.creates(), 0);
    // Deleting the workload leaves both alone and ends.
    let _ = h
        .desired
        .send(want(spec("web:1", "h1"), Desired::Deleted, false));
    h.until(Status::Deleted).await;
    assert!(
        h.rt.container_named(&crate::docker::container_name(ID))
            .is_some()
    );
}
