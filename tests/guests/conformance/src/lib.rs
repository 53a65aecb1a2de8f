//! `conformance-guest`: the Rust implementation of the orchestrators the language-neutral
//! conformance scenarios (`tests/conformance/`) run against.
//!
//! Every SDK (Rust, Python, JavaScript) implements the same names with the same behaviour; a
//! scenario feeds one of them a hand-written history and checks the actions it decides, its
//! status, output and custom status. What an orchestrator observes (replay-safe time, UUIDs,
//! `is_replaying`, which task won) goes out through its output or its custom status, so the
//! scenarios can assert it. Activities named here are never run: scenarios write their results
//! into the history.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use durable_sdk::{EntityId, Failure, OrchestrationContext, RetryPolicy, Task, task_all, task_any};
use serde_json::{Value, json};

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A `task_any` outcome as language-neutral JSON: `{"winner": i, "value": v}` or
/// `{"winner": i, "failure": type}`.
fn race_result(winner: usize, outcome: Result<Value, Failure>) -> Value {
    match outcome {
        Ok(value) => json!({ "winner": winner, "value": value }),
        Err(failure) => json!({ "winner": winner, "failure": failure.error_type }),
    }
}

// --- Chaining, failures, awaiting -------------------------------------------------------------

/// Calls `step` with 0..n in sequence (input: n) and returns the results in order.
#[durable_sdk::orchestrator]
async fn chain(ctx: OrchestrationContext, n: u32) -> Result<Vec<Value>, Failure> {
    let mut results = Vec::new();
    for i in 0..n {
        results.push(ctx.call_activity::<Value>("step", i).await?);
    }
    Ok(results)
}

/// Calls `boom`; its failure ends the orchestration (then `unreachable` would be called).
#[durable_sdk::orchestrator]
async fn fail_fast(ctx: OrchestrationContext) -> Result<Value, Failure> {
    ctx.call_activity::<Value>("boom", ()).await?;
    ctx.call_activity("unreachable", ()).await
}

/// Calls `boom`; on failure calls `recover` with the failure's type and returns
/// `{"caught": type, "message": message, "recovered": result}`.
#[durable_sdk::orchestrator]
async fn catch_failure(ctx: OrchestrationContext) -> Result<Value, Failure> {
    match ctx.call_activity::<Value>("boom", ()).await {
        Ok(value) => Ok(json!({ "caught": null, "value": value })),
        Err(failure) => {
            let recovered: Value = ctx.call_activity("recover", &failure.error_type).await?;
            Ok(json!({
                "caught": failure.error_type,
                "message": failure.message,
                "recovered": recovered,
            }))
        }
    }
}

/// Calls `balance`; below 5 it fails with its own `InsufficientFunds` failure (details
/// `{"balance": b}`), otherwise returns the balance.
#[durable_sdk::orchestrator]
async fn user_error(ctx: OrchestrationContext) -> Result<i64, Failure> {
    let balance: i64 = ctx.call_activity("balance", ()).await?;
    if balance < 5 {
        return Err(Failure::new(
            "InsufficientFunds",
            format!("balance is {balance}, needed 5"),
        )
        .with_details(json!({ "balance": balance })));
    }
    Ok(balance)
}

/// Returns its input without awaiting anything.
#[durable_sdk::orchestrator]
async fn return_immediately(_ctx: OrchestrationContext, input: Value) -> Result<Value, Failure> {
    Ok(input)
}

/// Returns the version it runs as (`ctx.version()`).
#[durable_sdk::orchestrator]
async fn report_version(
    ctx: OrchestrationContext,
    _input: Value,
) -> Result<Option<String>, Failure> {
    Ok(ctx.version())
}

/// Calls `once` and awaits the same task twice: `[first, second]`.
#[durable_sdk::orchestrator]
async fn await_twice(ctx: OrchestrationContext) -> Result<Vec<Value>, Failure> {
    let task: Task<Value> = ctx.call_activity("once", ());
    let first = task.clone().await?;
    let second = task.await?;
    Ok(vec![first, second])
}

