//! External events: waits with a timeout, and unconsumed events carried over by
//! continue-as-new.

use super::*;
use crate::bindings::wit_orch::ContinueAsNew;

/// Waits 10 s for `x`; on timeout, waits for the next `x` without a limit.
#[crate::orchestrator]
async fn timed_wait(ctx: OrchestrationContext) -> Result<Value, Failure> {
    match ctx
        .wait_for_external_event_with_timeout::<u32>("x", Duration::from_secs(10))
        .await
    {
        Ok(value) => Ok(json!({"got": value})),
        Err(failure) if failure.is(crate::TIMEOUT) => {
            let next: u32 = ctx.wait_for_external_event("x").await?;
            Ok(json!({"timed_out": true, "next": next}))
        }
        Err(failure) => Err(failure),
    }
}

#[test]
fn event_before_the_timeout_cancels_the_timer() {
    let turns = vec![
        first_turn(Value::Null),
        vec![turn_start(3), raised("x", json!(1))],
    ];
    let actions = run_both(timed_wait::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(actions[0], vec![timer(0, T0 + 10_000)]);
    assert_eq!(
        actions[1],
        vec![cancel_timer(0), complete(json!({"got": 1}))]
    );
}

#[test]
fn timeout_fails_with_timeout_and_a_later_event_goes_to_the_next_waiter() {
    let turns = vec![
        first_turn(Value::Null),
        vec![turn_start(10), timer_fired(0, T0 + 10_000)],
        vec![turn_start(12), raised("x", json!(7))],
    ];
    let actions = run_both(timed_wait::__DURABLE_ORCHESTRATOR, &turns);
    assert!(actions[1].is_empty());
    assert_eq!(
        actions[2],
        vec![complete(json!({"timed_out": true, "next": 7}))]
    );
}

#[test]
fn timer_and_event_in_one_turn_follow_history_order() {
    let turns = vec![
        first_turn(Value::Null),
        vec![
            turn_start(10),
            timer_fired(0, T0 + 10_000),
            raised("x", json!(7)),
        ],
    ];
    let actions = run_both(timed_wait::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(
        actions[1],
        vec![complete(json!({"timed_out": true, "next": 7}))]
    );
    let turns = vec![
        first_turn(Value::Null),
        vec![
            turn_start(10),
            raised("x", json!(7)),
            timer_fired(0, T0 + 10_000),
        ],
    ];
    let actions = run_both(timed_wait::__DURABLE_ORCHESTRATOR, &turns);
    // The event won before the timer's event was applied, so the timer is cancelled then (the
    // host ignores a cancel of a timer that fired).
    assert_eq!(
        actions[1],
        vec![cancel_timer(0), complete(json!({"got": 7}))]
    );
}

/// Waits with a timeout only after an activity, so the event can arrive first.
#[crate::orchestrator]
async fn timed_wait_after_work(ctx: OrchestrationContext) -> Result<u32, Failure> {
    ctx.call_activity::<()>("work", ()).await?;
    ctx.wait_for_external_event_with_timeout("x", Duration::from_secs(10))
        .await
}

#[test]
fn buffered_event_is_taken_at_once_without_a_timer() {
    let turns = vec![
        first_turn(Value::Null),
        vec![turn_start(1), raised("x", json!(3))],
        vec![turn_start(2), completed(0, Value::Null)],
    ];
    let actions = run_both(timed_wait_after_work::__DURABLE_ORCHESTRATOR, &turns);
    assert!(actions[1].is_empty());
    assert_eq!(actions[2], vec![complete(json!(3))]);
}

/// Continues as new after its timed wait runs out (and a pause), carrying what arrived.
#[crate::orchestrator]
async fn timeout_then_continue(ctx: OrchestrationContext, round: u32) -> Result<(), Failure> {
    let outcome = ctx
        .wait_for_external_event_with_timeout::<u32>("x", Duration::from_secs(10))
        .await;
    if outcome.is_err() {
        ctx.create_timer_after(Duration::from_secs(5)).await?;
        ctx.continue_as_new(round + 1, true);
    }
    Ok(())
}

fn continued(action: &Action) -> &ContinueAsNew {
    match &action.kind {
        ActionKind::ContinueAsNew(next) => next,
        other => panic!("expected continue-as-new, got {other:?}"),
    }
}

fn event_list(next: &ContinueAsNew) -> Vec<(String, Value)> {
    next.carried_events
        .iter()
        .map(|e| (e.name.clone(), serde_json::from_str(&e.input).unwrap()))
        .collect()
}

#[test]
fn event_after_a_timeout_is_not_swallowed_but_carried() {
    let turns = vec![
        first_turn(json!(0)),
        vec![turn_start(10), timer_fired(0, T0 + 10_000)],
        vec![turn_start(12), raised("x", json!(9))],
        vec![turn_start(15), timer_fired(1, T0 + 15_000)],
    ];
    let actions = run_both(timeout_then_continue::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(actions[1], vec![timer(1, T0 + 15_000)]);
    assert_eq!(actions[3].len(), 1);
    let next = continued(&actions[3][0]);
    assert_eq!(next.input, "1");
    assert_eq!(event_list(next), vec![("x".to_owned(), json!(9))]);
}

/// Consumes one `a` after its activity, then continues as new.
#[crate::orchestrator]
async fn consume_one_then_continue(
    ctx: OrchestrationContext,
    preserve: bool,
) -> Result<(), Failure> {
    ctx.call_activity::<()>("work", ()).await?;
    let _a: u32 = ctx.wait_for_external_event("a").await?;
    ctx.continue_as_new(preserve, preserve);
    Ok(())
}

#[test]
fn continue_as_new_carries_unconsumed_events_in_arrival_order() {
    let turns = |preserve: bool| {
        vec![
            first_turn(json!(preserve)),
            vec![
                turn_start(1),
                raised("b", json!(1)),
                raised("a", json!(2)),
                raised("a", json!(3)),
            ],
            vec![
                turn_start(2),
                raised("c", json!({"k": 4})),
                completed(0, Value::Null),
            ],
        ]
    };
    let actions = run_both(
        consume_one_then_continue::__DURABLE_ORCHESTRATOR,
        &turns(true),
    );
    let next = continued(&actions[2][0]);
    assert!(next.preserve_unprocessed_events);
    assert_eq!(
        event_list(next),
        vec![
            ("b".to_owned(), json!(1)),
            ("a".to_owned(), json!(3)),
            ("c".to_owned(), json!({"k": 4})),
        ]
    );
    let actions = run_both(
        consume_one_then_continue::__DURABLE_ORCHESTRATOR,
        &turns(false),
    );
    let next = continued(&actions[2][0]);
    assert!(!next.preserve_unprocessed_events);
    assert!(next.carried_events.is_empty());
}
