//! Conformance scenarios: a hand-written history, the events of one new turn, and what the
//! orchestrator must decide (format: `tests/conformance/README.md`).
//!
//! A [`Scenario`] file is read into engine history ([`Scenario::history`]): turns get their
//! `OrchestratorStarted` event and time, the first turn its `ExecutionStarted`, events their
//! ids, and payloads written as JSON values become the engine's JSON text. [`run`] replays it
//! with [`replay_turn`] and [`compare`]s the report, with payloads decoded back to values
//! ([`readable`]), against the scenario's `expect`.

use super::{NewTurn, ReplayReport, replay_turn};
use crate::replay::Scheduled;
use crate::types::{EventKind, HistoryEvent, Timestamp};
use crate::wasm::{LoadedComponent, WasmRuntime};
use anyhow::{Context as _, bail};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::fmt;
use std::path::{Path, PathBuf};

/// The instance id scenarios run under unless they say otherwise (`new_uuid` depends on it).
pub const DEFAULT_INSTANCE_ID: &str = "conformance";
/// The execution id of the generated `ExecutionStarted` event.
pub const EXECUTION_ID: &str = "e1";
/// Turns without a `time` start this long after the previous one (the first at this time).
pub const TURN_SPACING_MS: Timestamp = 1000;

/// The keys `expect` may have.
const EXPECT_KEYS: &[&str] = &[
    "status",
    "actions",
    "output",
    "failure",
    "failedBy",
    "newInput",
    "customStatus",
    "replayedActions",
];

/// One conformance scenario, as written in its file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    /// The scenario's name: its file's name without `.json`.
    pub name: String,
    /// One sentence: what the scenario shows.
    #[serde(default)]
    pub description: Option<String>,
    /// The orchestrator to run.
    pub orchestrator: String,
    /// The orchestrator's input, as a JSON value (default `null`).
    #[serde(default)]
    pub input: Value,
    /// The instance id it runs under (default [`DEFAULT_INSTANCE_ID`]).
    #[serde(default = "default_instance_id")]
    pub instance_id: String,
    /// Committed turns, replayed.
    #[serde(default)]
    pub history: Vec<Turn>,
    /// The messages of the live turn under test.
    #[serde(default)]
    pub new_events: Option<Turn>,
    /// What the new turn's report must hold, by key (`status`, `actions`, ...); only the keys
    /// given are checked ([`compare`]).
    pub expect: Map<String, Value>,
}

fn default_instance_id() -> String {
    DEFAULT_INSTANCE_ID.into()
}

/// A turn: its events, or its time and its events.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Turn {
    /// Its events, as written; the turn is [`TURN_SPACING_MS`] after the previous one.
    Events(Vec<Value>),
    /// Its time and its events.
    Timed {
        /// The turn's time, ms since the epoch.
        time: Timestamp,
        /// Its events, as written (payloads as JSON values, ids optional).
        events: Vec<Value>,
    },
}

impl Turn {
    fn time(&self) -> Option<Timestamp> {
        match self {
            Turn::Events(_) => None,
            Turn::Timed { time, .. } => Some(*time),
        }
    }

    fn events(&self) -> &[Value] {
        match self {
            Turn::Events(events) | Turn::Timed { events, .. } => events,
        }
    }
}

/// An event as written, before it is numbered.
struct WrittenEvent {
    event_id: Option<u32>,
    timestamp: Option<Timestamp>,
    kind: EventKind,
}

