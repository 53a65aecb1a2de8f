//! Managing instances: suspend and resume, terminate (recursively),
//! rewind, restart and purge.

use crate::support::*;
use durable_host::client::{ClientError, StartRequest};
use durable_host::store::{InstanceFilter, StoreError};
use durable_host::types::RuntimeStatus;
use serde_json::json;
use std::time::Duration;

async fn wait_status(t: &TestHost, id: &str, status: RuntimeStatus) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match t.client().status(id).await {
            Ok(record) if record.status == status => return,
            Ok(_) | Err(ClientError::Store(StoreError::InstanceNotFound(_))) => {}
            Err(e) => panic!("{e}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} never became {status}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_sent_while_suspended_are_kept_and_delivered_on_resume() {
    let mut t = TestHost::running(&["human-interaction"]).await;
    let id = t.start("approval_workflow", "null").await;
    t.history_until(&id, |h| has(h, "TimerCreated")).await;
    t.client().suspend(&id, Some("maintenance")).await.unwrap();
    wait_status(&t, &id, RuntimeStatus::Suspended).await;
    t.client()
        .raise_event(&id, "Approval", "true")
        .await
        .unwrap();
    // A timer due while suspended waits too.
    t.clock.advance(Duration::from_secs(7200));
    // No dispatcher may take the instance while it is suspended, although
    // its event and its timer are visible.
    let now = durable_host::clock::Clock::now(&t.clock);
    let locked = t
        .store
        .lock_orchestrations("test", 100, 1_000, now)
        .await
        .unwrap();
    assert!(locked.iter().all(|item| item.instance.instance_id != id));
    let still = t.client().status(&id).await.unwrap();
    assert_eq!(still.status, RuntimeStatus::Suspended);
    assert!(!has(&t.client().history(&id).await.unwrap(), "EventRaised"));

    let err = t.client().resume("no-such", None).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Store(StoreError::InstanceNotFound(_))),
        "{err}"
    );
    t.client().resume(&id, None).await.unwrap();
    let record = t.finish(&id).await;
    // The kept event is delivered first, so approval wins over the timer.
    assert_eq!(output(&record), json!("approved"));
    let history = t.client().history(&id).await.unwrap();
    let labels: Vec<_> = history.iter().map(|e| e.kind.label()).collect();
    let suspended = labels
        .iter()
        .position(|l| *l == "ExecutionSuspended")
        .unwrap();
    let resumed = labels
        .iter()
        .position(|l| *l == "ExecutionResumed")
        .unwrap();
    let raised = labels.iter().position(|l| *l == "EventRaised").unwrap();
    assert!(suspended < resumed && resumed < raised, "{labels:?}");
    let err = t.client().resume(&id, None).await.unwrap_err();
    assert!(err.to_string().contains("not suspended"), "{err}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursive_termination_stops_the_children() {
    let mut t = TestHost::running(&["probe"]).await;
    let id = "parent";
    t.start_as("parent_of_waiter", id, "null").await;
    let child = "parent:0";
    wait_status(&t, child, RuntimeStatus::Running).await;
    t.client()
        .terminate(id, Some("shutting down"), true)
        .await
        .unwrap();
    let parent = t.finish(id).await;
    assert_eq!(parent.status, RuntimeStatus::Terminated);
    let child = t.finish(child).await;
    assert_eq!(child.status, RuntimeStatus::Terminated);
    assert_eq!(
        child.output.as_deref(),
        Some("\"parent `parent` was terminated\"")
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewind_reruns_failed_activities_and_keeps_completed_ones() {
    let data = tempfile::tempdir().unwrap();
    let mut t = TestHost::with_config(|c| probe_data(c, data.path(), 0));
    t.deploy(&["probe"]).await;
    t.run();
    let id = t.start("needs_flag", "null").await;
    let failed = t.finish(&id).await;
    assert_eq!(failed.failure.expect("failure").error_type, "NoFlag");

    let err = t.client().rewind("missing", None).await.unwrap_err();
    assert!(matches!(
        err,
        ClientError::Store(StoreError::InstanceNotFound(_))
    ));
    std::fs::write(data.path().join("flag"), "raised\n").unwrap();
    t.client().rewind(&id, Some("flag fixed")).await.unwrap();
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    assert_eq!(output(&record), json!([10, "raised"]));
    let runs = std::fs::read_to_string(data.path().join("runs.log")).unwrap();
    assert_eq!(
        runs,
        format!("{id} 1\n"),
        "the completed step did not run again"
    );
    let err = t.client().rewind(&id, None).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Store(StoreError::InstanceNotFailed(..))),
        "{err}"
    );
    t.stop().await;
}

/// Rewind re-runs only the failure that ended the instance: a failure the orchestrator caught
/// keeps its result, so the replay takes the same path and then the path the flag opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewind_keeps_a_handled_failure() {
    let data = tempfile::tempdir().unwrap();
    let mut t = TestHost::with_config(|c| probe_data(c, data.path(), 0));
    t.deploy(&["probe"]).await;
    t.run();
    let id = t.start("caught_then_flag", "null").await;
    assert_eq!(t.finish(&id).await.status, RuntimeStatus::Failed);
    std::fs::write(data.path().join("flag"), "raised\n").unwrap();
    t.client().rewind(&id, None).await.unwrap();
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    assert_eq!(output(&record), json!("caught BadThing, then raised"));
    let history = t.client().history(&id).await.unwrap();
    assert_eq!(
        count(&history, "TaskFailed"),
        1,
        "the caught failure stays: {history:#?}"
    );
    t.stop().await;
}

