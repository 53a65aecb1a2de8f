//! The JavaScript guest SDK (`guest-sdk/js`) through the real host: components built with
//! `durable build` (componentize-js) once per test run, the hello_sequence and
//! fan_out_fan_in examples end to end (in process and through `durable run`), the counter
//! entity example, structured failures from JavaScript errors, and every conformance scenario
//! against the JavaScript conformance guest.

use crate::process::Durable;
use crate::support::{TestHost, compile_cache, count, output, workspace_root};
use durable_host::client::StartRequest;
use durable_host::inspect::scenario::{self, Scenario};
use durable_host::types::{EventKind, RuntimeStatus};
use durable_host::wasm::WasmRuntime;
use durable_host::wasm::sandbox::{ActivityCapabilities, GuestLimits};
use serde_json::json;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Scenarios the JavaScript SDK does not pass yet, and why. The test fails when one of them starts
/// passing, so that its entry is removed.
const KNOWN_GAPS: &[(&str, &str)] = &[];

/// Builds the JavaScript app in `app_dir` (relative to the workspace root) into
/// `target/js/<name>.wasm`, once per test process, and returns the path. Fails loudly when the
/// build (or installing componentize-js) fails: nothing is skipped.
fn js_guest(app_dir: &str, name: &str) -> PathBuf {
    type Built = Arc<OnceLock<PathBuf>>;
    static BUILDS: OnceLock<Mutex<HashMap<String, Built>>> = OnceLock::new();
    let cell = BUILDS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(name.to_owned())
        .or_default()
        .clone();
    cell.get_or_init(|| {
        let root = workspace_root();
        let out = root.join("target").join("js").join(format!("{name}.wasm"));
        crate::process::build(
            &root.join(app_dir),
            &out,
            "the first build installs componentize-js 0.23.0 and rolldown 1.3.2 into the tools \
             directory, which needs node >= 20 and npm, and the npm registry",
        );
        out
    })
    .clone()
}

fn hello_sequence() -> PathBuf {
    js_guest("examples/js/hello_sequence", "hello_sequence_js")
}

fn fan_out_fan_in() -> PathBuf {
    js_guest("examples/js/fan_out_fan_in", "fan_out_fan_in_js")
}

fn counter() -> PathBuf {
    js_guest("examples/js/counter", "counter_js")
}