impl Scenario {
    /// Reads and checks one scenario file.
    pub fn load(path: &Path) -> anyhow::Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let scenario: Scenario = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a conformance scenario", path.display()))?;
        if let Some(key) = scenario
            .expect
            .keys()
            .find(|k| !EXPECT_KEYS.contains(&k.as_str()))
        {
            bail!(
                "{}: `expect` has an unknown key `{key}` (known: {})",
                path.display(),
                EXPECT_KEYS.join(", ")
            );
        }
        Ok(scenario)
    }

    /// The `*.json` scenario files of a directory, sorted by name; a file is itself.
    pub fn files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
        if !path.is_dir() {
            return Ok(vec![path.to_path_buf()]);
        }
        let mut files = Vec::new();
        for entry in
            std::fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))?
        {
            let file = entry?.path();
            if file.extension().is_some_and(|e| e == "json") {
                files.push(file);
            }
        }
        files.sort();
        Ok(files)
    }

    fn execution_started(&self) -> EventKind {
        EventKind::ExecutionStarted {
            name: self.orchestrator.clone(),
            instance_id: self.instance_id.clone(),
            execution_id: EXECUTION_ID.into(),
            input: self.input.to_string(),
            parent: None,
            version: None,
            trace: None,
        }
    }

    fn written(
        &self,
        turn: &Turn,
        at: Timestamp,
        first: bool,
    ) -> anyhow::Result<Vec<WrittenEvent>> {
        let mut events = turn
            .events()
            .iter()
            .enumerate()
            .map(|(i, value)| {
                written_event(value, at).with_context(|| format!("event {i} ({value})"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let has_start = events
            .iter()
            .any(|e| matches!(e.kind, EventKind::ExecutionStarted { .. }));
        if first && !has_start {
            events.insert(
                0,
                WrittenEvent {
                    event_id: None,
                    timestamp: None,
                    kind: self.execution_started(),
                },
            );
        }
        Ok(events)
    }

    /// The committed history in the engine's form, and the new turn.
    pub fn history(&self) -> anyhow::Result<(Vec<HistoryEvent>, NewTurn)> {
        let mut history = Vec::new();
        let mut time = 0;
        let mut sequence = 0;
        for (index, turn) in self.history.iter().enumerate() {
            time = turn.time().unwrap_or(time + TURN_SPACING_MS);
            history.push(HistoryEvent {
                event_id: None,
                timestamp: time,
                kind: EventKind::OrchestratorStarted,
            });
            let events = self
                .written(turn, time, index == 0)
                .with_context(|| format!("history turn {index}"))?;
            for event in events {
                let event_id = match (event.event_id, Scheduled::of_event(&event.kind)) {
                    (Some(id), _) => Some(id),
                    (None, Some(_)) => Some(sequence),
                    (None, None) => None,
                };
                if let (Some(id), Some(_)) = (event_id, Scheduled::of_event(&event.kind)) {
                    sequence = id + 1;
                }
                history.push(HistoryEvent {
                    event_id,
                    timestamp: event.timestamp.unwrap_or(time),
                    kind: event.kind,
                });
            }
        }
        let empty = Turn::Events(Vec::new());
        let turn = self.new_events.as_ref().unwrap_or(&empty);
        let at = turn.time().unwrap_or(time + TURN_SPACING_MS);
        let events = self
            .written(turn, at, self.history.is_empty())
            .context("newEvents")?;
        let new_turn = NewTurn {
            at,
            events: events.into_iter().map(|e| e.kind).collect(),
        };
        Ok((history, new_turn))
    }
}

/// Reads one event written with JSON-value payloads and optional ids.
fn written_event(value: &Value, at: Timestamp) -> anyhow::Result<WrittenEvent> {
    let Some(object) = value.as_object() else {
        bail!("an event is a JSON object with a `type`");
    };
    let mut object = object.clone();
    let event_id = match object.remove("eventId") {
        Some(id) => Some(serde_json::from_value(id).context("`eventId` is a number")?),
        None => None,
    };
    let timestamp = match object.remove("timestamp") {
        Some(ts) => Some(serde_json::from_value(ts).context("`timestamp` is a number")?),
        None => None,
    };
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .context("an event needs a `type`, e.g. \"TaskCompleted\"")?
        .to_owned();
    let defaults: &[(&str, Value)] = match kind.as_str() {
        "TaskScheduled" | "EventRaised" | "ContinuedAsNew" => &[("input", Value::Null)],
        "EventSent" => &[("input", Value::Null), ("instanceId", json!(""))],
        "SubOrchestrationCreated" => &[("input", Value::Null), ("instanceId", json!(""))],
        "TaskCompleted" | "SubOrchestrationCompleted" => &[("result", Value::Null)],
        "TimerFired" => &[("fireAt", json!(at))],
        _ => &[],
    };
    for (key, default) in defaults {
        object
            .entry(key.to_string())
            .or_insert_with(|| default.clone());
    }
    if kind != "EntityResponded" {
        for key in ["input", "result"] {
            if let Some(payload) = object.get_mut(key) {
                *payload = Value::String(payload.to_string());
            }
        }
    }
    if let Some(details) = object.get_mut("failure").and_then(|f| f.get_mut("details")) {
        *details = Value::String(details.to_string());
    }
    let kind = serde_json::from_value(Value::Object(object))?;
    Ok(WrittenEvent {
        event_id,
        timestamp,
        kind,
    })
}

/// JSON text as a value; text that is not JSON stays a string (as the SDK reads payloads).
fn decode(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

fn decode_in_place(value: &mut Value) {
    if let Value::String(text) = value {
        *value = decode(text);
    }
}

/// The report with payloads as JSON values: what `expect` is compared with.
pub fn readable(report: &ReplayReport) -> Value {
    let mut value = serde_json::to_value(report).unwrap_or(Value::Null);
    let Some(object) = value.as_object_mut() else {
        return value;
    };
    for key in ["output", "newInput", "customStatus"] {
        if let Some(payload) = object.get_mut(key) {
            decode_in_place(payload);
        }
    }
    if let Some(details) = object.get_mut("failure").and_then(|f| f.get_mut("details")) {
        decode_in_place(details);
    }
    if let Some(Value::Array(actions)) = object.get_mut("actions") {
        for action in actions {
            let Some(action) = action.as_object_mut() else {
                continue;
            };
            for key in ["input", "result", "status"] {
                if let Some(payload) = action.get_mut(key) {
                    decode_in_place(payload);
                }
            }
            if let Some(details) = action.get_mut("failure").and_then(|f| f.get_mut("details")) {
                decode_in_place(details);
            }
            // Continue-as-new: the events carried into the next execution.
            if let Some(Value::Array(carried)) = action.get_mut("carriedEvents") {
                for event in carried {
                    if let Some(input) = event.get_mut("input") {
                        decode_in_place(input);
                    }
                }
            }
        }
    }
    value
}

/// One difference between `expect` and the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Where, e.g. `actions[1].name`.
    pub path: String,
    /// What `expect` has there.
    pub expected: Value,
    /// `null` when the report has nothing there.
    pub actual: Value,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}, got {}",
            self.path, self.expected, self.actual
        )
    }
}

