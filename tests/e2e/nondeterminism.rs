//! A history recorded by one component replayed against a changed one.

use crate::support::*;
use durable_host::host::ReplayError;
use durable_host::types::RuntimeStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_orchestrator_fails_with_a_message_naming_both_sides() {
    let mut t = TestHost::running(&["hello-sequence"]).await;
    let id = t.start("hello_sequence", "null").await;
    assert_eq!(t.finish(&id).await.status, RuntimeStatus::Completed);
    let history = t.client().history(&id).await.unwrap();
    t.stop().await;

    // The same history replays cleanly against the component that wrote it...
    let same = t
        .host
        .replay_history(&guest_bytes("hello-sequence"), "hello_sequence", &history)
        .await;
    assert!(same.is_ok(), "{same:?}");

    // ...and not against the probe's changed copy, which says goodbye first.
    let replayed = t
        .host
        .replay_history(&guest_bytes("probe"), "hello_sequence", &history)
        .await;
    let Err(ReplayError::Failed(failure)) = replayed else {
        panic!("expected nondeterminism: {replayed:?}");
    };
    assert_eq!(failure.error_type, "NonDeterminism");
    assert_eq!(
        failure.message,
        "step 0: code scheduled activity `say_goodbye`, history has activity `say_hello`"
    );
    assert!(failure.non_retriable);
}
