//! Property test of replay: random programs (activity calls, caught failures, fan-out,
//! timers, events, races of an event against a timer, sub-orchestrations, uuids, custom
//! status) run by the probe's `interpret` orchestrator on two hosts: one that keeps each live
//! guest between turns (cached) and one with no cache, where every turn replays the history
//! into a fresh guest (cold). Both must end with the output the model below computes, and each
//! history must replay cold, action for action, against the component: the cached guest decided
//! exactly what a cold replay decides.

use crate::support::*;
use durable_host::types::RuntimeStatus;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};
use std::time::Duration;

/// One step of an `interpret` program.
#[derive(Debug, Clone)]
enum Step {
    Call(i64),
    Fail,
    Fan(Vec<i64>),
    Timer(u64),
    Event(&'static str),
    Race(&'static str, u64),
    Sub(Vec<Step>),
    Uuid,
    Status(i64),
}

/// Event names the driver raises (each once per step that waits for it) and one it never does.
const RAISED: [&str; 2] = ["a", "b"];
const NEVER: &str = "never";

impl Step {
    fn json(&self) -> Value {
        match self {
            Step::Call(n) => json!({ "call": n }),
            Step::Fail => json!({ "fail": 0 }),
            Step::Fan(ns) => json!({ "fan": ns }),
            Step::Timer(secs) => json!({ "timer": secs }),
            Step::Event(name) => json!({ "event": name }),
            Step::Race(name, secs) => json!({ "race": [name, secs] }),
            Step::Sub(steps) => json!({ "sub": program_json(steps) }),
            Step::Uuid => json!({ "uuid": 0 }),
            Step::Status(n) => json!({ "status": n }),
        }
    }

    /// Whether `got` is what the step returns: a value the model computes, or any uuid.
    fn agrees(&self, got: &Value) -> bool {
        let want = match self {
            Step::Call(n) => json!(n * 2),
            Step::Fail => json!("failed"),
            Step::Fan(ns) => json!(ns.iter().map(|n| n * 2).collect::<Vec<_>>()),
            Step::Timer(_) => json!("timer"),
            // The driver raises every event before the instance starts; a buffered event is
            // there when the code waits, so it also wins a race against a timer.
            Step::Event(name) => json!(name),
            Step::Race(name, _) if *name == NEVER => json!("timer"),
            Step::Race(..) => json!("event"),
            Step::Sub(steps) => return all_agree(steps, got),
            Step::Uuid => return got.as_str().is_some_and(|s| s.len() == 36),
            Step::Status(_) => json!("status"),
        };
        *got == want
    }

    /// Events the step waits for (a sub-orchestration's are its own instance's: none here).
    fn waits_for(&self) -> Option<&'static str> {
        match self {
            Step::Event(name) | Step::Race(name, _) if *name != NEVER => Some(name),
            _ => None,
        }
    }
}

/// Whether `got` is the output of `steps`: one agreeing value per step.
fn all_agree(steps: &[Step], got: &Value) -> bool {
    got.as_array().is_some_and(|out| {
        out.len() == steps.len() && steps.iter().zip(out).all(|(step, got)| step.agrees(got))
    })
}

fn program_json(steps: &[Step]) -> Value {
    Value::Array(steps.iter().map(Step::json).collect())
}

/// A step a child can run (no events: they would have to be raised on the child).
fn child_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0i64..100).prop_map(Step::Call),
        1 => Just(Step::Fail),
        1 => proptest::collection::vec(0i64..100, 0..5).prop_map(Step::Fan),
        1 => (1u64..20).prop_map(Step::Timer),
        1 => Just(Step::Uuid),
        1 => (0i64..10).prop_map(Step::Status),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => child_step(),
        1 => proptest::sample::select(RAISED.to_vec()).prop_map(Step::Event),
        1 => (proptest::sample::select(vec![RAISED[0], RAISED[1], NEVER]), 1u64..20)
            .prop_map(|(name, secs)| Step::Race(name, secs)),
        1 => proptest::collection::vec(child_step(), 0..4).prop_map(Step::Sub),
    ]
}

/// Total history events in the host's database: moves whenever any instance makes progress.
fn progress(host: &TestHost) -> i64 {
    let db = rusqlite::Connection::open(host.db_path()).expect("db");
    db.query_row("SELECT COUNT(*) FROM history", [], |r| r.get(0))
        .expect("counting")
}

/// Runs `steps` as instance `id` on `host` to the end: raises every event first, then moves
/// the clock past any timer whenever nothing else moves. Returns the output.
async fn run(host: &TestHost, id: &str, steps: &[Step]) -> Result<Value, TestCaseError> {
    host.start_as("interpret", id, program_json(steps).to_string())
        .await;
    for (n, step) in steps.iter().enumerate() {
        if let Some(name) = step.waits_for() {
            host.client()
                .raise_event(id, name, &json!(name).to_string())
                .await
                .map_err(|e| TestCaseError::fail(format!("raising {name} ({n}): {e}")))?;
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let record = host.client().status(id).await.expect("instance");
        if record.status.is_terminal() {
            prop_assert_eq!(record.status, RuntimeStatus::Completed, "{:#?}", record);
            return Ok(output(&record));
        }
        // Timers are at most 20 s: one advance fires every open one.
        let before = progress(host);
        host.clock.advance(Duration::from_secs(30));
        while progress(host) == before
            && !host.client().status(id).await.unwrap().status.is_terminal()
        {
            prop_assert!(tokio::time::Instant::now() < deadline, "{} stalled", id);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// Checks the output against the model and that the history replays cold against the probe.
async fn check(
    host: &TestHost,
    id: &str,
    steps: &[Step],
    out: &Value,
) -> Result<(), TestCaseError> {
    prop_assert!(all_agree(steps, out), "{id}: {steps:?} gave {out}");
    let history = host.client().history(id).await.unwrap();
    let replayed = host
        .host
        .replay_history(&guest_bytes("probe"), "interpret", &history)
        .await;
    prop_assert!(
        replayed.is_ok(),
        "{id}: cold replay disagrees: {replayed:?}"
    );
    Ok(())
}

/// Random programs end with the model's output on a caching host and on a host that replays
/// every turn cold, and both histories replay cold action for action.
#[test]
fn cached_and_cold_replay_decide_the_same_for_random_programs() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (cached, cold) = runtime.block_on(async {
        let cached = TestHost::running(&["probe"]).await;
        let mut cold = TestHost::with_config(|c| c.cache_capacity = 0);
        cold.deploy(&["probe"]).await;
        cold.run();
        (cached, cold)
    });
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None, // a failure prints its minimal case; nothing is written
        ..Config::default()
    });
    let case = std::sync::atomic::AtomicU32::new(0);
    let programs = proptest::collection::vec(step(), 1..8);
    let outcome = runner.run(&programs, |steps| {
        let id = format!(
            "p{}",
            case.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        runtime.block_on(async {
            let from_cache = run(&cached, &id, &steps).await?;
            check(&cached, &id, &steps, &from_cache).await?;
            let from_cold = run(&cold, &id, &steps).await?;
            check(&cold, &id, &steps, &from_cold).await
            // (The outputs differ only in uuids, which derive from each execution's id.)
        })
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
}