/// Compares a readable report with `expect`: `actions` must have as many entries as expected,
/// each holding at least the keys given; `failure` must hold at least the keys given; every
/// other key must be equal.
pub fn compare(expect: &Map<String, Value>, actual: &Value) -> Vec<Mismatch> {
    let mut mismatches = Vec::new();
    for (key, expected) in expect {
        let got = actual.get(key).unwrap_or(&Value::Null);
        match key.as_str() {
            "actions" | "failure" => contains(expected, got, key.clone(), &mut mismatches),
            _ if expected != got => mismatches.push(Mismatch {
                path: key.clone(),
                expected: expected.clone(),
                actual: got.clone(),
            }),
            _ => {}
        }
    }
    mismatches
}

fn contains(expected: &Value, actual: &Value, path: String, out: &mut Vec<Mismatch>) {
    match (expected, actual) {
        (Value::Object(want), Value::Object(got)) => {
            for (key, value) in want {
                let inner = got.get(key).unwrap_or(&Value::Null);
                contains(value, inner, format!("{path}.{key}"), out);
            }
        }
        (Value::Array(want), Value::Array(got)) if want.len() == got.len() => {
            for (i, (w, g)) in want.iter().zip(got).enumerate() {
                contains(w, g, format!("{path}[{i}]"), out);
            }
        }
        _ if expected != actual => out.push(Mismatch {
            path,
            expected: expected.clone(),
            actual: actual.clone(),
        }),
        _ => {}
    }
}

/// A scenario's verdict.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    /// The scenario's name.
    pub name: String,
    /// Every difference from `expect`; empty when it passed.
    pub mismatches: Vec<Mismatch>,
    /// The readable report.
    pub actual: Value,
}

