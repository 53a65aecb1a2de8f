//! Bad input gets a clear error and loses nothing.

use crate::support::*;
use durable_host::client::{ClientError, StartRequest};
use durable_host::store::StoreError;
use durable_host::types::RuntimeStatus;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_unknown_names_and_duplicate_ids_are_refused() {
    let mut t = TestHost::new();
    t.deploy(&["probe"]).await;
    let client = t.client().clone();

    let err = client
        .start(StartRequest::new("echo").input("{not json"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::MalformedJson { .. }), "{err}");
    assert!(
        err.to_string().starts_with("the input is not valid JSON"),
        "{err}"
    );

    let err = client
        .start(StartRequest::new("no_such_thing"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string().split(';').next(),
        Some("unknown orchestrator `no_such_thing`")
    );
    assert!(err.to_string().contains("echo"), "lists what exists: {err}");

    let id = client
        .start(StartRequest::new("clock_random_uuid").instance_id("dup"))
        .await
        .unwrap();
    let err = client
        .start(StartRequest::new("echo").instance_id("dup"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Store(StoreError::InstanceExists(ref i)) if i == "dup"),
        "{err}"
    );

    let err = client.raise_event(&id, "go", "nope").await.unwrap_err();
    assert!(matches!(err, ClientError::MalformedJson { .. }), "{err}");
    let err = client.raise_event("missing", "go", "1").await.unwrap_err();
    assert!(
        matches!(err, ClientError::Store(StoreError::InstanceNotFound(_))),
        "{err}"
    );

    // None of that disturbed the instance that was started.
    t.run();
    client.raise_event(&id, "go", "1").await.unwrap();
    assert_eq!(t.finish(&id).await.status, RuntimeStatus::Completed);
    let echo = client
        .start(StartRequest::new("echo").input(r#"{"a": [1, 2]}"#))
        .await
        .unwrap();
    assert_eq!(output(&t.finish(&echo).await), json!({"a": [1, 2]}));
    // A finished instance's id may be reused.
    let again = client
        .start(StartRequest::new("echo").instance_id(&id).input("7"))
        .await
        .unwrap();
    assert_eq!(output(&t.finish(&again).await), json!(7));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_that_is_not_a_component_is_named_as_such() {
    let t = TestHost::new();
    let err = t.host.deploy(b"not wasm at all").await.unwrap_err();
    assert!(
        format!("{err:#}").contains("not a valid WebAssembly component"),
        "{err:#}"
    );
    // A core module is not a component either.
    let core = [0, b'a', b's', b'm', 1, 0, 0, 0];
    let err = t.host.deploy(&core).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("core WebAssembly module"),
        "{err:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_stops_a_waiting_instance_and_later_messages_are_dropped() {
    let mut t = TestHost::running(&["human-interaction"]).await;
    let id = t.start("approval_workflow", "null").await;
    t.history_until(&id, |h| has(h, "TimerCreated")).await;
    t.client()
        .terminate(&id, Some("no longer needed"), false)
        .await
        .unwrap();
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Terminated);
    assert_eq!(record.output.as_deref(), Some("\"no longer needed\""));
    assert_eq!(
        t.store.next_wakeup(START).await.unwrap(),
        None,
        "timer deleted"
    );
    let err = t
        .client()
        .raise_event(&id, "Approval", "true")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Store(StoreError::InstanceFinished(..))),
        "{err}"
    );
    t.stop().await;
}