/// Starts `fire_and_forget` with 1 and 2 without awaiting them, then returns what `awaited`
/// returns.
#[durable_sdk::orchestrator]
async fn never_awaited(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let _first: Task<Value> = ctx.call_activity("fire_and_forget", 1);
    let _second: Task<Value> = ctx.call_activity("fire_and_forget", 2);
    ctx.call_activity("awaited", ()).await
}

// --- Replay-safe observations -----------------------------------------------------------------

/// Reads the replay-safe time (`current_utc_datetime`) and the sandbox's wall clock, then after
/// each of two `tick` activities again: `{"times": [t0, t1, t2], "wall": [w0, w1, w2]}` in ms.
#[durable_sdk::orchestrator]
async fn time_per_turn(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let mut times = Vec::new();
    let mut wall = Vec::new();
    for i in 0..3 {
        if i > 0 {
            ctx.call_activity::<Value>("tick", i).await?;
        }
        times.push(millis(ctx.current_utc_datetime()));
        wall.push(millis(SystemTime::now()));
    }
    Ok(json!({ "times": times, "wall": wall }))
}

/// Makes two UUIDs, calls `tick`, makes a third: `[a, b, c]`. The first two also go out as
/// the custom status, so the first turn shows them.
#[durable_sdk::orchestrator]
async fn uuids(ctx: OrchestrationContext) -> Result<Vec<String>, Failure> {
    let mut ids = vec![ctx.new_uuid(), ctx.new_uuid()];
    ctx.set_custom_status(&ids);
    ctx.call_activity::<Value>("tick", ()).await?;
    ids.push(ctx.new_uuid());
    Ok(ids)
}

/// Records `is_replaying` at the start and after each of two `tick` activities; the flags so
/// far are the custom status, the output is all three.
#[durable_sdk::orchestrator]
async fn replaying_flags(ctx: OrchestrationContext) -> Result<Vec<bool>, Failure> {
    let mut flags = vec![ctx.is_replaying()];
    ctx.set_custom_status(&flags);
    for i in 1..3 {
        ctx.call_activity::<Value>("tick", i).await?;
        flags.push(ctx.is_replaying());
        ctx.set_custom_status(&flags);
    }
    Ok(flags)
}

// --- task_all / task_any ----------------------------------------------------------------------

/// Fans out `work` with 0..n (input: n) and returns the results in task order.
#[durable_sdk::orchestrator]
async fn all_success(ctx: OrchestrationContext, n: u32) -> Result<Vec<Value>, Failure> {
    let tasks = (0..n).map(|i| ctx.call_activity("work", i)).collect();
    task_all(tasks).await
}

/// Fans out `work` with 0, 1, 2; when `task_all` fails, returns
/// `{"failure": type, "message": message}` of the failure that came first.
#[durable_sdk::orchestrator]
async fn all_first_failure(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let tasks: Vec<Task<Value>> = (0..3).map(|i| ctx.call_activity("work", i)).collect();
    match task_all(tasks).await {
        Ok(values) => Ok(json!({ "values": values })),
        Err(failure) => Ok(json!({ "failure": failure.error_type, "message": failure.message })),
    }
}

/// `task_all` of no tasks: `[]` at once.
#[durable_sdk::orchestrator]
async fn all_empty(_ctx: OrchestrationContext) -> Result<Vec<Value>, Failure> {
    task_all(Vec::<Task<Value>>::new()).await
}

/// Races `a` and `b`: `{"winner": i, "value": v}` (or `"failure": type` when the winner
/// failed).
#[durable_sdk::orchestrator]
async fn any_success(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let (winner, outcome) =
        task_any(vec![ctx.call_activity("a", ()), ctx.call_activity("b", ())]).await?;
    Ok(race_result(winner, outcome))
}

