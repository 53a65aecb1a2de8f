//! Replay executor tests with hand-built histories: no wasm, no host.
//!
//! Each test writes an orchestrator with the real `#[orchestrator]` macro, feeds its executor
//! turns of `history-event` records (a turn opens with `orchestrator-started`) and checks the
//! actions it decides. `cold_equals_cached` runs the same turns both ways a host may: one cached
//! executor fed turn by turn, and a fresh one fed the committed history (replaying) and then the
//! last turn. The submodules cover spawned futures, retry policies, and timed waits with
//! continue-as-new; they share this harness.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::bindings::wit_orch::{
    Action, ActionKind, EventKind, EventRaised, ExecutionStarted, HistoryEvent, ScheduleActivity,
    StartTimer, SubOrchestrationCompleted, SubOrchestrationFailed, TaskCompleted, TaskFailed,
    TaskScheduled, TimerCreated, TimerFired,
};
use crate::bindings::wit_types;
use crate::export::OrchestratorRegistration;
use crate::orchestration::{Executor, OrchestrationContext, Task, task_all, task_any};
use crate::{Failure, LogLevel};

mod entities;
mod events;
mod http;
mod retry;
mod spawn;

const T0: u64 = 1_700_000_000_000;
const INSTANCE: &str = "instance-1";

// ---------------------------------------------------------------------------------------------
// Harness

type Logs = Rc<RefCell<Vec<(LogLevel, String)>>>;

fn executor(registration: OrchestratorRegistration) -> (Executor, Logs) {
    let logs: Logs = Rc::default();
    let sink = logs.clone();
    let executor = Executor::new(
        registration.entry,
        INSTANCE.to_owned(),
        Rc::new(move |level, message: &str| sink.borrow_mut().push((level, message.to_owned()))),
    );
    (executor, logs)
}

fn event(kind: EventKind) -> HistoryEvent {
    HistoryEvent {
        event_id: None,
        timestamp: T0,
        kind,
    }
}

/// The events that open turn `n` (time `T0 + n seconds`).
fn turn_start(n: u64) -> HistoryEvent {
    HistoryEvent {
        event_id: None,
        timestamp: T0 + n * 1000,
        kind: EventKind::OrchestratorStarted,
    }
}

fn execution_started(input: Value) -> HistoryEvent {
    event(EventKind::ExecutionStarted(ExecutionStarted {
        name: "test".into(),
        instance_id: INSTANCE.into(),
        execution_id: "execution-1".into(),
        input: input.to_string(),
        parent: None,
    }))
}

fn first_turn(input: Value) -> Vec<HistoryEvent> {
    vec![turn_start(0), execution_started(input)]
}

fn scheduled(id: u32, name: &str, input: Value) -> HistoryEvent {
    let mut e = event(EventKind::TaskScheduled(TaskScheduled {
        name: name.into(),
        input: input.to_string(),
    }));
    e.event_id = Some(id);
    e
}

fn completed(id: u32, result: Value) -> HistoryEvent {
    event(EventKind::TaskCompleted(TaskCompleted {
        task_id: id,
        result: result.to_string(),
    }))
}

fn failed(id: u32, failure: Failure) -> HistoryEvent {
    event(EventKind::TaskFailed(TaskFailed {
        task_id: id,
        failure: failure.into(),
    }))
}

fn timer_created(id: u32, fire_at: u64) -> HistoryEvent {
    let mut e = event(EventKind::TimerCreated(TimerCreated { fire_at }));
    e.event_id = Some(id);
    e
}

fn timer_fired(id: u32, fire_at: u64) -> HistoryEvent {
    event(EventKind::TimerFired(TimerFired {
        timer_id: id,
        fire_at,
    }))
}

fn raised(name: &str, input: Value) -> HistoryEvent {
    event(EventKind::EventRaised(EventRaised {
        name: name.into(),
        input: input.to_string(),
    }))
}

