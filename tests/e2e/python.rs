//! The Python guest SDK (`guest-sdk/python`) through the real host: components built with
//! `durable build` (componentize-py) once per test run, the hello_sequence example
//! end to end (in process and through `durable run`), structured failures from Python
//! exceptions, and every conformance scenario against the Python conformance guest.

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
use std::sync::{Arc, Mutex, OnceLock};

/// Scenarios the Python SDK does not pass yet, and why. The test fails when one of them starts
/// passing, so that its entry is removed.
const KNOWN_GAPS: &[(&str, &str)] = &[];

/// Builds the Python app in `app_dir` (relative to the workspace root) into
/// `target/python/<name>.wasm`, once per test process, and returns the path. Fails loudly
/// when the build (or installing componentize-py) fails: nothing is skipped.
pub(crate) fn python_guest(app_dir: &str, name: &str) -> PathBuf {
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
        let out = root
            .join("target")
            .join("python")
            .join(format!("{name}.wasm"));
        crate::process::build(
            &root.join(app_dir),
            &out,
            "the first build installs componentize-py 0.25.1 into the tools directory, which \
             needs python3 with venv and pip, and PyPI",
        );
        out
    })
    .clone()
}

/// The bytes of the Python example `examples/python/<name>`, built once per test run.
pub(crate) fn python_example(name: &str) -> Vec<u8> {
    read(&python_guest(
        &format!("examples/python/{name}"),
        &format!("{name}_py"),
    ))
}

fn hello_sequence() -> PathBuf {
    python_guest("examples/python/hello_sequence", "hello_sequence_py")
}

pub(crate) fn conformance_guest() -> PathBuf {
    python_guest("tests/guests/python-conformance", "python_conformance")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_hello_sequence_greets_three_cities_in_order() {
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
fn durable_run_prints_the_python_greetings() {
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
async fn python_exceptions_are_structured_failures() {
    let bytes = read(&conformance_guest());
    let mut t = TestHost::new();
    t.deploy_component(&bytes).await;
    t.run();

    // Caught in the orchestrator: a TaskFailedError with the activity's exception type,
    // message and details.
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
        stack.contains("in reserve"),
        "the Python traceback names the activity: {stack}"
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_matches_the_python_guest() {
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
        .expect("loading the Python conformance guest");
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
        "{} of {} scenarios did not match the Python guest:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
