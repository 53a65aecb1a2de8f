//! Durable entities through the real host: the `counter` example driven by client signals
//! and by orchestrations, in Rust and (the same tests) in Python and JavaScript.

use crate::support::*;
use durable_host::client::{ClientError, StartRequest};
use durable_host::store::{EntityFilter, EntityRecord};
use durable_host::types::{EntityId, EntityOperationRequest, RuntimeStatus};
use durable_host::wasm::WasmRuntime;
use durable_host::wasm::sandbox::GuestLimits;
use serde_json::json;
use std::time::Duration;

async fn call(t: &TestHost, entity: &str, operation: &str, input: serde_json::Value) -> String {
    let input = json!({ "entity": entity, "key": "k", "operation": operation, "input": input });
    t.client()
        .start(StartRequest::new("call_counter").input(input.to_string()))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_signals_count_to_exactly_fifty() {
    let mut t = TestHost::running(&["counter"]).await;
    let mut signals = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let client = t.client().clone();
        signals.spawn(async move { client.signal_entity("counter", "c", "add", "1").await });
    }
    while let Some(sent) = signals.join_next().await {
        sent.unwrap().unwrap();
    }
    let record = t
        .entity_until("counter", "c", |r| r.pending == 0 && r.state.is_some())
        .await;
    assert_eq!(record.state.as_deref(), Some("50"));
    assert!(record.last_operation_at >= START);
    let listed = t
        .client()
        .list_entities(&EntityFilter {
            name: Some("counter".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed, vec![record]);
    t.stop().await;
}

per_language!(an_orchestration_signals_and_calls_an_entity: rust, python, js);

async fn an_orchestration_signals_and_calls_an_entity(lang: Lang) {
    let mut t = TestHost::running_component(&read(&lang.example("counter"))).await;
    for (amount, expected) in [(5, 5), (3, 8)] {
        let input = json!({ "key": "o", "amount": amount }).to_string();
        let id = t.start("increment_and_read", input).await;
        let record = t.finish(&id).await;
        assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
        assert_eq!(output(&record), json!(expected));
        let history = t.client().history(&id).await.unwrap();
        assert_eq!(count(&history, "EntitySignalled"), 1);
        assert_eq!(count(&history, "EntityCalled"), 1);
        assert_eq!(count(&history, "EntityResponded"), 1);
        if lang == Lang::JavaScript {
            // The JavaScript example logs what it read.
            let logs = t.client().logs(&id).await.unwrap();
            let lines: Vec<_> = logs
                .iter()
                .filter(|l| l.message == format!("counter@o is {expected}"))
                .collect();
            assert_eq!(lines.len(), 1, "a log line is recorded once: {logs:?}");
        }
    }
    // The client sees the state the operations left.
    let settled = t.entity_until("counter", "o", |r| r.pending == 0).await;
    assert_eq!(settled.state.as_deref(), Some("8"));
    // A client signal runs the same entity.
    t.client()
        .signal_entity("counter", "o", "add", "2")
        .await
        .unwrap();
    let id = t
        .client()
        .start(StartRequest::new("call_counter").input(
            json!({"entity": "counter", "key": "o", "operation": "get", "input": null}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(output(&t.finish(&id).await), json!(10));
    // `delete` removes the state.
    t.client()
        .signal_entity("counter", "o", "delete", "null")
        .await
        .unwrap();
    let deleted = t.entity_until("counter", "o", |r| r.pending == 0).await;
    assert_eq!(deleted.state, None);
    t.stop().await;
}

per_language!(a_failing_operation_rolls_back_only_itself: rust, python, js);

async fn a_failing_operation_rolls_back_only_itself(lang: Lang) {
    let mut t = TestHost::new();
    t.deploy_component(&read(&lang.example("counter"))).await;
    // Queued before the host runs, so the three run as one batch.
    for amount in ["5", "-10", "2"] {
        t.client()
            .signal_entity("counter", "k", "add", amount)
            .await
            .unwrap();
    }
    t.run();
    let record = t
        .entity_until("counter", "k", |r| r.pending == 0 && r.state.is_some())
        .await;
    assert_eq!(record.state.as_deref(), Some("7"));
    // A call gets the failure, typed by the error's class; the state stays.
    let id = call(&t, "counter", "add", json!(-100)).await;
    let finished = t.finish(&id).await;
    assert_eq!(finished.status, RuntimeStatus::Failed);
    let failure = finished.failure.unwrap();
    assert_eq!(failure.error_type, "NegativeCounter");
    assert_eq!(failure.message, "adding -100 to 7 would go below zero");
    if lang == Lang::JavaScript {
        let stack = failure.stack.unwrap_or_default();
        assert!(stack.contains("app"), "the JavaScript stack: {stack}");
    }
    let id = call(&t, "counter", "get", json!(null)).await;
    assert_eq!(output(&t.finish(&id).await), json!(7));
    // Delete, then clean up the empty entity.
    t.client()
        .signal_entity("counter", "k", "delete", "null")
        .await
        .unwrap();
    t.entity_until("counter", "k", |r| r.pending == 0 && r.state.is_none())
        .await;
    assert!(
        t.client()
            .list_entities(&EntityFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(t.client().delete_empty_entities().await.unwrap(), 1);
    assert_eq!(t.client().entity_state("counter", "k").await.unwrap(), None);
    // An operation the entity does not handle.
    let id = call(&t, "counter", "nope", json!(null)).await;
    let failure = t.finish(&id).await.failure.expect("failure");
    assert_eq!(failure.error_type, "UnknownOperation");
    assert!(failure.message.contains("`nope`"), "{}", failure.message);
    assert!(failure.non_retriable);
    // An entity the component does not offer.
    let id = call(&t, "nope", "get", json!(null)).await;
    let failure = t.finish(&id).await.failure.expect("failure");
    assert_eq!(failure.error_type, "UnknownFunction");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_entities_operations_and_bad_input_fail_clearly() {
    let mut t = TestHost::running(&["counter"]).await;
    let cases = [
        ("nope", "add", json!(1), "UnknownFunction", "`nope`"),
        ("counter", "jump", json!(1), "UnknownOperation", "`jump`"),
        ("counter", "add", json!("x"), "InvalidInput", "i64"),
    ];
    for (entity, operation, input, error_type, mentions) in cases {
        let id = call(&t, entity, operation, input).await;
        let record = t.finish(&id).await;
        assert_eq!(record.status, RuntimeStatus::Failed, "{record:#?}");
        let failure = record.failure.unwrap();
        assert_eq!(failure.error_type, error_type, "{failure:?}");
        assert!(failure.message.contains(mentions), "{}", failure.message);
    }
    let unknown = t
        .client()
        .signal_entity("nope", "k", "add", "1")
        .await
        .unwrap_err();
    assert!(
        matches!(&unknown, ClientError::InvalidRequest(m) if m.contains("unknown entity `nope`") && m.contains("counter")),
        "{unknown}"
    );
    let malformed = t
        .client()
        .signal_entity("counter", "k", "add", "{oops")
        .await
        .unwrap_err();
    assert!(
        matches!(malformed, ClientError::MalformedJson { .. }),
        "{malformed}"
    );
    t.stop().await;
}

#[test]
fn the_cli_signals_reads_and_lists_entities() {
    use crate::process::Durable;
    let durable = Durable::new();
    let component = guest("counter");
    durable.deploy(&component);
    for amount in ["2", "3"] {
        durable
            .run([
                "entity", "signal", "counter", "c1", "add", "--input", amount,
            ])
            .ok();
    }
    let out = durable.run(["entity", "get", "counter", "c1"]);
    assert!(out.ok().contains("(2 pending)"), "{out:#?}");
    let out = durable.run(["entity", "signal", "counter", "c1", "add", "--input", "{x"]);
    assert!(out.err().contains("not valid JSON"), "{out:#?}");
    let out = durable.run(["entity", "signal", "nope", "c1", "add"]);
    assert!(out.err().contains("unknown entity `nope`"), "{out:#?}");
    let mut serve = durable.serve("serve.log", ["--poll-ms", "20"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let out = durable.run(["entity", "get", "counter", "c1"]);
        if out.status.success() && out.stdout.starts_with("counter@c1  5  last operation") {
            break;
        }
        serve.assert_running();
        assert!(std::time::Instant::now() < deadline, "{out:#?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = durable.run(["entity", "list", "--name", "counter"]);
    assert!(out.ok().starts_with("counter@c1  5"), "{out:#?}");
    let out = durable.run(["entity", "get", "counter", "missing"]);
    assert!(
        out.err().contains("no entity `counter@missing`"),
        "{out:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_signal_runs_when_its_time_comes() {
    let mut t = TestHost::running(&["counter"]).await;
    let input = json!({ "key": "later", "amount": 4, "delay_secs": 3600 }).to_string();
    let id = t.start("add_later", input).await;
    assert_eq!(t.finish(&id).await.status, RuntimeStatus::Completed);
    let waiting = t
        .client()
        .entity_state("counter", "later")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((waiting.state, waiting.pending), (None, 1));
    t.clock.advance(Duration::from_secs(3600));
    let record = t
        .entity_until("counter", "later", |r| r.state.is_some())
        .await;
    assert_eq!(record.state.as_deref(), Some("4"));
    assert_eq!(record.last_operation_at, START + 3_600_000);
    t.stop().await;
}

/// `durable serve` is killed (SIGKILL) while it works through 1,000 signals to 200 counters,
/// then started again on the same database: every counter ends at exactly 5.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_host_loses_no_signal_and_applies_none_twice() {
    use crate::process::Durable;
    use durable_host::client::Client;
    use durable_host::clock::SystemClock;

    let durable = Durable::new();
    let component = guest("counter");
    let serve_args = || -> Vec<std::ffi::OsString> {
        let mut args = vec!["--component".into(), component.clone().into_os_string()];
        args.extend(durable.killable_serve_args(&[]));
        args
    };
    // The first serve deploys the component; signals need it deployed.
    let mut first = durable.serve("serve-1.log", serve_args());
    let store = durable.db.store();
    let client = Client::new(store.clone(), std::sync::Arc::new(SystemClock));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while store.components().await.unwrap().is_empty() {
        first.assert_running();
        assert!(std::time::Instant::now() < deadline, "never deployed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for round in 0..5 {
        for key in 0..200 {
            client
                .signal_entity("counter", &format!("k{key}"), "add", "1")
                .await
                .unwrap_or_else(|e| panic!("round {round}, key {key}: {e}"));
        }
    }
    // Kill it as soon as some (not all) of the work is done.
    let all = EntityFilter {
        name: Some("counter".into()),
        include_empty: true,
        ..Default::default()
    };
    loop {
        let entities = client.list_entities(&all).await.unwrap();
        if entities.iter().any(|e| e.state.is_some()) {
            break;
        }
        first.assert_running();
        assert!(std::time::Instant::now() < deadline, "no batch ever ran");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    first.kill();
    let mut second = durable.serve("serve-2.log", serve_args());
    loop {
        let entities = client.list_entities(&all).await.unwrap();
        assert_eq!(entities.len(), 200);
        if entities.iter().all(|e| e.pending == 0) {
            for entity in entities {
                assert_eq!(entity.state.as_deref(), Some("5"), "{entity:?}");
            }
            break;
        }
        second.assert_running();
        assert!(
            std::time::Instant::now() < deadline,
            "the restarted host never finished:\n{}",
            second.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

per_language!(concurrent_transfers_in_critical_sections_conserve_the_total: rust, python, js);

/// Concurrent transfers between three accounts, each inside a critical section over its two
/// accounts (half of them locking in the opposite order to the other half): all complete, no
/// account is overdrawn and the total is conserved. Rust: `examples/bank-transfer`; Python and
/// JavaScript: the `account` entity and `transfer` orchestrator of their conformance guests
/// (`context.lock` / `context.df.lock`).
async fn concurrent_transfers_in_critical_sections_conserve_the_total(lang: Lang) {
    let component = match lang {
        Lang::Rust => guest("bank-transfer"),
        _ => lang.conformance_guest(),
    };
    let mut t = TestHost::running_component(&read(&component)).await;
    for key in ["a", "b", "c"] {
        t.client()
            .signal_entity("account", key, "deposit", "100")
            .await
            .unwrap();
    }
    let pairs = [
        ("a", "b"),
        ("b", "a"),
        ("b", "c"),
        ("c", "b"),
        ("c", "a"),
        ("a", "c"),
    ];
    let mut ids = Vec::new();
    for round in 0..4 {
        for (i, (from, to)) in pairs.iter().enumerate() {
            let amount = 10 + 15 * ((round + i) % 5);
            let input = json!({ "from": from, "to": to, "amount": amount }).to_string();
            ids.push(
                t.client()
                    .start(StartRequest::new("transfer").input(input))
                    .await
                    .unwrap(),
            );
        }
    }
    for id in &ids {
        let record = t.finish(id).await;
        assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
        let history = t.client().history(id).await.unwrap();
        assert_eq!(count(&history, "EntityLockRequested"), 1, "{history:#?}");
        assert_eq!(count(&history, "EntityUnlocked"), 1, "{history:#?}");
    }
    let mut total = 0;
    for key in ["a", "b", "c"] {
        let record = t.entity_until("account", key, |r| r.pending == 0).await;
        let state: serde_json::Value =
            serde_json::from_str(record.state.as_deref().unwrap()).unwrap();
        let balance = state["balance"].as_i64().unwrap();
        assert!(balance >= 0, "{key}: {balance}");
        total += balance;
    }
    assert_eq!(total, 300);
    // The locks were released: a plain signal still runs.
    t.client()
        .signal_entity("account", "a", "deposit", "1")
        .await
        .unwrap();
    t.entity_until("account", "a", |r| r.pending == 0).await;
    t.stop().await;
}

/// An orchestration terminated while it waits for a lock releases it: its lock request and
/// the release travel the same path, so once the other holder lets go both accounts are free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_orchestration_releases_its_locks() {
    use durable_host::store::{EntityCaller, EntityMessage};
    use durable_host::types::EntityId;
    let mut t = TestHost::running(&["bank-transfer"]).await;
    let ghost = |operation: &str, input: &str| EntityMessage {
        entity: EntityId {
            name: "account".into(),
            key: "a".into(),
        },
        operation: operation.into(),
        input: input.into(),
        caller: Some(EntityCaller {
            instance_id: "ghost".into(),
            execution_id: "ghost-exec".into(),
            task_id: 0,
        }),
        sender: Some("ghost".into()),
        visible_at: START,
    };
    let only_a = r#"{"entities":[{"name":"account","key":"a"}],"index":0}"#;
    t.store
        .send_entity_message(ghost("$lock", only_a))
        .await
        .unwrap();
    let input = json!({ "from": "a", "to": "b", "amount": 1 }).to_string();
    let id = t.start("transfer", input).await;
    t.history_until(&id, |h| has(h, "EntityLockRequested"))
        .await;
    t.client()
        .terminate(&id, Some("stuck"), false)
        .await
        .unwrap();
    assert_eq!(t.finish(&id).await.status, RuntimeStatus::Terminated);
    t.store
        .send_entity_message(ghost("$unlock", only_a))
        .await
        .unwrap();
    for key in ["a", "b"] {
        t.client()
            .signal_entity("account", key, "deposit", "3")
            .await
            .unwrap();
    }
    for key in ["a", "b"] {
        let settled = |r: &EntityRecord| r.pending == 0 && r.state.is_some();
        let record = t.entity_until("account", key, settled).await;
        assert_eq!(record.state.as_deref(), Some(r#"{"balance":3}"#));
    }
    t.stop().await;
}

/// Inside a critical section the holder's signal and its later call run in the order sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_holders_signal_runs_before_its_later_call() {
    let mut t = TestHost::running(&["probe", "counter"]).await;
    let id = t.start("signal_in_section", r#""s""#).await;
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    assert_eq!(output(&record), json!(5), "`get` ran after `add 5`");
    t.stop().await;
}

per_language!(entity_random_values_differ_from_batch_to_batch: rust, python, js);

/// The random numbers an entity draws are seeded per batch, by the messages it runs: two
/// batches of one entity see different values, and the same batch run again (as after a
/// crash) sees the same ones.
async fn entity_random_values_differ_from_batch_to_batch(lang: Lang) {
    let component = match lang {
        Lang::Rust => guest("probe"),
        _ => lang.conformance_guest(),
    };
    let mut t = TestHost::running_component(&read(&component)).await;
    let mut rolls = Vec::new();
    for _ in 0..2 {
        let id = t.start("roll_dice", r#""d""#).await;
        let record = t.finish(&id).await;
        assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
        rolls.push(output(&record));
    }
    // Every source of randomness the guest uses (a UUID, the language's generator) differs.
    let fields = rolls[0].as_object().expect("a roll is an object");
    for (source, first) in fields {
        assert_ne!(
            Some(first),
            rolls[1].get(source),
            "two batches of dice@d drew the same {source}: {rolls:?}"
        );
    }
    t.stop().await;

    let wasm =
        WasmRuntime::new(Some(compile_cache()), GuestLimits::default(), 0).expect("wasm runtime");
    let loaded = wasm.load(&read(&component)).await.expect("loading");
    let dice = EntityId {
        name: "dice".into(),
        key: "d".into(),
    };
    let roll = [EntityOperationRequest {
        name: "roll".into(),
        input: "null".into(),
    }];
    let batch = |seed: &'static str| {
        let (wasm, loaded, dice, roll) = (&wasm, &loaded, &dice, &roll);
        async move {
            let output = wasm
                .run_entity_batch(loaded, dice, seed, None, roll, START)
                .await
                .expect("the batch runs");
            output.results[0].result.clone().expect("rolled")
        }
    };
    assert_eq!(batch("@dice@d#7").await, batch("@dice@d#7").await);
    assert_ne!(batch("@dice@d#7").await, batch("@dice@d#8").await);
}
