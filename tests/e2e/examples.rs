//! Each example runs to completion through the real host on a fresh database. The examples that
//! exist in several languages run the same test against each build ([`per_language!`]), and
//! so do the structured failures the Python and JavaScript SDKs make of exceptions.

use crate::support::*;
use durable_host::client::StartRequest;
use durable_host::types::{EventKind, RuntimeStatus};
use serde_json::json;
use std::time::Duration;

per_language!(hello_sequence_greets_three_cities_in_order: rust, python, js);

async fn hello_sequence_greets_three_cities_in_order(lang: Lang) {
    let mut t = TestHost::running_component(&read(&lang.example("hello_sequence"))).await;
    let id = t.start("hello_sequence", "null").await;
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    assert_eq!(
        output(&record),
        json!(["Hello Tokyo!", "Hello Seattle!", "Hello London!"])
    );
    let history = t.client().history(&id).await.unwrap();
    let scheduled: Vec<_> = history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::TaskScheduled { name, input } => Some(format!("{name}({input})")),
            _ => None,
        })
        .collect();
    assert_eq!(
        scheduled,
        [
            "say_hello(\"Tokyo\")",
            "say_hello(\"Seattle\")",
            "say_hello(\"London\")"
        ]
    );
    t.stop().await;
}

per_language!(fan_out_fan_in_sums_parallel_work: rust, python, js);

async fn fan_out_fan_in_sums_parallel_work(lang: Lang) {
    let mut t = TestHost::running_component(&read(&lang.example("fan_out_fan_in"))).await;
    let id = t.start("fan_out_fan_in", "50").await;
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    // work(i) = 2i for i in 1..=50.
    assert_eq!(output(&record), json!(2550));
    let history = t.client().history(&id).await.unwrap();
    assert_eq!(count(&history, "TaskScheduled"), 50);
    let status: serde_json::Value =
        serde_json::from_str(record.custom_status.as_deref().unwrap_or("null")).unwrap();
    assert_eq!(status, json!({"done": 50, "scheduled": 50}));
    let logs = t.client().logs(&id).await.unwrap();
    let summed: Vec<_> = logs
        .iter()
        .filter(|l| l.message.contains("work items summed"))
        .collect();
    assert_eq!(
        summed.len(),
        1,
        "a replay-safe log is recorded once: {logs:?}"
    );
    t.stop().await;
}

async fn approval_waiting(t: &TestHost) -> String {
    let id = t
        .start("approval_workflow", r#"{"timeout_secs": 3600}"#)
        .await;
    t.history_until(&id, |h| has(h, "TimerCreated")).await;
    id
}

per_language!(approval_event_beats_the_timer_and_cancels_it: rust, python);

async fn approval_event_beats_the_timer_and_cancels_it(lang: Lang) {
    let mut t = TestHost::running_component(&read(&lang.example("human_interaction"))).await;
    let id = approval_waiting(&t).await;
    t.client()
        .raise_event(&id, "Approval", "true")
        .await
        .unwrap();
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Completed);
    assert_eq!(output(&record), json!("approved"));
    let history = t.client().history(&id).await.unwrap();
    assert!(has(&history, "TimerCancelled"), "{history:#?}");
    assert!(!history.iter().any(is_timer_fired));
    // The cancelled timer left nothing behind to fire later.
    t.clock.advance(Duration::from_secs(7200));
    assert_eq!(t.store.next_wakeup(START).await.unwrap(), None);
    let logs = t.client().logs(&id).await.unwrap();
    assert!(
        logs.iter()
            .any(|l| l.message.contains("approval requested")),
        "activity logs are recorded: {logs:?}"
    );
    t.stop().await;
}

per_language!(approval_times_out_when_the_clock_passes_the_deadline: rust, python);