fn sub_completed(id: u32, result: Value) -> HistoryEvent {
    event(EventKind::SubOrchestrationCompleted(
        SubOrchestrationCompleted {
            task_id: id,
            result: result.to_string(),
        },
    ))
}

fn sub_failed(id: u32, failure: Failure) -> HistoryEvent {
    event(EventKind::SubOrchestrationFailed(SubOrchestrationFailed {
        task_id: id,
        failure: failure.into(),
    }))
}

fn timer(id: u32, fire_at: u64) -> Action {
    Action {
        id,
        kind: ActionKind::StartTimer(StartTimer { fire_at }),
    }
}

fn cancel_timer(id: u32) -> Action {
    Action {
        id: 0,
        kind: ActionKind::CancelTimer(id),
    }
}

fn schedule(id: u32, name: &str, input: Value) -> Action {
    Action {
        id,
        kind: ActionKind::ScheduleActivity(ScheduleActivity {
            name: name.into(),
            input: input.to_string(),
        }),
    }
}

fn complete(output: Value) -> Action {
    Action {
        id: 0,
        kind: ActionKind::Complete(output.to_string()),
    }
}

fn custom_status(status: Option<Value>) -> Action {
    Action {
        id: 0,
        kind: ActionKind::SetCustomStatus(status.map(|s| s.to_string())),
    }
}

/// The failure of a `fail` action, or a panic.
fn failure_of(action: &Action) -> Failure {
    match &action.kind {
        ActionKind::Fail(failure) => Failure::from(failure.clone()),
        other => panic!("expected a fail action, got {other:?}"),
    }
}

/// The output of a `complete` action, or a panic.
fn output_of(action: &Action) -> Value {
    match &action.kind {
        ActionKind::Complete(json) => serde_json::from_str(json).unwrap(),
        other => panic!("expected a complete action, got {other:?}"),
    }
}

/// Feeds each turn to one cached executor (not replaying); returns the actions of each turn.
fn run_cached(
    registration: OrchestratorRegistration,
    turns: &[Vec<HistoryEvent>],
) -> Vec<Vec<Action>> {
    let (mut executor, _) = executor(registration);
    turns
        .iter()
        .map(|turn| executor.step(turn.clone(), false))
        .collect()
}

/// Feeds all but the last turn to a fresh executor as replayed history, then the last turn.
fn run_cold(
    registration: OrchestratorRegistration,
    turns: &[Vec<HistoryEvent>],
) -> (Vec<Action>, Vec<Action>) {
    let (mut executor, _) = executor(registration);
    let (last, history) = turns.split_last().unwrap();
    let replayed = executor.step(history.concat(), true);
    let new = executor.step(last.clone(), false);
    (replayed, new)
}

/// Runs the turns both ways, checks that both decide the same actions, and returns the cached
/// executor's actions per turn.
fn run_both(
    registration: OrchestratorRegistration,
    turns: &[Vec<HistoryEvent>],
) -> Vec<Vec<Action>> {
    let cached = run_cached(registration, turns);
    let (replayed, new) = run_cold(registration, turns);
    let (cached_last, cached_history) = cached.split_last().unwrap();
    assert_eq!(replayed, cached_history.concat(), "replayed actions differ");
    assert_eq!(&new, cached_last, "actions of the new turn differ");
    cached
}

// ---------------------------------------------------------------------------------------------
// Orchestrators under test

#[crate::orchestrator]
async fn hello_sequence(ctx: OrchestrationContext) -> Result<Vec<String>, Failure> {
    let mut out = Vec::new();
    for city in ["Tokyo", "Seattle", "London"] {
        out.push(ctx.call_activity::<String>("say_hello", city).await?);
    }
    Ok(out)
}

