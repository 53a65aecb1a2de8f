//! Retry policies: every attempt is its own action, every wait a durable timer, and no timer
//! follows the last attempt.

use serde::Deserialize;

use super::*;
use crate::RetryPolicy;

/// A policy described by the orchestrator's input, so one orchestrator serves every test.
#[derive(Deserialize)]
struct PolicyInput {
    attempts: u32,
    first_ms: u64,
    #[serde(default)]
    coefficient: Option<f64>,
    #[serde(default)]
    max_ms: Option<u64>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    /// Retry only failures of this type.
    #[serde(default)]
    only: Option<String>,
}

impl PolicyInput {
    fn policy(&self) -> RetryPolicy {
        let mut policy = RetryPolicy::new(self.attempts, Duration::from_millis(self.first_ms));
        if let Some(coefficient) = self.coefficient {
            policy = policy.with_backoff_coefficient(coefficient);
        }
        if let Some(max) = self.max_ms {
            policy = policy.with_max_retry_interval(Duration::from_millis(max));
        }
        if let Some(timeout) = self.timeout_ms {
            policy = policy.with_retry_timeout(Duration::from_millis(timeout));
        }
        if let Some(only) = self.only.clone() {
            policy = policy.with_handle(move |failure| failure.is(&only));
        }
        policy
    }
}

#[crate::orchestrator]
async fn retry_activity(ctx: OrchestrationContext, input: PolicyInput) -> Result<String, Failure> {
    ctx.call_activity_with_retry("flaky", &input.policy(), "x")
        .await
}

fn transient() -> Failure {
    Failure::new("Transient", "try again")
}

/// Three attempts, 1 s apart at first, doubling.
fn three_doubling() -> Value {
    json!({"attempts": 3, "first_ms": 1000, "coefficient": 2.0})
}

