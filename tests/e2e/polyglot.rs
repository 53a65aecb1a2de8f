//! Calls across components and languages: a Python orchestrator (`tests/guests/python-polyglot`)
//! calling a Rust activity (`examples/hello-sequence`), a Rust orchestrator (the probe's
//! `call_by_name`) calling Python activities and a Python sub-orchestration, all deployed in one
//! host; and how names resolve (`durable_host::resolve`): a missing name fails the call with
//! `UnknownFunction`, a name two unrelated apps offer with `AmbiguousFunction`, and new versions
//! of an app never make its names ambiguous.

use crate::support::*;
use durable_host::client::StartRequest;
use durable_host::store::InstanceRecord;
use durable_host::types::{EventKind, Failure, RuntimeStatus};
use serde_json::{Value, json};

fn python_polyglot() -> Vec<u8> {
    read(&Lang::Python.app("tests/guests/python-polyglot", "polyglot"))
}

/// Deploys component bytes and returns the digest.
async fn deploy(t: &TestHost, bytes: &[u8]) -> String {
    t.host.deploy(bytes).await.expect("deploying").digest
}

/// The same component with another digest: what rebuilding an app without changing its
/// functions gives (a custom section appended; the code is unchanged).
fn rebuilt(bytes: &[u8]) -> Vec<u8> {
    let name = b"durable-test-rebuild";
    let payload = b"v2";
    let size = 1 + name.len() + payload.len();
    assert!(size < 128, "one-byte LEB128 sizes");
    let mut out = bytes.to_vec();
    out.extend([0u8, size as u8, name.len() as u8]);
    out.extend(name);
    out.extend(payload);
    out
}

async fn run(t: &TestHost, orchestrator: &str, input: Value) -> InstanceRecord {
    let id = t
        .client()
        .start(StartRequest::new(orchestrator).input(input.to_string()))
        .await
        .unwrap_or_else(|e| panic!("starting {orchestrator}: {e}"));
    t.finish(&id).await
}

fn completed(record: &InstanceRecord) -> Value {
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    output(record)
}