fn hello_turns(completions: usize) -> Vec<Vec<HistoryEvent>> {
    let cities = ["Tokyo", "Seattle", "London"];
    let mut turns = vec![first_turn(Value::Null)];
    for (i, city) in cities.iter().take(completions).enumerate() {
        let id = u32::try_from(i).unwrap();
        turns
            .last_mut()
            .unwrap()
            .push(scheduled(id, "say_hello", json!(city)));
        turns.push(vec![
            turn_start(i as u64 + 1),
            completed(id, json!(format!("Hello {city}!"))),
        ]);
    }
    turns
}

#[test]
fn chaining_after_each_completion() {
    let cities = ["Tokyo", "Seattle", "London"];
    for completions in 0..=3 {
        let turns = hello_turns(completions);
        let actions = run_both(hello_sequence::__DURABLE_ORCHESTRATOR, &turns);
        let last = actions.last().unwrap();
        if completions < 3 {
            let id = u32::try_from(completions).unwrap();
            assert_eq!(
                last,
                &vec![schedule(id, "say_hello", json!(cities[completions]))]
            );
        } else {
            assert_eq!(
                last,
                &vec![complete(json!([
                    "Hello Tokyo!",
                    "Hello Seattle!",
                    "Hello London!"
                ]))]
            );
        }
        // Cold replay re-decides every earlier action, ids 0, 1, 2 in order.
        let (replayed, _) = run_cold(hello_sequence::__DURABLE_ORCHESTRATOR, &turns);
        let expected: Vec<Action> = (0..completions)
            .map(|i| schedule(u32::try_from(i).unwrap(), "say_hello", json!(cities[i])))
            .collect();
        assert_eq!(replayed, expected);
    }
}

#[test]
fn events_after_completion_are_ignored() {
    let mut turns = hello_turns(3);
    turns.push(vec![turn_start(9), completed(7, json!("late"))]);
    let actions = run_cached(hello_sequence::__DURABLE_ORCHESTRATOR, &turns);
    assert!(actions.last().unwrap().is_empty());
}

fn bad_thing() -> Failure {
    Failure::new("BadThing", "it broke").with_details(json!({"code": 7}))
}

#[crate::orchestrator]
async fn uncaught_failure(ctx: OrchestrationContext) -> Result<String, Failure> {
    ctx.call_activity::<String>("fail_always", ()).await
}

