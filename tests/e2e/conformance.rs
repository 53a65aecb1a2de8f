//! The language-neutral conformance scenarios (`tests/conformance/*.json`) against the Rust,
//! Python and JavaScript conformance guests, in process; and one of them through the real
//! `durable replay --scenario`. (The Python and JavaScript SDKs also run every scenario
//! natively in their own unit tests, without building a component.)

use crate::process::Durable;
use crate::support::{Lang, compile_cache, guest, per_language, read, workspace_root};
use durable_host::inspect::scenario::{self, Scenario};
use durable_host::wasm::WasmRuntime;
use durable_host::wasm::sandbox::GuestLimits;
use std::ffi::OsStr;

/// Scenarios an SDK does not pass yet, and why. The test fails when one of them starts
/// passing, so that its entry is removed.
const KNOWN_GAPS: &[(Lang, &str, &str)] = &[];

fn scenario_dir() -> std::path::PathBuf {
    workspace_root().join("tests").join("conformance")
}

per_language!(every_scenario_matches: rust, python, js);

/// Every scenario against one language's conformance guest, in process (the runner behind
/// `durable replay --scenario`).
async fn every_scenario_matches(lang: Lang) {
    let wasm =
        WasmRuntime::new(Some(compile_cache()), GuestLimits::default(), 0).expect("wasm runtime");
    let component = wasm
        .load(&read(&lang.conformance_guest()))
        .await
        .unwrap_or_else(|e| panic!("loading the {lang:?} conformance guest: {e:#}"));
    let files = Scenario::files(&scenario_dir()).expect("listing scenarios");
    assert!(files.len() > 40, "scenarios are missing: {files:?}");
    let mut failures = Vec::new();
    let mut gaps_passing = Vec::new();
    for file in &files {
        let scenario = Scenario::load(file).unwrap_or_else(|e| panic!("{e:#}"));
        let stem = file.file_stem().and_then(OsStr::to_str).unwrap_or("");
        assert_eq!(scenario.name, stem, "a scenario is named after its file");
        let result = scenario::run(&wasm, &component, &scenario)
            .await
            .unwrap_or_else(|e| panic!("running {}: {e:#}", file.display()));
        let known_gap = KNOWN_GAPS
            .iter()
            .any(|(l, name, _)| *l == lang && *name == scenario.name);
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
        "{} of {} scenarios did not match the {lang:?} guest:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn durable_replay_runs_a_scenario_and_shows_a_diff() {
    let durable = Durable::new();
    let component = guest("conformance-guest");
    let pass = scenario_dir().join("chain_last_completion.json");
    let out = durable.run([
        OsStr::new("replay"),
        OsStr::new("--scenario"),
        pass.as_os_str(),
        OsStr::new("--component"),
        component.as_os_str(),
    ]);
    assert_eq!(out.ok().trim(), "PASS chain_last_completion");

    // The same scenario with a wrong expectation fails and names the difference.
    let text = std::fs::read_to_string(&pass).unwrap();
    let mut wrong: serde_json::Value = serde_json::from_str(&text).unwrap();
    wrong["expect"]["output"] = serde_json::json!(["r0", "r1"]);
    let file = durable.path("wrong.json");
    std::fs::write(&file, wrong.to_string()).unwrap();
    let out = durable.run([
        OsStr::new("replay"),
        OsStr::new("--scenario"),
        file.as_os_str(),
        OsStr::new("--component"),
        component.as_os_str(),
    ]);
    out.err();
    assert!(
        out.stdout.starts_with("FAIL chain_last_completion")
            && out
                .stdout
                .contains(r#"output: expected ["r0","r1"], got ["r0","r1","r2"]"#),
        "{}",
        out.stdout
    );
}

#[test]
fn durable_replay_prints_the_report_of_a_history_and_new_events() {
    let durable = Durable::new();
    let component = guest("conformance-guest");
    let scenario = Scenario::load(&scenario_dir().join("chain_one_completion.json")).unwrap();
    let (history, turn) = scenario.history().unwrap();
    let history_file = durable.path("history.json");
    std::fs::write(&history_file, serde_json::to_string(&history).unwrap()).unwrap();
    let events_file = durable.path("new-events.json");
    std::fs::write(&events_file, serde_json::to_string(&turn.events).unwrap()).unwrap();
    let replay = |orchestrator: &str| {
        durable.run([
            OsStr::new("replay"),
            OsStr::new("--component"),
            component.as_os_str(),
            OsStr::new("--orchestrator"),
            OsStr::new(orchestrator),
            OsStr::new("--history"),
            history_file.as_os_str(),
            OsStr::new("--new-events"),
            events_file.as_os_str(),
        ])
    };

    let out = replay("chain");
    let report: serde_json::Value = serde_json::from_str(out.ok()).unwrap();
    assert_eq!(report["status"], "Running");
    assert_eq!(
        report["actions"],
        serde_json::json!([{ "id": 1, "type": "ScheduleActivity", "name": "step", "input": "1" }])
    );

    // A changed orchestrator: the report names the nondeterminism and the exit code is 1.
    let out = replay("timer_fire");
    assert!(out.err().contains("NonDeterminism"), "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["failure"]["type"], "NonDeterminism");
    assert_eq!(report["failedBy"], "host");
}