impl ScenarioResult {
    /// True when the report matched `expect`.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

impl fmt::Display for ScenarioResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.passed() {
            return write!(f, "PASS {}", self.name);
        }
        writeln!(f, "FAIL {}", self.name)?;
        for mismatch in &self.mismatches {
            writeln!(f, "  {mismatch}")?;
        }
        let actual = serde_json::to_string_pretty(&self.actual).unwrap_or_default();
        write!(
            f,
            "  actual report:\n    {}",
            actual.replace('\n', "\n    ")
        )
    }
}

/// Runs a scenario against a loaded component.
pub async fn run(
    runtime: &WasmRuntime,
    component: &LoadedComponent,
    scenario: &Scenario,
) -> anyhow::Result<ScenarioResult> {
    let (history, new_turn) = scenario
        .history()
        .with_context(|| format!("scenario `{}`", scenario.name))?;
    let report = replay_turn(
        runtime,
        component,
        &scenario.orchestrator,
        &history,
        Some(new_turn),
    )
    .await?;
    let actual = readable(&report);
    Ok(ScenarioResult {
        name: scenario.name.clone(),
        mismatches: compare(&scenario.expect, &actual),
        actual,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(text: Value) -> Scenario {
        serde_json::from_value(text).unwrap()
    }

    #[test]
    fn compact_turns_become_numbered_engine_history() {
        let s = scenario(json!({
            "name": "t",
            "orchestrator": "chain",
            "input": 2,
            "history": [
                [{ "type": "TaskScheduled", "name": "step", "input": 0 }],
                { "time": 5000, "events": [
                    { "type": "TaskCompleted", "taskId": 0, "result": "a" },
                    { "type": "TaskScheduled", "name": "step", "input": 1 }
                ]}
            ],
            "newEvents": [{ "type": "TaskCompleted", "taskId": 1 }],
            "expect": {}
        }));
        let (history, turn) = s.history().unwrap();
        let got: Vec<(Option<u32>, u64, &str)> = history
            .iter()
            .map(|e| (e.event_id, e.timestamp, e.kind.label()))
            .collect();
        assert_eq!(
            got,
            [
                (None, 1000, "OrchestratorStarted"),
                (None, 1000, "ExecutionStarted"),
                (Some(0), 1000, "TaskScheduled"),
                (None, 5000, "OrchestratorStarted"),
                (None, 5000, "TaskCompleted"),
                (Some(1), 5000, "TaskScheduled"),
            ]
        );
        assert_eq!(
            history[4].kind,
            EventKind::TaskCompleted {
                task_id: 0,
                result: "\"a\"".into()
            }
        );
        assert_eq!(turn.at, 6000);
        assert_eq!(
            turn.events,
            [EventKind::TaskCompleted {
                task_id: 1,
                result: "null".into()
            }]
        );
    }

    #[test]
    fn an_empty_history_starts_the_execution_in_the_new_turn() {
        let s = scenario(json!({
            "name": "t", "orchestrator": "o", "input": {"a": 1}, "expect": {}
        }));
        let (history, turn) = s.history().unwrap();
        assert!(history.is_empty());
        assert_eq!(turn.at, 1000);
        assert!(matches!(
            &turn.events[..],
            [EventKind::ExecutionStarted { input, .. }] if input == "{\"a\":1}"
        ));
    }

    #[test]
    fn compare_checks_listed_keys_only() {
        let actual = json!({
            "status": "Failed",
            "actions": [{ "id": 0, "type": "ScheduleActivity", "name": "a", "input": 1 }],
            "failure": { "type": "X", "message": "m", "nonRetriable": false },
            "customStatus": null
        });
        let expect = json!({
            "status": "Failed",
            "actions": [{ "type": "ScheduleActivity", "name": "a" }],
            "failure": { "type": "X" }
        });
        assert!(compare(expect.as_object().unwrap(), &actual).is_empty());
        let expect = json!({
            "actions": [{ "name": "b" }],
            "customStatus": "busy",
            "failure": { "type": "Y" }
        });
        let paths: Vec<String> = compare(expect.as_object().unwrap(), &actual)
            .into_iter()
            .map(|m| m.path)
            .collect();
        assert_eq!(paths, ["actions[0].name", "customStatus", "failure.type"]);
        let expect = json!({ "actions": [] });
        assert_eq!(compare(expect.as_object().unwrap(), &actual).len(), 1);
    }
}
