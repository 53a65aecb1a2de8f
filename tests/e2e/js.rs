//! The JavaScript guest SDK (`guest-sdk/js`) through the real host: components built with
//! `scripts/build-js.sh` (componentize-js) once per test run, the hello_sequence and
//! fan_out_fan_in examples end to end (in process and through `durable run`), structured
//! failures from JavaScript errors, and every conformance scenario against the JavaScript
//! conformance guest.

use crate::process::Durable;
use crate::support::{TestHost, compile_cache, output, workspace_root};
use durable_host::client::StartRequest;
use durable_host::inspect::scenario::{self, Scenario};
use durable_host::types::{EventKind, RuntimeStatus};
use durable_host::wasm::WasmRuntime;
use durable_host::wasm::sandbox::{ActivityCapabilities, GuestLimits};
use serde_json::json;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

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
        std::fs::create_dir_all(out.parent().unwrap()).expect("creating target/js");
        let started = std::time::Instant::now();
        let result = Command::new(root.join("scripts").join("build-js.sh"))
            .arg(root.join(app_dir))
            .arg(&out)
            .current_dir(&root)
            .output()
            .expect("running scripts/build-js.sh");
        assert!(
            result.status.success(),
            "building the JavaScript component {app_dir} failed (scripts/build-js.sh installs \
             componentize-js 0.23.0 into target/js/node_modules and needs node >= 20 and npm, \
             and the npm registry the first time):\n{}{}",
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
        eprintln!("built {} in {:.1?}", out.display(), started.elapsed());
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

fn conformance_guest() -> PathBuf {
    js_guest("tests/guests/js-conformance", "js_conformance")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_hello_sequence_greets_three_cities_in_order() {
    let bytes = read(&hello_sequence());
    let mut t = TestHost::new();
    t.host
        .deploy(&bytes)
        .await
        .expect("deploying the JavaScript component");
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
    t.host
        .deploy(&bytes)
        .await
        .expect("deploying the JavaScript component");
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
    t.host
        .deploy(&bytes)
        .await
        .expect("deploying the JavaScript component");
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