/// The same race as `any_success`, for a winner that failed: a failed task wins like any
/// other, and `task_any` itself does not fail.
#[durable_sdk::orchestrator]
async fn any_failed_winner(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let (winner, outcome) =
        task_any(vec![ctx.call_activity("a", ()), ctx.call_activity("b", ())]).await?;
    Ok(race_result(winner, outcome))
}

/// `task_any` of no tasks fails with `InvalidInput`; uncaught, it fails the orchestration.
#[durable_sdk::orchestrator]
async fn any_empty(_ctx: OrchestrationContext) -> Result<Value, Failure> {
    let (winner, outcome) = task_any(Vec::<Task<Value>>::new()).await?;
    Ok(race_result(winner, outcome))
}

/// `task_all([task_any([a, b]), task_all([c, d])])`: `{"any": race, "all": [c, d]}`.
#[durable_sdk::orchestrator]
async fn nested(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let race = task_any(vec![
        ctx.call_activity::<Value>("a", ()),
        ctx.call_activity("b", ()),
    ]);
    let both = task_all(vec![
        ctx.call_activity::<Value>("c", ()),
        ctx.call_activity("d", ()),
    ]);
    task_all(vec![race.untyped(), both.untyped()]).await?;
    let (winner, outcome) = race.await?;
    Ok(json!({ "any": race_result(winner, outcome), "all": both.await? }))
}

/// `task_any([task_all([a, b]), c])`: `{"winner": 0, "value": [a, b]}` or
/// `{"winner": 1, "value": c}`.
#[durable_sdk::orchestrator]
async fn nested_any_of_all(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let both = task_all(vec![
        ctx.call_activity::<Value>("a", ()),
        ctx.call_activity("b", ()),
    ]);
    let c: Task<Value> = ctx.call_activity("c", ());
    let (winner, outcome) = task_any(vec![both.untyped(), c]).await?;
    Ok(race_result(winner, outcome))
}

/// Starts `slow`, `fast1`, `fast2`; races `[slow, fast1]`, then races the still pending `slow`
/// again with `fast2`: `{"first": race, "second": race}`. The first race is also the custom
/// status.
#[durable_sdk::orchestrator]
async fn reuse_pending_in_any(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let slow: Task<Value> = ctx.call_activity("slow", ());
    let fast1: Task<Value> = ctx.call_activity("fast1", ());
    let fast2: Task<Value> = ctx.call_activity("fast2", ());
    let (winner, outcome) = task_any(vec![slow.clone(), fast1]).await?;
    let first = race_result(winner, outcome);
    ctx.set_custom_status(&first);
    let (winner, outcome) = task_any(vec![slow, fast2]).await?;
    Ok(json!({ "first": first, "second": race_result(winner, outcome) }))
}

// --- Timers -----------------------------------------------------------------------------------

/// Waits on a 30 s timer and returns the replay-safe time after it fired.
#[durable_sdk::orchestrator]
async fn timer_fire(ctx: OrchestrationContext) -> Result<u64, Failure> {
    ctx.create_timer_after(Duration::from_secs(30)).await?;
    Ok(millis(ctx.current_utc_datetime()))
}

/// Starts a 60 s timer, calls `work`, cancels the timer and returns `work`'s result.
#[durable_sdk::orchestrator]
async fn timer_cancel(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let timer = ctx.create_timer_after(Duration::from_secs(60));
    let result = ctx.call_activity("work", ()).await?;
    timer.cancel();
    Ok(result)
}

/// Races the event `approve` with a 60 s timer: `{"winner": "event", "value": v}` (and the
/// timer is cancelled) or `{"winner": "timer"}`.
#[durable_sdk::orchestrator]
async fn timer_vs_event(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let timer = ctx.create_timer_after(Duration::from_secs(60));
    let approve: Task<Value> = ctx.wait_for_external_event("approve");
    let (winner, outcome) = task_any(vec![approve, timer.untyped()]).await?;
    if winner == 0 {
        timer.cancel();
        Ok(json!({ "winner": "event", "value": outcome? }))
    } else {
        Ok(json!({ "winner": "timer" }))
    }
}

