//! Spawned futures: scheduled eagerly, polled after every event with the main future, and
//! placed in history order at the moment they finish.

use super::*;

/// A chain `a -> b` runs in the background while `c` runs alongside it.
#[crate::orchestrator]
async fn chain_beside_activity(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let c = ctx.clone();
    let chain: Task<Vec<String>> = ctx.spawn(async move {
        let a: String = c.call_activity("a", ()).await?;
        let b: String = c.call_activity("b", &a).await?;
        Ok(vec![a, b])
    });
    let other: Task<String> = ctx.call_activity("c", ());
    let chain = chain.await?;
    Ok(json!({"chain": chain, "other": other.await?}))
}

#[test]
fn spawned_work_is_scheduled_at_creation_and_runs_alongside() {
    let turns = vec![
        first_turn(Value::Null),
        vec![turn_start(1), completed(0, json!("A"))],
        vec![turn_start(2), completed(1, json!("C"))],
        vec![turn_start(3), completed(2, json!("B"))],
    ];
    let actions = run_both(chain_beside_activity::__DURABLE_ORCHESTRATOR, &turns);
    // `a` (spawned) was scheduled when `spawn` was called, before `c`.
    assert_eq!(
        actions[0],
        vec![schedule(0, "a", Value::Null), schedule(1, "c", Value::Null)]
    );
    assert_eq!(actions[1], vec![schedule(2, "b", json!("A"))]);
    assert!(actions[2].is_empty());
    assert_eq!(
        actions[3],
        vec![complete(json!({"chain": ["A", "B"], "other": "C"}))]
    );
}

/// Races a spawned task (finishing when `a` completes) against the activity `b`.
#[crate::orchestrator]
async fn race_spawned(ctx: OrchestrationContext) -> Result<usize, Failure> {
    let c = ctx.clone();
    let spawned: Task<String> = ctx.spawn(async move {
        let a: String = c.call_activity("a", ()).await?;
        Ok(format!("{a}!"))
    });
    let b: Task<String> = ctx.call_activity("b", ());
    let (winner, _) = task_any(vec![spawned, b]).await?;
    Ok(winner)
}

#[test]
fn spawned_task_takes_its_place_in_history_order() {
    // `a` first: the spawned task finishes right after it, before `b`'s event is applied.
    let turns = vec![
        first_turn(Value::Null),
        vec![
            turn_start(1),
            completed(0, json!("A")),
            completed(1, json!("B")),
        ],
    ];
    let actions = run_both(race_spawned::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(actions[1], vec![complete(json!(0))]);
    // `b` first.
    let turns = vec![
        first_turn(Value::Null),
        vec![
            turn_start(1),
            completed(1, json!("B")),
            completed(0, json!("A")),
        ],
    ];
    let actions = run_both(race_spawned::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(actions[1], vec![complete(json!(1))]);
}

/// The first spawned task waits for the second (created later), the main future for the
/// first: the executor keeps polling until nothing moves, within one event.
#[crate::orchestrator]
async fn spawned_depend_on_each_other(ctx: OrchestrationContext) -> Result<u32, Failure> {
    let later: Rc<RefCell<Option<Task<u32>>>> = Rc::default();
    let slot = later.clone();
    let first: Task<u32> = ctx.spawn(async move {
        // Pending until the second exists and finished.
        let second = std::future::poll_fn(|_| match slot.borrow().clone() {
            Some(task) => std::task::Poll::Ready(task),
            None => std::task::Poll::Pending,
        })
        .await;
        Ok(second.await? + 1)
    });
    let c = ctx.clone();
    let second: Task<u32> = ctx.spawn(async move {
        let x: u32 = c.call_activity("x", ()).await?;
        Ok(x * 10)
    });
    *later.borrow_mut() = Some(second);
    let ready: Task<u32> = ctx.spawn(async { Ok(5) });
    assert!(
        ready.is_complete(),
        "a future that never waits is done at creation"
    );
    Ok(first.await? + ready.await?)
}

#[test]
fn spawned_futures_are_polled_until_no_progress() {
    let turns = vec![
        first_turn(Value::Null),
        vec![turn_start(1), completed(0, json!(4))],
    ];
    let actions = run_both(spawned_depend_on_each_other::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(actions[0], vec![schedule(0, "x", Value::Null)]);
    assert_eq!(actions[1], vec![complete(json!(46))]);
}

/// A spawned future that spawns another: both schedule in creation order.
#[crate::orchestrator]
async fn nested_spawn(ctx: OrchestrationContext) -> Result<Vec<String>, Failure> {
    let c = ctx.clone();
    let outer: Task<Vec<String>> = ctx.spawn(async move {
        let c2 = c.clone();
        let inner: Task<String> = c.spawn(async move { c2.call_activity("inner", ()).await });
        let mine: String = c.call_activity("outer", ()).await?;
        Ok(vec![mine, inner.await?])
    });
    let last: String = ctx.call_activity("main", ()).await?;
    let mut all = outer.await?;
    all.push(last);
    Ok(all)
}

#[test]
fn nested_spawns_schedule_in_creation_order() {
    let turns = vec![
        first_turn(Value::Null),
        vec![
            turn_start(1),
            completed(2, json!("M")),
            completed(0, json!("I")),
            completed(1, json!("O")),
        ],
    ];
    let actions = run_both(nested_spawn::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(
        actions[0],
        vec![
            schedule(0, "inner", Value::Null),
            schedule(1, "outer", Value::Null),
            schedule(2, "main", Value::Null),
        ]
    );
    assert_eq!(actions[1], vec![complete(json!(["O", "I", "M"]))]);
}

/// The orchestration finishing drops spawned futures: they decide nothing more.
#[crate::orchestrator]
async fn abandon_spawned(ctx: OrchestrationContext) -> Result<(), Failure> {
    let c = ctx.clone();
    let _background: Task<()> = ctx.spawn(async move {
        c.call_activity::<()>("first", ()).await?;
        c.call_activity::<()>("never", ()).await
    });
    Ok(())
}

#[test]
fn spawned_futures_stop_when_the_orchestration_ends() {
    let turns = vec![
        first_turn(Value::Null),
        vec![turn_start(1), completed(0, Value::Null)],
    ];
    let actions = run_cached(abandon_spawned::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(
        actions[0],
        vec![schedule(0, "first", Value::Null), complete(Value::Null)]
    );
    assert!(actions[1].is_empty());
}