pub(crate) fn conformance_guest() -> PathBuf {
    js_guest("tests/guests/js-conformance", "js_conformance")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_hello_sequence_greets_three_cities_in_order() {
    let bytes = read(&hello_sequence());
    let mut t = TestHost::new();
    t.deploy_component(&bytes).await;
    t.run();
    let id = t
        .client()
        .start(StartRequest::new("hello_sequence"))
        .await
        .unwrap();
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

#[test]
fn durable_run_prints_the_js_greetings() {
    let durable = Durable::new();
    let component = hello_sequence();
    let out = durable.run([
        OsStr::new("run"),
        OsStr::new("--component"),
        component.as_os_str(),
    ]);
    let printed: serde_json::Value = serde_json::from_str(out.ok()).expect("output is JSON");
    assert_eq!(
        printed,
        json!(["Hello Tokyo!", "Hello Seattle!", "Hello London!"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_fan_out_fan_in_sums_the_doubled_items() {
    let bytes = read(&fan_out_fan_in());
    let mut t = TestHost::new();
    t.deploy_component(&bytes).await;
    t.run();
    let id = t
        .client()
        .start(StartRequest::new("fan_out_fan_in").input("5"))
        .await
        .unwrap();
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    assert_eq!(output(&record), json!(30));
    let history = t.client().history(&id).await.unwrap();
    let scheduled = history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::TaskScheduled { .. }))
        .count();
    assert_eq!(scheduled, 5);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_errors_are_structured_failures() {
    let bytes = read(&conformance_guest());
    let mut t = TestHost::new();
    t.deploy_component(&bytes).await;
    t.run();

    // Caught in the orchestrator: a TaskFailedError with the activity's error type, message
    // and details.
    let caught = t
        .client()
        .start(StartRequest::new("reserve_or_report").input(r#""socks""#))
        .await
        .unwrap();
    // Uncaught: the orchestration fails with the same structured failure.
    let uncaught = t
        .client()
        .start(StartRequest::new("reserve_or_report").input(r#""uncaught""#))
        .await
        .unwrap();

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
    assert!(
        stack.contains("reserve"),
        "the JavaScript stack names the activity: {stack}"
    );
    t.stop().await;
}

/// The state of `counter@key` once it has no pending operations (polled, bounded).
async fn settled_counter(t: &TestHost, key: &str) -> Option<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let record = t.client().entity_state("counter", key).await.unwrap();
        if let Some(record) = record.filter(|r| r.pending == 0) {
            return record.state;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "entity counter@{key} never settled"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_orchestration_signals_and_calls_a_js_counter_entity() {
    let bytes = read(&counter());
    let mut t = TestHost::new();
    t.deploy_component(&bytes).await;
    t.run();
    for (amount, expected) in [(5, 5), (3, 8)] {
        let input = json!({ "key": "o", "amount": amount }).to_string();
        let id = t
            .client()
            .start(StartRequest::new("increment_and_read").input(input))
            .await
            .unwrap();
        let record = t.finish(&id).await;
        assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
        assert_eq!(output(&record), json!(expected));
        let history = t.client().history(&id).await.unwrap();
        assert_eq!(count(&history, "EntitySignalled"), 1);
        assert_eq!(count(&history, "EntityCalled"), 1);
        assert_eq!(count(&history, "EntityResponded"), 1);
        let logs = t.client().logs(&id).await.unwrap();
        let lines: Vec<_> = logs
            .iter()
            .filter(|l| l.message == format!("counter@o is {expected}"))
            .collect();
        assert_eq!(lines.len(), 1, "a log line is recorded once: {logs:?}");
    }
    // The client sees the state the operations left.
    assert_eq!(settled_counter(&t, "o").await.as_deref(), Some("8"));
    // A client signal runs the same JavaScript entity.
    t.client()
        .signal_entity("counter", "o", "add", "2")
        .await
        .unwrap();
    let id = t
        .client()
        .start(StartRequest::new("call_counter").input(
            json!({"entity": "counter", "key": "o", "operation": "get", "input": null}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(output(&t.finish(&id).await), json!(10));
    // `delete` (destructOnExit) removes the state.
    t.client()
        .signal_entity("counter", "o", "delete", "null")
        .await
        .unwrap();
    assert_eq!(settled_counter(&t, "o").await, None);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_entity_errors_fail_the_operation_with_their_type() {
    let bytes = read(&counter());
    let mut t = TestHost::new();
    t.deploy_component(&bytes).await;
    // Queued before the host runs, so the three run as one batch: the middle one throws.
    for amount in ["5", "-10", "2"] {
        t.client()
            .signal_entity("counter", "k", "add", amount)
            .await
            .unwrap();
    }
    t.run();
    assert_eq!(settled_counter(&t, "k").await.as_deref(), Some("7"));
    let call = |operation: &str, input: serde_json::Value| {
        json!({ "entity": "counter", "key": "k", "operation": operation, "input": input })
            .to_string()
    };
    // A caller gets the thrown error's class as the failure type; the state stays.
    let id = t
        .client()
        .start(StartRequest::new("call_counter").input(call("add", json!(-100))))
        .await
        .unwrap();
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Failed, "{record:#?}");
    let failure = record.failure.expect("a failed instance has a failure");
    assert_eq!(failure.error_type, "NegativeCounter");
    assert_eq!(failure.message, "adding -100 to 7 would go below zero");
    let stack = failure.stack.unwrap_or_default();
    assert!(stack.contains("app"), "the JavaScript stack: {stack}");
    // An operation the entity does not handle.
    let id = t
        .client()
        .start(StartRequest::new("call_counter").input(call("nope", json!(null))))
        .await
        .unwrap();
    let failure = t.finish(&id).await.failure.expect("failure");
    assert_eq!(failure.error_type, "UnknownOperation");
    assert!(failure.message.contains("`nope`"), "{}", failure.message);
    assert!(failure.non_retriable);
    // An entity the component does not offer.
    let id = t
        .client()
        .start(StartRequest::new("call_counter").input(
            json!({"entity": "nope", "key": "k", "operation": "get", "input": null}).to_string(),
        ))
        .await
        .unwrap();
    let failure = t.finish(&id).await.failure.expect("failure");
    assert_eq!(failure.error_type, "UnknownFunction");
    assert_eq!(settled_counter(&t, "k").await.as_deref(), Some("7"));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_matches_the_js_guest() {
    let wasm = WasmRuntime::new(
        Some(compile_cache()),
        GuestLimits::default(),
        ActivityCapabilities::default(),
        0,
    )
    .expect("wasm runtime");
    let component = wasm
        .load(&read(&conformance_guest()))
        .await
        .expect("loading the JavaScript conformance guest");
    let files = Scenario::files(&workspace_root().join("tests").join("conformance"))
        .expect("listing scenarios");
    assert!(files.len() > 40, "scenarios are missing: {files:?}");
    let mut failures = Vec::new();
    let mut gaps_passing = Vec::new();
    for file in &files {
        let scenario = Scenario::load(file).unwrap_or_else(|e| panic!("{e:#}"));
        let result = scenario::run(&wasm, &component, &scenario)
            .await
            .unwrap_or_else(|e| panic!("running {}: {e:#}", file.display()));
        let known_gap = KNOWN_GAPS.iter().any(|(name, _)| *name == scenario.name);
        match (result.passed(), known_gap) {
            (false, false) => failures.push(result.to_string()),
            (true, true) => gaps_passing.push(scenario.name.clone()),
            _ => {}
        }
    }
    assert!(
        gaps_passing.is_empty(),
        "these scenarios pass now: remove them from KNOWN_GAPS: {gaps_passing:?}"
    );
    assert!(
        failures.is_empty(),
        "{} of {} scenarios did not match the JavaScript guest:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