#[test]
fn activity_failure_propagates_as_structured_failure() {
    let turns = vec![
        first_turn(Value::Null),
        vec![turn_start(1), failed(0, bad_thing().non_retriable())],
    ];
    let actions = run_both(uncaught_failure::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(actions[1].len(), 1);
    let failure = failure_of(&actions[1][0]);
    assert_eq!(failure.error_type, "BadThing");
    assert_eq!(failure.message, "it broke");
    assert_eq!(failure.details.as_deref(), Some(&json!({"code": 7})));
    assert!(failure.non_retriable);
}

#[crate::orchestrator]
async fn caught_failure(ctx: OrchestrationContext) -> Result<String, Failure> {
    match ctx.call_activity::<String>("fail_always", ()).await {
        Ok(v) => Ok(v),
        Err(f) if f.is("BadThing") => Ok(format!("caught code {}", f.details.unwrap()["code"])),
        Err(f) => Err(f),
    }
}

#[test]
fn activity_failure_can_be_caught_by_type() {
    let turns = vec![
        first_turn(Value::Null),
        vec![turn_start(1), failed(0, bad_thing())],
    ];
    let actions = run_both(caught_failure::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(actions[1], vec![complete(json!("caught code 7"))]);
}

#[crate::orchestrator]
async fn takes_a_number(_ctx: OrchestrationContext, n: u32) -> Result<u32, Failure> {
    Ok(n + 1)
}

#[test]
fn bad_input_fails_with_invalid_input() {
    let actions = run_cached(
        takes_a_number::__DURABLE_ORCHESTRATOR,
        &[first_turn(json!("x"))],
    );
    let failure = failure_of(&actions[0][0]);
    assert_eq!(failure.error_type, crate::INVALID_INPUT);
    assert!(failure.message.contains("u32"), "{}", failure.message);
    assert!(failure.non_retriable);
    let actions = run_cached(
        takes_a_number::__DURABLE_ORCHESTRATOR,
        &[first_turn(json!(41))],
    );
    assert_eq!(actions[0], vec![complete(json!(42))]);
}

#[crate::orchestrator]
async fn fan_out(ctx: OrchestrationContext, n: u32) -> Result<u32, Failure> {
    let tasks: Vec<Task<u32>> = (0..n).map(|i| ctx.call_activity("work", i)).collect();
    Ok(task_all(tasks).await?.into_iter().sum())
}

#[test]
fn fan_out_fan_in_succeeds() {
    let mut turns = vec![first_turn(json!(3))];
    turns.push(vec![
        turn_start(1),
        completed(2, json!(4)),
        completed(0, json!(0)),
    ]);
    turns.push(vec![turn_start(2), completed(1, json!(2))]);
    let actions = run_both(fan_out::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(
        actions[0],
        vec![
            schedule(0, "work", json!(0)),
            schedule(1, "work", json!(1)),
            schedule(2, "work", json!(2)),
        ]
    );
    assert!(actions[1].is_empty());
    assert_eq!(actions[2], vec![complete(json!(6))]);
}

#[test]
fn fan_out_fan_in_fails_with_first_failure_in_history_order() {
    let turns = vec![
        first_turn(json!(3)),
        vec![
            turn_start(1),
            completed(0, json!(0)),
            failed(2, Failure::new("Second", "task 2")),
            failed(1, Failure::new("Third", "task 1")),
        ],
    ];
    let actions = run_both(fan_out::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(failure_of(&actions[1][0]).error_type, "Second");
}

#[crate::orchestrator]
async fn fail_fast(ctx: OrchestrationContext) -> Result<u32, Failure> {
    let tasks: Vec<Task<u32>> = (0..2).map(|i| ctx.call_activity("work", i)).collect();
    Ok(task_all(tasks).await?.into_iter().sum())
}

#[test]
fn task_all_fails_without_waiting_for_the_rest() {
    let turns = vec![
        first_turn(Value::Null),
        vec![turn_start(1), failed(1, Failure::new("Boom", "x"))],
    ];
    let actions = run_both(fail_fast::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(failure_of(&actions[1][0]).error_type, "Boom");
}

#[crate::orchestrator]
async fn race(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let tasks: Vec<Task<String>> = ["a", "b", "c"]
        .iter()
        .map(|n| ctx.call_activity(n, ()))
        .collect();
    let (index, outcome) = task_any(tasks).await?;
    Ok(match outcome {
        Ok(v) => json!({"index": index, "ok": v}),
        Err(f) => json!({"index": index, "err": f.error_type}),
    })
}

#[test]
fn task_any_winner_is_first_in_history_order() {
    let turns = vec![
        first_turn(Value::Null),
        vec![
            turn_start(1),
            completed(2, json!("C")),
            completed(1, json!("B")),
        ],
    ];
    let actions = run_both(race::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(actions[1], vec![complete(json!({"index": 2, "ok": "C"}))]);
}

#[test]
fn task_any_failed_task_can_win() {
    let turns = vec![
        first_turn(Value::Null),
        vec![
            turn_start(1),
            failed(1, Failure::new("Nope", "b failed")),
            completed(0, json!("A")),
        ],
    ];
    let actions = run_both(race::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(
        actions[1],
        vec![complete(json!({"index": 1, "err": "Nope"}))]
    );
}

/// Combinators created after their children finished still decide by history order, and a
/// pending task can go into a second `task_any`; combinators nest.
#[crate::orchestrator]
async fn late_combinators(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let a: Task<String> = ctx.call_activity("a", ());
    let b: Task<String> = ctx.call_activity("b", ());
    let c: Task<String> = ctx.call_activity("c", ());
    ctx.create_timer_after(Duration::from_secs(10)).await?;
    // a and b finished while the timer ran, b first.
    let (first, _) = task_any(vec![a.clone(), b.clone()]).await?;
    // c is still pending: it goes into two task_any calls, one nested over a task_all.
    let both = task_all(vec![a.clone(), c.clone()]);
    let (nested, _) = task_any(vec![both.untyped(), c.untyped()]).await?;
    let (again, _) = task_any(vec![c.clone(), a.clone()]).await?;
    Ok(json!([first, nested, again, both.await?]))
}

#[test]
fn late_and_nested_combinators() {
    let turns = vec![
        first_turn(Value::Null),
        vec![
            turn_start(1),
            completed(1, json!("B")),
            completed(0, json!("A")),
        ],
        vec![turn_start(10), timer_fired(3, T0 + 10_000)],
        vec![turn_start(11), completed(2, json!("C"))],
    ];
    let actions = run_both(late_combinators::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(actions[0].len(), 4);
    assert_eq!(
        actions[0][3],
        Action {
            id: 3,
            kind: ActionKind::StartTimer(StartTimer {
                fire_at: T0 + 10_000
            })
        }
    );
    assert!(actions[2].is_empty());
    // The nested task_all over a and c completes with c (both had the same order then); the
    // task_any over [c, a] picks a, which finished long before c.
    assert_eq!(actions[3], vec![complete(json!([1, 0, 1, ["A", "C"]]))]);
}

#[crate::orchestrator]
async fn wait_a_minute(ctx: OrchestrationContext) -> Result<String, Failure> {
    ctx.create_timer_after(Duration::from_secs(60)).await?;
    Ok("done".into())
}

#[test]
fn timer_fires() {
    let fire_at = T0 + 60_000;
    let turns = vec![
        vec![turn_start(0), execution_started(Value::Null)],
        vec![
            timer_created(0, fire_at),
            turn_start(60),
            timer_fired(0, fire_at),
        ],
    ];
    let actions = run_both(wait_a_minute::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(
        actions[0],
        vec![Action {
            id: 0,
            kind: ActionKind::StartTimer(StartTimer { fire_at })
        }]
    );
    assert_eq!(actions[1], vec![complete(json!("done"))]);
}

#[crate::orchestrator]
async fn approval(ctx: OrchestrationContext) -> Result<String, Failure> {
    let timer = ctx.create_timer_after(Duration::from_secs(3600));
    let answer: Task<bool> = ctx.wait_for_external_event("Approval");
    let (winner, _) = task_any(vec![answer.untyped(), timer.untyped()]).await?;
    if winner == 0 {
        timer.cancel();
        timer.cancel(); // a second cancel decides nothing
        Ok(if answer.await? {
            "approved"
        } else {
            "rejected"
        }
        .into())
    } else {
        Ok("escalated".into())
    }
}

#[test]
fn event_wins_race_and_timer_is_cancelled() {
    let turns = vec![
        first_turn(Value::Null),
        vec![turn_start(5), raised("Approval", json!(true))],
    ];
    let actions = run_both(approval::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(
        actions[1],
        vec![
            Action {
                id: 0,
                kind: ActionKind::CancelTimer(0)
            },
            complete(json!("approved")),
        ]
    );
}

#[test]
fn timer_wins_race() {
    let turns = vec![
        first_turn(Value::Null),
        vec![
            turn_start(3600),
            timer_fired(0, T0 + 3_600_000),
            raised("Approval", json!(true)),
        ],
    ];
    let actions = run_both(approval::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(actions[1], vec![complete(json!("escalated"))]);
}

#[crate::orchestrator]
async fn wait_after_work(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let first: String = ctx.call_activity("work", ()).await?;
    let event: Value = ctx.wait_for_external_event("x").await?;
    let second: Task<Value> = ctx.wait_for_external_event("x");
    let timer = ctx.create_timer_after(Duration::from_secs(1));
    let (winner, _) = task_any(vec![second.clone(), timer.untyped()]).await?;
    Ok(json!({"first": first, "event": event, "second_won": winner == 0}))
}

#[test]
fn event_raised_before_the_wait_is_buffered_and_consumed_once() {
    let turns = vec![
        first_turn(Value::Null),
        vec![turn_start(1), raised("x", json!("early"))],
        vec![turn_start(2), completed(0, json!("w"))],
        vec![turn_start(3), timer_fired(1, T0 + 3000)],
    ];
    let actions = run_both(wait_after_work::__DURABLE_ORCHESTRATOR, &turns);
    assert!(actions[1].is_empty());
    // The buffered event served the first wait at once; the second wait is pending, so the
    // code got as far as the timer.
    assert_eq!(
        actions[2],
        vec![Action {
            id: 1,
            kind: ActionKind::StartTimer(StartTimer { fire_at: T0 + 3000 })
        }]
    );
    assert_eq!(
        actions[3],
        vec![complete(
            json!({"first": "w", "event": "early", "second_won": false})
        )]
    );
}

#[test]
fn event_raised_after_the_wait() {
    let turns = vec![
        first_turn(Value::Null),
        vec![turn_start(1), completed(0, json!("w"))],
        vec![turn_start(2), raised("x", json!({"n": 1}))],
        vec![turn_start(3), raised("x", json!(2))],
    ];
    let actions = run_both(wait_after_work::__DURABLE_ORCHESTRATOR, &turns);
    assert!(actions[1].is_empty());
    assert_eq!(actions[2].len(), 1); // the timer
    assert_eq!(
        actions[3],
        vec![complete(
            json!({"first": "w", "event": {"n": 1}, "second_won": true})
        )]
    );
}

#[crate::orchestrator]
async fn two_waiters(ctx: OrchestrationContext) -> Result<Vec<u32>, Failure> {
    let first: Task<u32> = ctx.wait_for_external_event("x");
    let second: Task<u32> = ctx.wait_for_external_event("x");
    // Await the second first: FIFO is about who waited first, not who is awaited first.
    let b = second.await?;
    let a = first.await?;
    Ok(vec![a, b])
}

#[test]
fn waiters_are_served_fifo() {
    let turns = vec![
        first_turn(Value::Null),
        vec![turn_start(1), raised("x", json!(1))],
        vec![turn_start(2), raised("y", json!(9)), raised("x", json!(2))],
    ];
    let actions = run_both(two_waiters::__DURABLE_ORCHESTRATOR, &turns);
    assert!(actions[1].is_empty());
    assert_eq!(actions[2], vec![complete(json!([1, 2]))]);
}

#[crate::orchestrator]
async fn statuses(ctx: OrchestrationContext) -> Result<(), Failure> {
    ctx.set_custom_status("starting");
    ctx.call_activity::<()>("work", ()).await?;
    ctx.set_custom_status(json!({"progress": 50}));
    ctx.call_activity::<()>("work", ()).await?;
    ctx.clear_custom_status();
    Ok(())
}

#[test]
fn custom_status_set_changed_cleared() {
    let turns = vec![
        first_turn(Value::Null),
        vec![turn_start(1), completed(0, Value::Null)],
        vec![turn_start(2), completed(1, Value::Null)],
    ];
    let actions = run_both(statuses::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(
        actions[0],
        vec![
            custom_status(Some(json!("starting"))),
            schedule(0, "work", Value::Null)
        ]
    );
    assert_eq!(
        actions[1],
        vec![
            custom_status(Some(json!({"progress": 50}))),
            schedule(1, "work", Value::Null)
        ]
    );
    assert_eq!(actions[2], vec![custom_status(None), complete(Value::Null)]);
}

#[crate::orchestrator]
async fn uuids(ctx: OrchestrationContext) -> Result<Vec<String>, Failure> {
    let a = ctx.new_uuid();
    let b = ctx.new_uuid();
    ctx.call_activity::<()>("work", ()).await?;
    let c = ctx.new_uuid();
    Ok(vec![a, b, c])
}

#[test]
fn new_uuid_is_deterministic_and_unique() {
    let turns = vec![
        first_turn(Value::Null),
        vec![turn_start(1), completed(0, Value::Null)],
    ];
    let cached = run_both(uuids::__DURABLE_ORCHESTRATOR, &turns);
    let ids = output_of(&cached[1][0]);
    let ids: Vec<String> = serde_json::from_value(ids).unwrap();
    assert_eq!(ids.len(), 3);
    assert_ne!(ids[0], ids[1]);
    assert_ne!(ids[1], ids[2]);
    assert_ne!(ids[0], ids[2]);
    let parsed = uuid::Uuid::parse_str(&ids[0]).unwrap();
    assert_eq!(parsed.get_version_num(), 5);
    // A fresh executor replaying the same history makes the same ids.
    let (_, new) = run_cold(uuids::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(output_of(&new[0]), json!(ids));
}

#[crate::orchestrator]
async fn replay_flags(ctx: OrchestrationContext) -> Result<(), Failure> {
    for _ in 0..2 {
        ctx.set_custom_status(ctx.is_replaying());
        ctx.info(format!("at {:?}", ctx.current_utc_datetime()));
        ctx.call_activity::<()>("work", ()).await?;
    }
    ctx.set_custom_status(ctx.is_replaying());
    Ok(())
}

#[test]
fn is_replaying_transitions_and_logs_are_suppressed_while_replaying() {
    let turns = vec![
        first_turn(Value::Null),
        vec![turn_start(1), completed(0, Value::Null)],
        vec![turn_start(2), completed(1, Value::Null)],
    ];
    let (mut cold, logs) = executor(replay_flags::__DURABLE_ORCHESTRATOR);
    let replayed = cold.step(turns[..2].concat(), true);
    assert_eq!(replayed[0], custom_status(Some(json!(true))));
    assert_eq!(replayed[2], custom_status(Some(json!(true))));
    assert!(logs.borrow().is_empty(), "no logs while replaying");
    let new = cold.step(turns[2].clone(), false);
    assert_eq!(
        new,
        vec![custom_status(Some(json!(false))), complete(Value::Null)]
    );

    // Live, turn by turn: never replaying, every line logged once.
    let (mut live, logs) = executor(replay_flags::__DURABLE_ORCHESTRATOR);
    for turn in &turns {
        for action in live.step(turn.clone(), false) {
            if let ActionKind::SetCustomStatus(status) = action.kind {
                assert_eq!(status.as_deref(), Some("false"));
            }
        }
    }
    assert_eq!(logs.borrow().len(), 2);
    assert_eq!(logs.borrow()[0].0, LogLevel::Info);
}

#[crate::orchestrator]
async fn clock(ctx: OrchestrationContext) -> Result<Vec<u128>, Failure> {
    let ms = |ctx: &OrchestrationContext| {
        ctx.current_utc_datetime()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    };
    let before = ms(&ctx);
    ctx.call_activity::<()>("work", ()).await?;
    Ok(vec![before, ms(&ctx)])
}

#[test]
fn current_time_follows_orchestrator_started() {
    let turns = vec![
        first_turn(Value::Null),
        vec![turn_start(7), completed(0, Value::Null)],
    ];
    let actions = run_both(clock::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(actions[1], vec![complete(json!([T0, T0 + 7000]))]);
}

#[crate::orchestrator]
async fn empty_all(_ctx: OrchestrationContext) -> Result<Vec<u32>, Failure> {
    task_all(Vec::<Task<u32>>::new()).await
}

#[test]
fn task_all_of_nothing_is_empty() {
    let actions = run_cached(
        empty_all::__DURABLE_ORCHESTRATOR,
        &[first_turn(Value::Null)],
    );
    assert_eq!(actions[0], vec![complete(json!([]))]);
}

#[crate::orchestrator]
async fn empty_any(_ctx: OrchestrationContext) -> Result<String, Failure> {
    task_any(Vec::<Task<u32>>::new())
        .await
        .map(|_| "won".into())
}

#[test]
fn task_any_of_nothing_fails_with_invalid_input() {
    let actions = run_cached(
        empty_any::__DURABLE_ORCHESTRATOR,
        &[first_turn(Value::Null)],
    );
    assert_eq!(failure_of(&actions[0][0]).error_type, crate::INVALID_INPUT);
}

#[crate::orchestrator]
async fn await_twice(ctx: OrchestrationContext) -> Result<Vec<String>, Failure> {
    let task: Task<String> = ctx.call_activity("work", ());
    let first = task.clone().await?;
    let second = task.await?;
    Ok(vec![first, second])
}

#[test]
fn awaiting_the_same_task_twice() {
    let turns = vec![
        first_turn(Value::Null),
        vec![turn_start(1), completed(0, json!("v"))],
    ];
    let actions = run_both(await_twice::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(actions[0], vec![schedule(0, "work", Value::Null)]);
    assert_eq!(actions[1], vec![complete(json!(["v", "v"]))]);
}

#[crate::orchestrator]
async fn fire_and_forget(ctx: OrchestrationContext) -> Result<(), Failure> {
    let _never_awaited: Task<()> = ctx.call_activity("side_effect", 1);
    ctx.send_event("other", "ping", json!({"from": ctx.instance_id()}));
    let _child: Task<()> = ctx.call_sub_orchestrator("child", None, ());
    Ok(())
}

#[test]
fn tasks_are_scheduled_when_created() {
    let actions = run_cached(
        fire_and_forget::__DURABLE_ORCHESTRATOR,
        &[first_turn(Value::Null)],
    );
    let ids: Vec<u32> = actions[0].iter().map(|a| a.id).collect();
    assert_eq!(ids, vec![0, 1, 2, 0]);
    assert_eq!(actions[0][0], schedule(0, "side_effect", json!(1)));
    match &actions[0][1].kind {
        ActionKind::SendEvent(send) => {
            assert_eq!(send.instance_id, "other");
            assert_eq!(send.input, json!({"from": INSTANCE}).to_string());
        }
        other => panic!("expected send-event, got {other:?}"),
    }
    match &actions[0][2].kind {
        ActionKind::StartSubOrchestration(start) => assert_eq!(start.instance_id, ""),
        other => panic!("expected start-sub-orchestration, got {other:?}"),
    }
    assert_eq!(actions[0][3], complete(Value::Null));
}

#[crate::orchestrator]
async fn counter(ctx: OrchestrationContext, n: u32) -> Result<u32, Failure> {
    if n < 2 {
        ctx.continue_as_new(n + 1, true);
    }
    Ok(n)
}

#[test]
fn continue_as_new_replaces_complete() {
    let actions = run_cached(counter::__DURABLE_ORCHESTRATOR, &[first_turn(json!(0))]);
    match &actions[0][..] {
        [
            Action {
                id: 0,
                kind: ActionKind::ContinueAsNew(next),
            },
        ] => {
            assert_eq!(next.input, "1");
            assert!(next.preserve_unprocessed_events);
            assert!(next.carried_events.is_empty());
        }
        other => panic!("expected continue-as-new, got {other:?}"),
    }
    let actions = run_cached(counter::__DURABLE_ORCHESTRATOR, &[first_turn(json!(2))]);
    assert_eq!(actions[0], vec![complete(json!(2))]);
}

#[test]
fn failure_round_trips_through_wit() {
    let failure = bad_thing().with_stack("at main").non_retriable();
    let wit: wit_types::Failure = failure.clone().into();
    assert_eq!(wit.details.as_deref(), Some(r#"{"code":7}"#));
    assert_eq!(Failure::from(wit), failure);
}