/// Rewind of an instance whose retried activity failed on every attempt: the last attempt
/// runs again; the earlier attempt and the timer between them stay as recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewind_reruns_only_the_last_attempt_of_a_retried_activity() {
    let data = tempfile::tempdir().unwrap();
    let mut t = TestHost::with_config(|c| probe_data(c, data.path(), 0));
    t.deploy(&["probe"]).await;
    t.run();
    let id = t.start("flag_with_retry", "null").await;
    t.history_until(&id, |h| has(h, "TimerCreated")).await;
    t.clock.advance(Duration::from_secs(1));
    let failed = t.finish(&id).await;
    assert_eq!(failed.failure.expect("failure").error_type, "NoFlag");
    std::fs::write(data.path().join("flag"), "raised\n").unwrap();
    t.client().rewind(&id, None).await.unwrap();
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    assert_eq!(output(&record), json!("raised"));
    let history = t.client().history(&id).await.unwrap();
    assert_eq!(count(&history, "TaskScheduled"), 2, "{history:#?}");
    assert_eq!(count(&history, "TaskFailed"), 1, "{history:#?}");
    t.stop().await;
}

/// Rewind of an instance that failed because its sub-orchestration failed rewinds the child
/// too: the child runs its failed step again, and its result reaches the parent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewind_rewinds_the_failed_sub_orchestration_too() {
    let data = tempfile::tempdir().unwrap();
    let mut t = TestHost::with_config(|c| probe_data(c, data.path(), 0));
    t.deploy(&["probe"]).await;
    t.run();
    t.start_as("parent_of_flag", "parent", "null").await;
    let failed = t.finish("parent").await;
    assert_eq!(failed.failure.expect("failure").error_type, "NoFlag");
    assert_eq!(t.finish("parent:0").await.status, RuntimeStatus::Failed);
    std::fs::write(data.path().join("flag"), "raised\n").unwrap();
    t.client()
        .rewind("parent", Some("flag fixed"))
        .await
        .unwrap();
    let record = t.finish("parent").await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    assert_eq!(output(&record), json!([10, "raised"]));
    let child = t.finish("parent:0").await;
    assert_eq!(child.status, RuntimeStatus::Completed, "{child:#?}");
    let runs = std::fs::read_to_string(data.path().join("runs.log")).unwrap();
    assert_eq!(
        runs.lines().count(),
        1,
        "the child's completed step did not run again"
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_and_purge() {
    let mut t = TestHost::running(&["probe"]).await;
    let client = t.client().clone();
    let id = client
        .start(StartRequest::new("echo").input("41").instance_id("e"))
        .await
        .unwrap();
    t.finish(&id).await;
    let again = client.restart(&id, false).await.unwrap();
    assert_eq!(again, "e");
    assert_eq!(output(&t.finish("e").await), json!(41));
    let fresh = client.restart(&id, true).await.unwrap();
    assert_ne!(fresh, "e");
    assert_eq!(output(&t.finish(&fresh).await), json!(41));

    let waiting = client
        .start(StartRequest::new("clock_random_uuid"))
        .await
        .unwrap();
    let err = client.restart(&waiting, false).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Store(StoreError::InstanceNotFinished(..))),
        "{err}"
    );
    let err = client.purge(&waiting).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Store(StoreError::InstanceNotFinished(..))),
        "{err}"
    );

    client.purge("e").await.unwrap();
    let err = client.status("e").await.unwrap_err();
    assert!(matches!(
        err,
        ClientError::Store(StoreError::InstanceNotFound(_))
    ));
    for i in 0..7 {
        let id = client
            .start(StartRequest::new("echo").input(i.to_string()))
            .await
            .unwrap();
        t.finish(&id).await;
    }
    let filter = InstanceFilter {
        statuses: vec![RuntimeStatus::Completed, RuntimeStatus::Running],
        ..Default::default()
    };
    assert_eq!(
        client.purge_matching(&filter).await.unwrap(),
        8,
        "running ones are kept"
    );
    let left = client.list(&InstanceFilter::default()).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].instance_id, waiting);
    t.stop().await;
}

/// A message that reaches an instance after it finished (here the result of an activity that
/// was running when the instance was terminated) is dropped: the instance's status, output
/// and times stay as they were at its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_message_leaves_a_finished_instance_as_it_ended() {
    let data = tempfile::tempdir().unwrap();
    // The step takes a second: the termination is recorded long before it ends.
    let mut t = TestHost::with_config(|c| probe_data(c, data.path(), 1000));
    t.deploy(&["probe"]).await;
    t.run();
    let id = t.start("slow_chain", "null").await;
    // The first step is running (it logs before it sleeps).
    let runs = data.path().join("runs.log");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&runs).is_ok_and(|log| log.contains(&format!("{id} 1"))) {
        assert!(tokio::time::Instant::now() < deadline, "the step never ran");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    t.client()
        .terminate(&id, Some("stop"), false)
        .await
        .unwrap();
    let ended = t.finish(&id).await;
    assert_eq!(ended.status, RuntimeStatus::Terminated);
    // Later, the step's result arrives and is handled.
    t.clock.advance(Duration::from_secs(3600));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while t.queued(&id) != (0, 0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            t.queued(&id)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(t.client().status(&id).await.unwrap(), ended);
    let history = t.client().history(&id).await.unwrap();
    assert!(!has(&history, "TaskCompleted"), "{history:#?}");
    t.stop().await;
}