// --- External events --------------------------------------------------------------------------

/// Waits for the event `go` and returns its data.
#[durable_sdk::orchestrator]
async fn event_wait(ctx: OrchestrationContext) -> Result<Value, Failure> {
    ctx.wait_for_external_event("go").await
}

/// Calls `prepare`, then waits for `go` twice: `[first, second]`. Events raised before the
/// waits are kept and each is consumed once; the custom status is `{"first": data}` between the
/// two waits.
#[durable_sdk::orchestrator]
async fn event_early(ctx: OrchestrationContext) -> Result<Vec<Value>, Failure> {
    ctx.call_activity::<Value>("prepare", ()).await?;
    let first: Value = ctx.wait_for_external_event("go").await?;
    ctx.set_custom_status(json!({ "first": first }));
    let second: Value = ctx.wait_for_external_event("go").await?;
    Ok(vec![first, second])
}

/// Two waiters for `go`, created in order: `{"first": i, "values": [w0, w1]}` where `first` is
/// the waiter served first (also the custom status once known). Waiters are served FIFO.
#[durable_sdk::orchestrator]
async fn two_waiters(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let w0: Task<Value> = ctx.wait_for_external_event("go");
    let w1: Task<Value> = ctx.wait_for_external_event("go");
    let (first, _) = task_any(vec![w0.clone(), w1.clone()]).await?;
    ctx.set_custom_status(json!({ "first": first }));
    let values = task_all(vec![w0, w1]).await?;
    Ok(json!({ "first": first, "values": values }))
}

/// Waits for `a`, then for `b`: `[a, b]`, whichever order they arrive in.
#[durable_sdk::orchestrator]
async fn events_out_of_order(ctx: OrchestrationContext) -> Result<Vec<Value>, Failure> {
    let a: Value = ctx.wait_for_external_event("a").await?;
    let b: Value = ctx.wait_for_external_event("b").await?;
    Ok(vec![a, b])
}

// --- Custom status, continue-as-new, sub-orchestrations ---------------------------------------

/// Sets the custom status to `"started"`, calls `step`, sets `{"progress": 50}`, calls `step`,
/// clears it and returns `"done"`.
#[durable_sdk::orchestrator]
async fn custom_status(ctx: OrchestrationContext) -> Result<String, Failure> {
    ctx.set_custom_status("started");
    ctx.call_activity::<Value>("step", 1).await?;
    ctx.set_custom_status(json!({ "progress": 50 }));
    ctx.call_activity::<Value>("step", 2).await?;
    ctx.clear_custom_status();
    Ok("done".into())
}

/// Input n: below 3, calls `step` with n and continues as new with n + 1 (an activity
/// `after` decided after `continue_as_new` must not be scheduled); at 3 returns n.
#[durable_sdk::orchestrator]
async fn continue_as_new(ctx: OrchestrationContext, n: u32) -> Result<u32, Failure> {
    if n >= 3 {
        return Ok(n);
    }
    ctx.call_activity::<Value>("step", n).await?;
    ctx.continue_as_new(n + 1, false);
    let _ignored: Task<Value> = ctx.call_activity("after", ());
    Ok(n)
}

/// Starts the sub-orchestration `child` with the input and returns `{"child": output}`; its
/// failure ends this orchestration.
#[durable_sdk::orchestrator]
async fn sub_orchestration(ctx: OrchestrationContext, input: Value) -> Result<Value, Failure> {
    let output: Value = ctx.call_sub_orchestrator("child", None, input).await?;
    Ok(json!({ "child": output }))
}

// --- Entities ---------------------------------------------------------------------------------

/// Signals `add` with 1 to the entity `counter@<input>`, then calls its `get` and returns the
/// result; a failed call ends the orchestration.
#[durable_sdk::orchestrator]
async fn entity_counter(ctx: OrchestrationContext, key: String) -> Result<Value, Failure> {
    let counter = EntityId::new("counter", key);
    ctx.signal_entity(&counter, "add", 1);
    ctx.call_entity(&counter, "get", ()).await
}