async fn approval_times_out_when_the_clock_passes_the_deadline(lang: Lang) {
    let mut t = TestHost::running_component(&read(&lang.example("human_interaction"))).await;
    let id = approval_waiting(&t).await;
    t.clock.advance(Duration::from_secs(3599));
    let still = t.client().status(&id).await.unwrap();
    assert_eq!(still.status, RuntimeStatus::Running);
    t.clock.advance(Duration::from_secs(1));
    let record = t.finish(&id).await;
    assert_eq!(output(&record), json!("escalated"));
    let history = t.client().history(&id).await.unwrap();
    let fired = history
        .iter()
        .find(|e| is_timer_fired(e))
        .expect("timer fired");
    assert_eq!(fired.timestamp, START + 3_600_000);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_replay_after_eviction_reaches_the_same_result() {
    let mut t = TestHost::with_config(|c| c.cache_capacity = 0);
    t.deploy(&["hello-sequence", "human-interaction"]).await;
    t.run();
    let hello = t.start("hello_sequence", "null").await;
    let approval = approval_waiting(&t).await;
    t.client()
        .raise_event(&approval, "Approval", "false")
        .await
        .unwrap();
    assert_eq!(
        output(&t.finish(&hello).await),
        json!(["Hello Tokyo!", "Hello Seattle!", "Hello London!"])
    );
    assert_eq!(output(&t.finish(&approval).await), json!("rejected"));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_structured_activity_failure_reaches_the_caller_typed() {
    let mut t = TestHost::running(&["probe"]).await;
    let id = t.start("call_failing", "null").await;
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Failed);
    let failure = record.failure.expect("failure");
    assert_eq!(failure.error_type, "BadThing");
    assert_eq!(failure.message, "it broke");
    assert_eq!(failure.details.as_deref(), Some(r#"{"code":7}"#));
    t.stop().await;
}

per_language!(exceptions_are_structured_failures: python, js);

/// A Python exception or JavaScript error is a structured failure: its class is the type,
/// and its message, details and stack reach the orchestration (caught) and the instance
/// (uncaught).
async fn exceptions_are_structured_failures(lang: Lang) {
    let mut t = TestHost::running_component(&read(&lang.conformance_guest())).await;

    // Caught in the orchestrator: a TaskFailedError with the activity's exception type,
    // message and details.
    let caught = t.start("reserve_or_report", r#""socks""#).await;
    // Uncaught: the orchestration fails with the same structured failure.
    let uncaught = t.start("reserve_or_report", r#""uncaught""#).await;

    let record = t.finish(&caught).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    assert_eq!(
        output(&record),
        json!({"type": "OutOfStock", "message": "no socks left", "details": {"item": "socks"}})
    );

    let record = t.finish(&uncaught).await;
    assert_eq!(record.status, RuntimeStatus::Failed, "{record:#?}");
    let failure = record.failure.expect("a failed instance has a failure");
    assert_eq!(failure.error_type, "OutOfStock");
    assert_eq!(failure.message, "no uncaught left");
    assert_eq!(failure.details.as_deref(), Some(r#"{"item":"uncaught"}"#));
    let stack = failure.stack.unwrap_or_default();
    // The Python traceback names the activity's frame; the JavaScript stack its function.
    let names_the_activity = match lang {
        Lang::Python => "in reserve",
        _ => "reserve",
    };
    assert!(
        stack.contains(names_the_activity),
        "the stack names the activity: {stack}"
    );
    t.stop().await;
}

/// JavaScript activities and entity operations written as `async` functions run through the
/// host: the value a Promise resolves to is the result (also one that waits on a timer, which
/// the component's event loop runs on the activity's real clock), a rejection the failure with
/// its type, message and details, and an async entity operation that rejects rolls back alone.
/// What cannot work fails: an activity whose Promise can never settle traps, and an entity
/// operation waiting on a timer breaks the deterministic sandbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_async_activities_and_entity_operations() {
    let mut t = TestHost::running_component(&read(&Lang::JavaScript.conformance_guest())).await;
    let id = t.start("async_functions", r#""k""#).await;
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    let out = output(&record);
    assert_eq!(out["greeting"], json!("Hello Tokyo!"));
    assert_eq!(out["waited"], json!({"waitedMs": 20, "attempt": 1}));
    assert_eq!(out["failure"]["type"], json!("OutOfStock"));
    assert_eq!(out["failure"]["message"], json!("no socks left"));
    assert_eq!(out["failure"]["details"], json!({"item": "socks"}));
    // The engine's own words on a Promise nothing can settle, from the guest's stderr.
    assert_eq!(out["never"]["type"], json!("Trap"), "{out:#}");
    let stack = out["never"]["stack"].as_str().unwrap_or_default();
    assert!(stack.contains("event loop error"), "{stack}");
    assert_eq!(out["counter"], json!(5), "{out:#}");
    assert_eq!(out["entityFailure"]["type"], json!("InsufficientFunds"));
    assert_eq!(out["sleep"]["type"], json!("SandboxViolation"), "{out:#}");
    let settled = t
        .entity_until("async_counter", "k", |r| r.pending == 0)
        .await;
    assert_eq!(settled.state.as_deref(), Some("5"));
    t.stop().await;
}

/// The persisted history of the sequential examples, as a snapshot: a change
/// in what the engine records shows up as a diff in review. (Fan-out is left
/// out: its activities finish in any order.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persisted_histories_match_their_snapshots() {
    let mut t = TestHost::running(&["hello-sequence", "human-interaction"]).await;
    let client = t.client().clone();
    let hello = client
        .start(StartRequest::new("hello_sequence").instance_id("hello"))
        .await
        .unwrap();
    let approval = approval_waiting(&t).await;
    client
        .raise_event(&approval, "Approval", "true")
        .await
        .unwrap();
    for id in [&hello, &approval] {
        t.finish(id).await;
    }
    let hello = client.history(&hello).await.unwrap();
    let approval = client.history(&approval).await.unwrap();
    insta::assert_json_snapshot!("hello_sequence_history", hello, {
        "[].executionId" => "[execution-id]",
    });
    insta::assert_json_snapshot!("approval_workflow_history", approval, {
        "[].executionId" => "[execution-id]",
        "[].instanceId" => "[instance-id]",
        "[].input" => insta::dynamic_redaction(|value, _| {
            // The approval's instance id is generated; it is the activity input.
            if value.as_str().is_some_and(|s| s.len() == 34) { "[instance-id]".into() } else { value }
        }),
    });
    t.stop().await;
}

/// The embedding API of `examples/embedding`: a host on the database a `--db` names (a SQLite
/// file or a PostgreSQL URL) in a few lines, in this process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedding_api_runs_an_orchestration_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let test_db = crate::backend::TestDb::new(dir.path());
    let db = test_db.arg().to_str().expect("a UTF-8 path or URL");
    let host = durable_host::host::Host::connect(db).await.unwrap();
    host.deploy(&guest_bytes("hello-sequence")).await.unwrap();
    let running = host.start();
    let id = host
        .client()
        .start(StartRequest::new("hello_sequence"))
        .await
        .unwrap();
    let done = host
        .client()
        .wait(&id, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        output(&done),
        json!(["Hello Tokyo!", "Hello Seattle!", "Hello London!"])
    );
    running.shutdown().await;
    // Reopening the same database sees the finished instance.
    let again = durable_host::host::Host::connect(db).await.unwrap();
    assert_eq!(
        again.client().status(&id).await.unwrap().status,
        RuntimeStatus::Completed
    );
}