#[test]
fn failure_then_success() {
    let turns = vec![
        first_turn(three_doubling()),
        vec![turn_start(1), failed(0, transient())],
        vec![turn_start(2), timer_fired(1, T0 + 2000)],
        vec![turn_start(3), completed(2, json!("ok"))],
    ];
    let actions = run_both(retry_activity::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(actions[0], vec![schedule(0, "flaky", json!("x"))]);
    assert_eq!(actions[1], vec![timer(1, T0 + 1000 + 1000)]);
    assert_eq!(actions[2], vec![schedule(2, "flaky", json!("x"))]);
    assert_eq!(actions[3], vec![complete(json!("ok"))]);
}

#[test]
fn all_attempts_fail_with_no_timer_after_the_last() {
    let turns = vec![
        first_turn(three_doubling()),
        vec![turn_start(1), failed(0, transient())],
        vec![turn_start(2), timer_fired(1, T0 + 2000)],
        vec![turn_start(3), failed(2, transient())],
        vec![turn_start(5), timer_fired(3, T0 + 5000)],
        vec![turn_start(6), failed(4, Failure::new("Transient", "third"))],
    ];
    let actions = run_both(retry_activity::__DURABLE_ORCHESTRATOR, &turns);
    let all: Vec<Action> = actions.concat();
    let schedules = all
        .iter()
        .filter(|a| matches!(a.kind, ActionKind::ScheduleActivity(_)))
        .count();
    let timers: Vec<&Action> = all
        .iter()
        .filter(|a| matches!(a.kind, ActionKind::StartTimer(_)))
        .collect();
    assert_eq!(schedules, 3);
    // Backoff: 1 s after attempt 1, 2 s after attempt 2.
    assert_eq!(timers, vec![&timer(1, T0 + 2000), &timer(3, T0 + 5000)]);
    assert_eq!(actions[5].len(), 1, "fails at once: {:?}", actions[5]);
    let failure = failure_of(&actions[5][0]);
    assert_eq!(
        (failure.error_type.as_str(), failure.message.as_str()),
        ("Transient", "third")
    );
    assert_eq!(failure.inner.len(), 1);
    assert_eq!(failure.inner[0].error_type, crate::RETRY_POLICY);
    assert!(
        failure.inner[0].message.contains("attempt 3"),
        "{}",
        failure.inner[0].message
    );
}

#[test]
fn non_retriable_failure_stops_at_once() {
    let fatal = Failure::new("Transient", "but fatal").non_retriable();
    let turns = vec![
        first_turn(three_doubling()),
        vec![turn_start(1), failed(0, fatal.clone())],
    ];
    let actions = run_both(retry_activity::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(actions[1].len(), 1);
    assert_eq!(failure_of(&actions[1][0]), fatal);
}

#[test]
fn failure_the_handler_declines_stops_at_once() {
    let input = json!({"attempts": 3, "first_ms": 1000, "only": "Transient"});
    let turns = vec![
        first_turn(input.clone()),
        vec![turn_start(1), failed(0, Failure::new("Permanent", "no"))],
    ];
    let actions = run_both(retry_activity::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(failure_of(&actions[1][0]).error_type, "Permanent");
    // The failure it handles is retried.
    let turns = vec![
        first_turn(input),
        vec![turn_start(1), failed(0, transient())],
    ];
    let actions = run_both(retry_activity::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(actions[1], vec![timer(1, T0 + 2000)]);
}

#[test]
fn retry_timeout_stops_early() {
    // Ten attempts 10 s apart, but nothing may start later than 15 s after the first.
    let input = json!({"attempts": 10, "first_ms": 10_000, "timeout_ms": 15_000});
    let turns = vec![
        first_turn(input),
        // Next attempt at 11 s: within the timeout.
        vec![turn_start(1), failed(0, transient())],
        vec![turn_start(11), timer_fired(1, T0 + 11_000)],
        // Next attempt would be at 22 s: past it.
        vec![turn_start(12), failed(2, transient())],
    ];
    let actions = run_both(retry_activity::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(actions[1], vec![timer(1, T0 + 11_000)]);
    assert_eq!(actions[2], vec![schedule(2, "flaky", json!("x"))]);
    assert_eq!(actions[3].len(), 1);
    let failure = failure_of(&actions[3][0]);
    assert_eq!(failure.error_type, "Transient");
    assert!(failure.inner[0].message.contains("timeout"));
}

#[test]
fn backoff_is_capped_by_the_max_interval() {
    let input = json!({"attempts": 5, "first_ms": 1000, "coefficient": 3.0, "max_ms": 5000});
    // Delays 1 s, 3 s, then 9 s capped to 5 s, 5 s.
    let mut turns = vec![first_turn(input)];
    let mut now = 0;
    let mut expected_timers = Vec::new();
    for (attempt, delay) in [1u64, 3, 5, 5].into_iter().enumerate() {
        let attempt_id = u32::try_from(attempt * 2).unwrap();
        now += 1;
        turns.push(vec![turn_start(now), failed(attempt_id, transient())]);
        let fire_at = T0 + (now + delay) * 1000;
        expected_timers.push(timer(attempt_id + 1, fire_at));
        now += delay;
        turns.push(vec![turn_start(now), timer_fired(attempt_id + 1, fire_at)]);
    }
    let actions = run_both(retry_activity::__DURABLE_ORCHESTRATOR, &turns);
    let timers: Vec<Action> = actions
        .concat()
        .into_iter()
        .filter(|a| matches!(a.kind, ActionKind::StartTimer(_)))
        .collect();
    assert_eq!(timers, expected_timers);
    assert_eq!(
        actions.last().unwrap(),
        &vec![schedule(8, "flaky", json!("x"))]
    );
    let policy = RetryPolicy::new(5, Duration::from_secs(1))
        .with_backoff_coefficient(3.0)
        .with_max_retry_interval(Duration::from_secs(5));
    let delays: Vec<u64> = (1..=4).map(|n| policy.delay_after(n).as_secs()).collect();
    assert_eq!(delays, vec![1, 3, 5, 5]);
}

#[test]
fn late_completion_of_a_superseded_attempt_is_ignored() {
    let turns = vec![
        first_turn(three_doubling()),
        vec![turn_start(1), failed(0, transient())],
        vec![turn_start(2), timer_fired(1, T0 + 2000)],
        // Attempt 1 answers again (a duplicate): attempt 2 is what counts now.
        vec![turn_start(3), completed(0, json!("late"))],
        vec![turn_start(4), completed(2, json!("fresh"))],
    ];
    let actions = run_both(retry_activity::__DURABLE_ORCHESTRATOR, &turns);
    assert!(actions[3].is_empty());
    assert_eq!(actions[4], vec![complete(json!("fresh"))]);
}

/// Three retrying calls at once, joined with `task_all`, plus a `task_any` over them.
#[crate::orchestrator]
async fn parallel_retries(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let policy = RetryPolicy::new(3, Duration::from_secs(1));
    let tasks: Vec<Task<String>> = ["a", "b", "c"]
        .iter()
        .map(|name| ctx.call_activity_with_retry(name, &policy, ()))
        .collect();
    let (first, _) = task_any(tasks.clone()).await?;
    Ok(json!({"first": first, "all": task_all(tasks).await?}))
}

#[test]
fn parallel_retries_complete_out_of_order() {
    let turns = vec![
        first_turn(Value::Null),
        vec![
            turn_start(1),
            failed(1, transient()),
            failed(0, transient()),
            completed(2, json!("C")),
        ],
        vec![
            turn_start(2),
            timer_fired(4, T0 + 2000),
            timer_fired(3, T0 + 2000),
        ],
        vec![
            turn_start(3),
            completed(5, json!("A")),
            completed(6, json!("B")),
        ],
    ];
    let actions = run_both(parallel_retries::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(
        actions[0],
        vec![
            schedule(0, "a", Value::Null),
            schedule(1, "b", Value::Null),
            schedule(2, "c", Value::Null),
        ]
    );
    // Timers in the order the failures arrived: b's, then a's.
    assert_eq!(actions[1], vec![timer(3, T0 + 2000), timer(4, T0 + 2000)]);
    // a's timer fired first, so a's attempt 2 is scheduled first.
    assert_eq!(
        actions[2],
        vec![schedule(5, "a", Value::Null), schedule(6, "b", Value::Null)]
    );
    assert_eq!(
        actions[3],
        vec![complete(json!({"first": 2, "all": ["A", "B", "C"]}))]
    );
}

#[crate::orchestrator]
async fn retry_child(ctx: OrchestrationContext) -> Result<u32, Failure> {
    let policy = RetryPolicy::new(2, Duration::from_secs(30));
    ctx.call_sub_orchestrator_with_retry("child", None, &policy, 7)
        .await
}

#[test]
fn sub_orchestrator_retries_start_a_new_child_per_attempt() {
    let start = |id| Action {
        id,
        kind: ActionKind::StartSubOrchestration(crate::bindings::wit_orch::StartSubOrchestration {
            name: "child".into(),
            instance_id: String::new(),
            input: "7".into(),
        }),
    };
    let turns = vec![
        first_turn(Value::Null),
        vec![turn_start(1), sub_failed(0, transient())],
        vec![turn_start(31), timer_fired(1, T0 + 31_000)],
        vec![turn_start(32), sub_completed(2, json!(8))],
    ];
    let actions = run_both(retry_child::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(actions[0], vec![start(0)]);
    assert_eq!(actions[1], vec![timer(1, T0 + 31_000)]);
    assert_eq!(actions[2], vec![start(2)]);
    assert_eq!(actions[3], vec![complete(json!(8))]);
    // Both attempts fail: the second failure ends it, no second timer.
    let turns = vec![
        first_turn(Value::Null),
        vec![turn_start(1), sub_failed(0, transient())],
        vec![turn_start(31), timer_fired(1, T0 + 31_000)],
        vec![
            turn_start(32),
            sub_failed(2, Failure::new("Transient", "again")),
        ],
    ];
    let actions = run_both(retry_child::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(actions[3].len(), 1);
    assert_eq!(failure_of(&actions[3][0]).message, "again");
}