fn failed(record: &InstanceRecord) -> Failure {
    assert_eq!(record.status, RuntimeStatus::Failed, "{record:#?}");
    record
        .failure
        .clone()
        .expect("a failed instance has a failure")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_rust_call_each_other_across_components() {
    let python = python_polyglot();
    let mut t = TestHost::new();
    t.deploy(&["hello-sequence", "probe"]).await;
    let python_digest = deploy(&t, &python).await;
    t.run();

    // Python orchestrator -> Rust activity `say_hello`, then its own `shout`.
    let record = run(&t, "polyglot_greetings", json!("Tokyo")).await;
    assert_eq!(completed(&record), json!("HELLO TOKYO!"));
    assert_eq!(
        record.digest, python_digest,
        "the caller stays on its own component"
    );
    let history = t.client().history(&record.instance_id).await.unwrap();
    assert_eq!(count(&history, "TaskCompleted"), 2, "{history:#?}");

    // Rust orchestrator -> Python activity.
    let record = run(
        &t,
        "call_by_name",
        json!({"activity": "shout", "input": "from rust"}),
    )
    .await;
    assert_eq!(completed(&record), json!("FROM RUST"));

    // Rust orchestrator -> Python sub-orchestration -> Rust activity.
    let record = run(
        &t,
        "call_by_name",
        json!({"orchestrator": "polyglot_greetings", "input": "Lima"}),
    )
    .await;
    assert_eq!(completed(&record), json!("HELLO LIMA!"));
    let children = t.store.children(&record.instance_id).await.unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].digest, python_digest);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_no_component_offers_fails_the_call_with_unknown_function() {
    let python = python_polyglot();
    let mut t = TestHost::new();
    t.deploy(&["probe"]).await;
    deploy(&t, &python).await;
    t.run();

    // Caught by a Python orchestrator.
    let record = run(&t, "call_named", json!({"activity": "nope", "input": 1})).await;
    assert_eq!(
        completed(&record),
        json!({
            "type": "UnknownFunction",
            "message": "no deployed component offers activity `nope`",
            "details": null
        })
    );
    // The call failed in the turn that scheduled it: no activity ran.
    let history = t.client().history(&record.instance_id).await.unwrap();
    let failure = history
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::TaskFailed { failure, .. } => Some(failure.clone()),
            _ => None,
        })
        .expect("a TaskFailed event");
    assert!(failure.non_retriable, "{failure:?}");

    // Failing a Rust orchestrator with that type, for an activity and a sub-orchestration.
    let record = run(&t, "call_by_name", json!({"activity": "nope"})).await;
    let failure = failed(&record);
    assert_eq!(failure.error_type, "UnknownFunction");
    assert_eq!(
        failure.message,
        "no deployed component offers activity `nope`"
    );
    let record = run(&t, "call_by_name", json!({"orchestrator": "nope"})).await;
    let failure = failed(&record);
    assert_eq!(failure.error_type, "UnknownFunction");
    assert_eq!(
        failure.message,
        "no deployed component offers orchestrator `nope`"
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activity_two_unrelated_apps_offer_is_ambiguous() {
    let python = python_polyglot();
    let mut t = TestHost::new();
    // Both offer an activity `work`; neither is a version of the other.
    let fan_out = deploy(&t, &guest_bytes("fan-out-fan-in")).await;
    let bench = deploy(&t, &guest_bytes("bench-guest")).await;
    t.deploy(&["probe"]).await;
    deploy(&t, &python).await;
    t.run();

    let short = |digest: &str| digest[..19].to_owned();
    let record = run(&t, "call_named", json!({"activity": "work", "input": 1})).await;
    let caught = completed(&record);
    assert_eq!(caught["type"], "AmbiguousFunction", "{caught}");
    let message = caught["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "activity `work` is offered by 2 deployed components that are not versions of one app"
        ),
        "{message}"
    );
    assert!(
        message.contains(&short(&bench)) && message.contains(&short(&fan_out)),
        "the message names both candidates: {message}"
    );
    // The full digests, newest first, in the details (which the Python SDK decodes).
    assert_eq!(
        caught["details"],
        json!({"candidates": [bench, fan_out]}),
        "{caught}"
    );

    let failure = failed(&run(&t, "call_by_name", json!({"activity": "work", "input": 1})).await);
    assert_eq!(failure.error_type, "AmbiguousFunction");
    assert!(failure.non_retriable);

    // Each app still runs its own `work`: a component's own functions come first.
    assert_eq!(
        completed(&run(&t, "fan_out_fan_in", json!(3)).await),
        json!(12)
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_versions_of_an_app_do_not_make_its_names_ambiguous() {
    let python = python_polyglot();
    let mut t = TestHost::new();
    let hello = guest_bytes("hello-sequence");
    deploy(&t, &hello).await;
    // The probe offers everything hello-sequence offers and more: a later version of it.
    t.deploy(&["probe"]).await;
    // The same app rebuilt: another digest, the same functions.
    let rebuilt = deploy(&t, &rebuilt(&hello)).await;
    deploy(&t, &python).await;
    assert_eq!(t.store.components().await.unwrap().len(), 4);
    t.run();

    let record = run(&t, "polyglot_greetings", json!("Oslo")).await;
    assert_eq!(completed(&record), json!("HELLO OSLO!"));
    let record = run(
        &t,
        "call_named",
        json!({"activity": "say_hello", "input": "Rome"}),
    )
    .await;
    assert_eq!(completed(&record), json!({"result": "Hello Rome!"}));
    // Starting `hello_sequence` picks the newest deployment, the rebuilt one.
    let record = run(&t, "hello_sequence", Value::Null).await;
    assert_eq!(record.digest, rebuilt);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewound_activity_of_another_component_runs_there() {
    let python = python_polyglot();
    let data = tempfile::tempdir().unwrap();
    let mut t = TestHost::with_config(|c| {
        c.capabilities
            .dirs
            .push((data.path().to_path_buf(), "/data".into()));
    });
    t.deploy(&["probe"]).await;
    deploy(&t, &python).await;
    t.run();

    let record = run(&t, "call_by_name", json!({"activity": "read_flag"})).await;
    assert_eq!(failed(&record).error_type, "FileNotFoundError");
    // Rewind queues the activity again on the instance's (Rust) component, which does not
    // offer it: the host resolves the name again and runs it on the Python one.
    std::fs::write(data.path().join("flag"), "raised\n").unwrap();
    t.client()
        .rewind(&record.instance_id, Some("flag fixed"))
        .await
        .unwrap();
    let record = t.finish(&record.instance_id).await;
    assert_eq!(completed(&record), json!("raised"));
    t.stop().await;
}