// --- Critical sections ------------------------------------------------------------------------

/// `account@<key>`, the entity the critical-section orchestrators lock.
fn account(key: &str) -> EntityId {
    EntityId::new("account", key)
}

/// A refused call's failure as `{"type": type, "message": message}`.
fn refused(failure: Failure) -> Value {
    json!({ "type": failure.error_type, "message": failure.message })
}

/// Input: an amount n. Locks `account@a` and `account@b` (asked for as b, a, b: the request is
/// sorted and duplicate-free) and, once granted, calls `balance` on `a`. Below n it fails with
/// `InsufficientFunds` (message `balance is B, needed N`) still inside the section (ending
/// releases it). Otherwise it calls `add` with -n on `a` and `add` with n on `b` together,
/// unlocks, and returns `{"transferred": n, "locked": false}` (whether it is still locked).
#[durable_sdk::orchestrator]
async fn lock_transfer(ctx: OrchestrationContext, n: i64) -> Result<Value, Failure> {
    let (a, b) = (account("a"), account("b"));
    ctx.lock_entities(&[b.clone(), a.clone(), b.clone()])
        .await?;
    let balance: i64 = ctx.call_entity(&a, "balance", ()).await?;
    if balance < n {
        return Err(Failure::new(
            "InsufficientFunds",
            format!("balance is {balance}, needed {n}"),
        ));
    }
    task_all(vec![
        ctx.call_entity::<Value>(&a, "add", -n),
        ctx.call_entity(&b, "add", n),
    ])
    .await?;
    ctx.unlock_entities();
    Ok(json!({ "transferred": n, "locked": ctx.is_locked() }))
}

/// Locks `account@a` and, once granted, tries what a critical section refuses, each failing
/// with `LockingRulesViolation` (caught, and scheduling nothing, so no sequence id is taken):
/// calling `balance` on `account@c` (not locked), locking `account@c` (a second section),
/// starting the sub-orchestration `child`, and starting it with retries (3 attempts 5 s apart).
/// Then signals `ping` to `account@c` (signals are allowed) and returns
/// `{"refused": [{"type", "message"}, ...], "locked": true}` without unlocking: ending releases
/// the section.
#[durable_sdk::orchestrator]
async fn lock_rules(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let (a, c) = (account("a"), account("c"));
    ctx.lock_entities(std::slice::from_ref(&a)).await?;
    let mut refusals = Vec::new();
    if let Err(failure) = ctx.call_entity::<Value>(&c, "balance", ()).await {
        refusals.push(refused(failure));
    }
    if let Err(failure) = ctx.lock_entities(std::slice::from_ref(&c)).await {
        refusals.push(refused(failure));
    }
    if let Err(failure) = ctx.call_sub_orchestrator::<Value>("child", None, ()).await {
        refusals.push(refused(failure));
    }
    let retried =
        ctx.call_sub_orchestrator_with_retry::<Value>("child", None, &three_attempts(), ());
    if let Err(failure) = retried.await {
        refusals.push(refused(failure));
    }
    ctx.signal_entity(&c, "ping", ());
    Ok(json!({ "refused": refusals, "locked": ctx.is_locked() }))
}

/// Locks no entities: the lock fails with `LockingRulesViolation`, which ends the
/// orchestration.
#[durable_sdk::orchestrator]
async fn lock_none(ctx: OrchestrationContext) -> Result<Value, Failure> {
    ctx.lock_entities(&[]).await?;
    Ok(Value::Null)
}

// --- Retries, timed waits, carried events -----------------------------------------------------

/// The policy of the retry orchestrators: 3 attempts, 5 s apart.
fn three_attempts() -> RetryPolicy {
    RetryPolicy::new(3, Duration::from_secs(5))
}

