//! The orchestration model through the real host: sub-orchestrations,
//! retries, continue-as-new with carried events, waits with timeouts, and
//! the monitor pattern.

use crate::support::*;
use durable_host::client::StartRequest;
use durable_host::store::InstanceFilter;
use durable_host::types::{EventKind, RuntimeStatus};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_orchestrations_return_results_to_their_parent() {
    let mut t = TestHost::running(&["sub-orchestration"]).await;
    let order = json!({"items": [
        {"sku": "a", "quantity": 1},
        {"sku": "b", "quantity": 2},
        {"sku": "c", "quantity": 3},
    ]});
    let id = t
        .client()
        .start(
            StartRequest::new("process_order")
                .input(order.to_string())
                .instance_id("order-1"),
        )
        .await
        .unwrap();
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    // Each ship_item returns 5 * quantity + 2.
    assert_eq!(output(&record), json!(7 + 12 + 17));
    let children = t.store.children(&id).await.unwrap();
    let mut ids: Vec<_> = children.iter().map(|c| c.instance_id.clone()).collect();
    ids.sort();
    assert_eq!(
        ids,
        ["order-1:0", "order-1:1", "order-1:2"],
        "derived, deterministic ids"
    );
    for child in &children {
        assert_eq!(child.status, RuntimeStatus::Completed);
        assert_eq!(child.parent.as_ref().unwrap().instance_id, "order-1");
    }
    let history = t.client().history(&id).await.unwrap();
    assert_eq!(count(&history, "SubOrchestrationCreated"), 3);
    assert_eq!(count(&history, "SubOrchestrationCompleted"), 3);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sub_orchestration_fails_its_parent_with_the_child_failure() {
    let mut t = TestHost::running(&["sub-orchestration"]).await;
    let order = json!({"items": [{"sku": "a", "quantity": 1}, {"sku": "zero", "quantity": 0}]});
    let id = t.start("process_order", order.to_string()).await;
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Failed);
    let failure = record.failure.expect("failure");
    assert_eq!(
        failure.error_type, "InvalidItem",
        "the type survives two hops"
    );
    assert_eq!(failure.message, "zero: quantity is 0");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_run_each_attempt_after_its_backoff_timer() {
    let mut t = TestHost::running(&["retry"]).await;
    let id = t.start("retry_flaky", "null").await;
    // Attempt 1 fails, then a 1 s timer; attempt 2 fails, then a 2 s timer
    // (or as the example's policy says); drive the clock past each.
    let mut advanced = 0;
    loop {
        let record = t.client().status(&id).await.unwrap();
        if record.status.is_terminal() {
            break;
        }
        let history = t
            .history_until(&id, |h| {
                let open = count(h, "TimerCreated") > count(h, "TimerFired");
                open || h
                    .iter()
                    .any(|e| matches!(e.kind, EventKind::ExecutionCompleted { .. }))
            })
            .await;
        if count(&history, "TimerCreated") > count(&history, "TimerFired") {
            t.clock.advance(Duration::from_secs(60));
            advanced += 1;
            assert!(advanced < 10, "too many retries");
        }
        let before = count(&history, "TimerFired");
        t.history_until(&id, |h| {
            count(h, "TimerFired") > before
                || h.iter()
                    .any(|e| matches!(e.kind, EventKind::ExecutionCompleted { .. }))
        })
        .await;
    }
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    assert_eq!(output(&record), json!(3), "the third attempt succeeds");
    let history = t.client().history(&id).await.unwrap();
    assert_eq!(
        count(&history, "TaskScheduled"),
        3,
        "each attempt is in history"
    );
    assert_eq!(count(&history, "TaskFailed"), 2);
    assert_eq!(
        count(&history, "TimerCreated"),
        2,
        "no timer after the last attempt"
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continue_as_new_carries_events_that_were_not_consumed() {
    let mut t = TestHost::running(&["probe"]).await;
    let id = t.start("carry_events", "0").await;
    t.history_until(&id, |h| has(h, "TimerCreated")).await;
    t.client().raise_event(&id, "x", "1").await.unwrap();
    t.client().raise_event(&id, "x", "2").await.unwrap();
    t.history_until(&id, |h| count(h, "EventRaised") == 2).await;
    t.clock.advance(Duration::from_secs(1));
    let record = t.finish(&id).await;
    assert_eq!(output(&record), json!([1, 2]));
    let history = t.client().history(&id).await.unwrap();
    let started = history
        .iter()
        .position(|e| matches!(e.kind, EventKind::ExecutionStarted { .. }))
        .unwrap();
    let first_event = history
        .iter()
        .position(|e| matches!(e.kind, EventKind::EventRaised { .. }))
        .unwrap();
    assert!(
        started < first_event,
        "the new execution starts, then gets the events"
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_with_timeout_times_out_and_the_next_event_is_not_lost() {
    let mut t = TestHost::running(&["probe"]).await;
    let id = t.start("wait_with_timeout", "30").await;
    t.history_until(&id, |h| has(h, "TimerCreated")).await;
    t.clock.advance(Duration::from_secs(30));
    t.history_until(&id, |h| has(h, "TimerFired")).await;
    t.client().raise_event(&id, "x", "\"late\"").await.unwrap();
    let record = t.finish(&id).await;
    assert_eq!(output(&record), json!({"timeout": true, "next": "late"}));
    t.stop().await;
}

per_language!(the_monitor_polls_with_timers_and_continue_as_new_until_done: rust, python);

async fn the_monitor_polls_with_timers_and_continue_as_new_until_done(lang: Lang) {
    let mut t = TestHost::running_component(&read(&lang.example("monitor"))).await;
    let input = json!({"job": "j", "poll_secs": 10, "deadline_ms": START + 3_600_000});
    let id = t.start("monitor", input.to_string()).await;
    for _ in 0..10 {
        let record = t.client().status(&id).await.unwrap();
        if record.status.is_terminal() {
            break;
        }
        let history = t
            .history_until(&id, |h| {
                has(h, "TimerCreated")
                    || h.iter()
                        .any(|e| matches!(e.kind, EventKind::ExecutionCompleted { .. }))
            })
            .await;
        if has(&history, "TimerCreated") {
            let execution = history.iter().find_map(|e| match &e.kind {
                EventKind::ExecutionStarted { execution_id, .. } => Some(execution_id.clone()),
                _ => None,
            });
            t.clock.advance(Duration::from_secs(10));
            // Wait for the next execution (or the end).
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                let record = t.client().status(&id).await.unwrap();
                if record.status.is_terminal() || Some(record.execution_id) != execution {
                    break;
                }
                assert!(tokio::time::Instant::now() < deadline);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    let record = t.finish(&id).await;
    assert_eq!(output(&record), json!("done"));
    let filter = InstanceFilter::default();
    assert_eq!(
        t.client().list(&filter).await.unwrap().len(),
        1,
        "one instance throughout"
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_months_away_fires_when_its_time_comes() {
    let mut t = TestHost::running(&["human-interaction"]).await;
    let ninety_days = 90 * 24 * 3600;
    let input = json!({ "timeout_secs": ninety_days }).to_string();
    let id = t.start("approval_workflow", input).await;
    t.history_until(&id, |h| has(h, "TimerCreated")).await;
    assert_eq!(
        t.store.next_wakeup(START).await.unwrap(),
        Some(START + ninety_days * 1000)
    );
    t.clock.advance(Duration::from_secs(ninety_days));
    let record = t.finish(&id).await;
    assert_eq!(output(&record), json!("escalated"));
    t.stop().await;
}

/// A child's result goes to the execution that started it. `leave_a_child` starts a child and
/// continues as new without waiting for it; its next execution starts another child with the
/// same sequence id. The first child's result, for the ended execution, is dropped; the new
/// execution gets its own child's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sub_orchestration_result_reaches_only_the_execution_that_started_it() {
    let mut t = TestHost::running(&["probe"]).await;
    t.start_as("leave_a_child", "p", "0").await;
    // The second execution has started its child.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while t.client().status("p-child-1").await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "no second child");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    t.client()
        .raise_event("p-child-0", "go", r#""first""#)
        .await
        .unwrap();
    assert_eq!(
        output(&t.finish("p-child-0").await),
        json!("child 0: first")
    );
    t.client()
        .raise_event("p-child-1", "go", r#""second""#)
        .await
        .unwrap();
    let record = t.finish("p").await;
    assert_eq!(output(&record), json!("child 1: second"), "{record:#?}");
    let history = t.client().history("p").await.unwrap();
    assert_eq!(
        count(&history, "SubOrchestrationCompleted"),
        1,
        "{history:#?}"
    );
    t.stop().await;
}
