//! Ready work starts at once, and work that finds the host full waits instead of failing.
//! These hosts poll once a day and run on a manual clock, so only the wake-ups the engine
//! sends itself can move them: a wake-up that is lost (sent before the loop waits, or to the
//! wrong loop) leaves the work waiting, and the test fails at its bound instead of passing
//! slowly.

use crate::support::*;
use durable_host::client::StartRequest;
use durable_host::types::RuntimeStatus;
use serde_json::json;
use std::time::Duration;

/// A host whose poll interval is a day.
async fn never_polling(guests: &[&str]) -> TestHost {
    let mut t = TestHost::with_config(|c| c.poll_interval = Duration::from_secs(86_400));
    t.deploy(guests).await;
    t.run();
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chains_of_activities_and_sub_orchestrations_never_wait_for_a_poll() {
    let mut t = never_polling(&["hello-sequence", "sub-orchestration"]).await;
    // Starts, activity results, in a row; several at once.
    let chains: Vec<String> = futures_ids(&t, "hello_sequence", 5).await;
    for id in &chains {
        let record = t.finish(id).await;
        assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    }
    // A child's start, its activity, and its result to the parent.
    let order = json!({"items": [{"sku": "a", "quantity": 1}, {"sku": "b", "quantity": 2}]});
    let id = t.start("process_order", order.to_string()).await;
    assert_eq!(output(&t.finish(&id).await), json!(7 + 12));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_timers_and_entity_messages_never_wait_for_a_poll() {
    let mut t = never_polling(&["human-interaction", "counter"]).await;
    // An external event to a waiting instance.
    let approved = t
        .start("approval_workflow", r#"{"timeout_secs": 3600}"#)
        .await;
    t.history_until(&approved, |h| has(h, "TimerCreated")).await;
    t.client()
        .raise_event(&approved, "Approval", "true")
        .await
        .unwrap();
    assert_eq!(output(&t.finish(&approved).await), json!("approved"));
    // A durable timer, due when the clock says so.
    let escalated = t
        .start("approval_workflow", r#"{"timeout_secs": 60}"#)
        .await;
    t.history_until(&escalated, |h| has(h, "TimerCreated"))
        .await;
    t.clock.advance(Duration::from_secs(60));
    assert_eq!(output(&t.finish(&escalated).await), json!("escalated"));
    // A signal and a call to an entity, and its answer.
    let id = t
        .start(
            "increment_and_read",
            json!({"key": "w", "amount": 3}).to_string(),
        )
        .await;
    assert_eq!(output(&t.finish(&id).await), json!(3));
    t.stop().await;
}

/// Work written by another process (here a second handle on the file, as `durable start --db`
/// or another host would write it) starts at once: the host's writer notices the foreign
/// commit (`PRAGMA data_version`) instead of waiting for its poll, which is a day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_written_by_another_process_never_waits_for_a_poll() {
    let mut t = never_polling(&["hello-sequence", "human-interaction"]).await;
    let elsewhere = t.other_process_client();
    let id = elsewhere
        .start(StartRequest::new("hello_sequence"))
        .await
        .unwrap();
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    // An event raised elsewhere reaches a waiting instance.
    let approval = t
        .start("approval_workflow", r#"{"timeout_secs": 3600}"#)
        .await;
    t.history_until(&approval, |h| has(h, "TimerCreated")).await;
    elsewhere
        .raise_event(&approval, "Approval", "true")
        .await
        .unwrap();
    assert_eq!(output(&t.finish(&approval).await), json!("approved"));
    t.stop().await;
}

/// A pool of three guest instance slots under a load that wants many more (eight turns and
/// eight activities at once, a cache that would keep every instance live): work waits for a
/// slot, the cache gives its slots back, and nothing fails or is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_instance_pool_makes_work_wait_and_loses_nothing() {
    let mut t = TestHost::with_config(|c| {
        c.poll_interval = Duration::from_secs(86_400);
        c.instance_slots = Some(3);
        c.orchestration_concurrency = 8;
        c.activity_concurrency = 8;
    });
    t.deploy(&["fan-out-fan-in", "counter"]).await;
    t.run();
    let fans = futures_ids(&t, "fan_out_fan_in", 6).await;
    let mut reads = Vec::new();
    for _ in 0..6 {
        let input = json!({"key": "read", "amount": 1}).to_string();
        reads.push(t.start("increment_and_read", input).await);
    }
    for _ in 0..30 {
        t.client()
            .signal_entity("counter", "signals", "add", "1")
            .await
            .unwrap();
    }
    for id in &fans {
        let record = t.finish(id).await;
        assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
        assert_eq!(output(&record), json!(110), "2 * (1 + ... + 10)");
    }
    for id in &reads {
        let record = t.finish(id).await;
        assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    }
    let read = t.entity_until("counter", "read", |r| r.pending == 0).await;
    assert_eq!(read.state.as_deref(), Some("6"), "every add applied once");
    let signals = t
        .entity_until("counter", "signals", |r| r.pending == 0)
        .await;
    assert_eq!(
        signals.state.as_deref(),
        Some("30"),
        "every signal applied once"
    );
    t.stop().await;
}

/// Starts `n` instances of `orchestrator` at once.
async fn futures_ids(t: &TestHost, orchestrator: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(t.start(orchestrator, "null").await);
    }
    ids
}