/// Calls `flaky` with up to 3 attempts 5 s apart and returns its result; the last failure
/// ends the orchestration.
#[durable_sdk::orchestrator]
async fn retry_activity(ctx: OrchestrationContext) -> Result<Value, Failure> {
    ctx.call_activity_with_retry("flaky", &three_attempts(), ())
        .await
}

/// Calls `flaky` with 1 and with 2 in parallel, each retried up to 3 times 5 s apart:
/// `[r1, r2]`.
#[durable_sdk::orchestrator]
async fn retry_parallel(ctx: OrchestrationContext) -> Result<Vec<Value>, Failure> {
    let policy = three_attempts();
    let first = ctx.call_activity_with_retry("flaky", &policy, 1);
    let second = ctx.call_activity_with_retry("flaky", &policy, 2);
    task_all(vec![first, second]).await
}

/// Waits up to 30 s for `approve`: `{"event": data}`. On timeout the custom status becomes
/// `{"timedOut": type}` and it waits for `approve` again (no limit):
/// `{"timedOut": type, "later": data}`.
#[durable_sdk::orchestrator]
async fn event_timeout(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let waited: Result<Value, Failure> = ctx
        .wait_for_external_event_with_timeout("approve", Duration::from_secs(30))
        .await;
    match waited {
        Ok(data) => Ok(json!({ "event": data })),
        Err(failure) => {
            ctx.set_custom_status(json!({ "timedOut": failure.error_type }));
            let later: Value = ctx.wait_for_external_event("approve").await?;
            Ok(json!({ "timedOut": failure.error_type, "later": later }))
        }
    }
}

/// Input `{"round": n, "preserve": bool}`. Calls `work` with n, then waits for one `item`;
/// below round 2 it continues as new with the next round, carrying events that arrived and
/// were not consumed when `preserve` is true; at round 2 it returns the item.
#[durable_sdk::orchestrator]
async fn carry_events(ctx: OrchestrationContext, input: Value) -> Result<Value, Failure> {
    let round = input["round"].as_u64().unwrap_or(0);
    let preserve = input["preserve"].as_bool().unwrap_or(false);
    ctx.call_activity::<Value>("work", round).await?;
    let item: Value = ctx.wait_for_external_event("item").await?;
    if round < 2 {
        ctx.continue_as_new(
            json!({ "round": round + 1, "preserve": preserve }),
            preserve,
        );
    }
    Ok(item)
}

// --- Spawned sub-flows ------------------------------------------------------------------------

/// Spawns the chain `a` then `b` (with `a`'s result as input) and calls `c` directly beside it:
/// `{"chain": [a, b], "other": c}`. `a` is scheduled when the flow is spawned, before `c`.
#[durable_sdk::orchestrator]
async fn spawn_chain(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let c = ctx.clone();
    let chain: Task<Vec<Value>> = ctx.spawn(async move {
        let a: Value = c.call_activity("a", ()).await?;
        let b: Value = c.call_activity("b", &a).await?;
        Ok(vec![a, b])
    });
    let other: Task<Value> = ctx.call_activity("c", ());
    let chain = chain.await?;
    Ok(json!({ "chain": chain, "other": other.await? }))
}

/// Calls `gate`, then spawns `first` (which waits for `gate` and returns its result) and
/// `second` (which waits for `gate`, then calls `second`). The orchestrator waits for `gate`,
/// calls `main_after_gate`, waits for `first`, calls `main_after_first`, and returns
/// `[main_after_gate, second, main_after_first]`. When `gate` completes, the orchestrator runs
/// before the spawned flows (`main_after_gate` comes first), and it sees `first` finish only
/// after every spawned flow had its turn (`second` comes before `main_after_first`).
#[durable_sdk::orchestrator]
async fn spawn_poll_order(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let gate: Task<Value> = ctx.call_activity("gate", ());
    let waits = gate.clone();
    // A flow of its own around the task, as in the Python and JavaScript guests.
    #[allow(clippy::redundant_async_block)]
    let first: Task<Value> = ctx.spawn(async move { waits.await });
    let waits = gate.clone();
    let c = ctx.clone();
    let second: Task<Value> = ctx.spawn(async move {
        waits.await?;
        c.call_activity("second", ()).await
    });
    gate.await?;
    let after_gate: Task<Value> = ctx.call_activity("main_after_gate", ());
    first.await?;
    let after_first: Task<Value> = ctx.call_activity("main_after_first", ());
    Ok(json!([
        after_gate.await?,
        second.await?,
        after_first.await?
    ]))
}

/// Spawns a flow that calls `check` and fails with its own `Negative` failure (message
/// `"{v} is negative"`) when the result is below 0, else returns it; calls `side` beside it and
/// returns `task_all([flow, side])`. A failure of the flow (its own or `check`'s) fails the
/// orchestration without waiting for `side`.
#[durable_sdk::orchestrator]
async fn spawn_failure(ctx: OrchestrationContext) -> Result<Vec<Value>, Failure> {
    let c = ctx.clone();
    let flow: Task<Value> = ctx.spawn(async move {
        let v: i64 = c.call_activity("check", ()).await?;
        if v < 0 {
            return Err(Failure::new("Negative", format!("{v} is negative")));
        }
        Ok(json!(v))
    });
    let side: Task<Value> = ctx.call_activity("side", ());
    task_all(vec![flow, side]).await
}

/// Spawns the chain `a` then `b` (with `a`'s result as input, returning `b`'s result), starts
/// a 60 s timer and races them: `{"winner": 0, "value": b}` (and the timer is cancelled) or
/// `{"winner": 1, "value": null}` when the timer fires first.
#[durable_sdk::orchestrator]
async fn spawn_vs_timer(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let c = ctx.clone();
    let flow: Task<Value> = ctx.spawn(async move {
        let a: Value = c.call_activity("a", ()).await?;
        c.call_activity("b", &a).await
    });
    let timer = ctx.create_timer_after(Duration::from_secs(60));
    let (winner, outcome) = task_any(vec![flow, timer.untyped()]).await?;
    if winner == 0 {
        timer.cancel();
    }
    Ok(race_result(winner, outcome))
}

/// Spawns an outer flow that spawns an inner flow (calling `inner`) and then calls `outer`;
/// the orchestrator then calls `main`. Returns `[outer, inner, main]`. The first turn schedules
/// `inner`, `outer`, `main`, in that order.
#[durable_sdk::orchestrator]
async fn spawn_nested(ctx: OrchestrationContext) -> Result<Vec<Value>, Failure> {
    let c = ctx.clone();
    let outer: Task<Vec<Value>> = ctx.spawn(async move {
        let c2 = c.clone();
        let inner: Task<Value> = c.spawn(async move { c2.call_activity("inner", ()).await });
        let mine: Value = c.call_activity("outer", ()).await?;
        Ok(vec![mine, inner.await?])
    });
    let last: Value = ctx.call_activity("main", ()).await?;
    let mut all = outer.await?;
    all.push(last);
    Ok(all)
}

durable_sdk::component! {
    orchestrators: [
        report_version,
        chain,
        fail_fast,
        catch_failure,
        user_error,
        return_immediately,
        await_twice,
        never_awaited,
        time_per_turn,
        uuids,
        replaying_flags,
        all_success,
        all_first_failure,
        all_empty,
        any_success,
        any_failed_winner,
        any_empty,
        nested,
        nested_any_of_all,
        reuse_pending_in_any,
        timer_fire,
        timer_cancel,
        timer_vs_event,
        event_wait,
        event_early,
        two_waiters,
        events_out_of_order,
        custom_status,
        continue_as_new,
        sub_orchestration,
        entity_counter,
        lock_transfer,
        lock_rules,
        lock_none,
        retry_activity,
        retry_parallel,
        event_timeout,
        carry_events,
        spawn_chain,
        spawn_poll_order,
        spawn_failure,
        spawn_vs_timer,
        spawn_nested,
    ],
    activities: [],
    entities: [],
}
