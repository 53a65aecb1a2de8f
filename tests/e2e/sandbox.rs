//! The deterministic sandbox: virtual clock, seeded randomness, no I/O, and
//! CPU and memory bounds that fail one instance while others complete.

use crate::support::*;
use durable_host::client::StartRequest;
use durable_host::host::HeldInstances;
use durable_host::types::{HistoryEvent, RuntimeStatus};
use durable_host::wasm::sandbox::GuestLimits;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_random_and_uuid_are_the_same_on_replay() {
    let mut t = TestHost::running(&["probe"]).await;
    let id = "probe-1";
    t.start_as("clock_random_uuid", id, "null").await;
    t.history_until(id, |h| h.len() >= 2).await;
    let live: Value = {
        let record = t.client().status(id).await.unwrap();
        serde_json::from_str(record.custom_status.as_deref().expect("status set")).unwrap()
    };
    // The orchestrator's clock is the turn's time, not the machine's.
    assert_eq!(live["now_ms"], json!(START));
    assert_eq!(live["orchestration_time_ms"], json!(START));
    assert_ne!(live["random"], json!(vec![0; 16]));

    // Force a cold replay of the first turn before the second.
    t.host.evict_all();
    t.clock.advance(Duration::from_secs(5));
    t.client().raise_event(id, "go", "1").await.unwrap();
    let record = t.finish(id).await;
    let out = output(&record);
    assert_eq!(
        out["before"], live,
        "replay must recompute the same readings"
    );
    assert_eq!(out["after"]["now_ms"], json!(START + 5_000));
    assert_ne!(out["after"]["random"], out["before"]["random"]);
    assert_ne!(out["after"]["uuid"], out["before"]["uuid"]);
    t.stop().await;
}

/// Each orchestration is a new guest instance, in a pool slot a previous one used and wrote
/// (the pool reuses the most recently freed slot of the component, resetting in place the
/// pages written there): none may see what the one before it wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_instance_never_sees_what_the_one_before_it_wrote() {
    let mut t = TestHost::running(&["probe"]).await;
    for round in 0..6 {
        let id = format!("scribble-{round}");
        t.start_as("scribble", &id, "null").await;
        let record = t.finish(&id).await;
        assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
        assert_eq!(
            output(&record),
            json!(0),
            "round {round} saw bytes an earlier instance wrote"
        );
    }
    t.stop().await;
}

/// A free pool slot keeps the pages its last instance wrote up to `free_slot_memory`
/// (`--free-slot-memory-kib`), and none with 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_slots_keep_written_pages_only_as_configured() {
    for keep in [GuestLimits::default().free_slot_memory, 0] {
        let mut t = TestHost::with_config(|c| c.limits.free_slot_memory = keep);
        t.deploy(&["probe"]).await;
        t.run();
        for round in 0..3 {
            let id = format!("scribble-{round}");
            t.start_as("scribble", &id, "null").await;
            assert_eq!(t.finish(&id).await.status, RuntimeStatus::Completed);
        }
        // Each orchestration's instance is dropped once it completes, freeing its slot.
        let none = HeldInstances {
            orchestrators: 0,
            activities: 0,
        };
        held_until(&t, none).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while keep > 0 && t.host.free_slots_resident_bytes() == 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no free slot kept a page"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let kept = t.host.free_slots_resident_bytes();
        assert!(
            kept <= keep * 8,
            "{kept} bytes kept by a few slots of at most {keep}"
        );
        if keep == 0 {
            assert_eq!(kept, 0, "nothing is kept with 0");
        }
        t.stop().await;
    }
}

async fn failure_of(t: &TestHost, orchestrator: &str) -> durable_host::types::Failure {
    let id = t
        .client()
        .start(StartRequest::new(orchestrator))
        .await
        .unwrap();
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Failed, "{record:#?}");
    record.failure.expect("failure")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_and_sockets_fail_with_a_hint_to_use_an_activity() {
    let mut t = TestHost::running(&["probe"]).await;
    for orchestrator in ["open_file", "open_socket"] {
        let failure = failure_of(&t, orchestrator).await;
        assert_eq!(failure.error_type, "SandboxViolation", "{failure:#?}");
        assert!(failure.message.contains("activity"), "{}", failure.message);
        assert!(failure.non_retriable);
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_guests_fail_alone_while_others_complete() {
    let mut t = TestHost::with_config(|c| {
        c.limits.step_cpu = Duration::from_millis(300);
        c.limits.orchestrator_memory = 32 << 20;
    });
    t.deploy(&["probe", "hello-sequence"]).await;
    t.run();
    let client = t.client();
    let looping = client
        .start(StartRequest::new("infinite_loop"))
        .await
        .unwrap();
    let bomb = client
        .start(StartRequest::new("memory_bomb"))
        .await
        .unwrap();
    let trap = client.start(StartRequest::new("trap")).await.unwrap();
    let mut hellos = Vec::new();
    for _ in 0..5 {
        hellos.push(
            client
                .start(StartRequest::new("hello_sequence"))
                .await
                .unwrap(),
        );
    }
    for id in &hellos {
        let record = t.finish(id).await;
        assert_eq!(record.status, RuntimeStatus::Completed);
        assert_eq!(
            output(&record)[0],
            json!("Hello Tokyo!"),
            "the newest deployment wins"
        );
    }
    let looping = t.finish(&looping).await.failure.expect("failure");
    assert_eq!(looping.error_type, "ResourceLimit");
    assert!(looping.message.contains("CPU limit"), "{}", looping.message);
    let bomb = t.finish(&bomb).await.failure.expect("failure");
    assert_eq!(bomb.error_type, "ResourceLimit");
    assert!(bomb.message.contains("32 MiB"), "{}", bomb.message);
    let trap = t.finish(&trap).await.failure.expect("failure");
    assert_eq!(trap.error_type, "Trap");
    assert!(
        trap.message.contains("deliberate panic"),
        "the panic message is kept: {}",
        trap.message
    );
    t.stop().await;
}

per_language!(a_blocking_sleep_fails_at_once_naming_create_timer: rust, python);

/// `std::thread::sleep(30 s)`, `time.sleep(30)`: the sandbox never waits on real time, so the
/// sleep fails the orchestration at once with a hint to use a durable timer.
async fn a_blocking_sleep_fails_at_once_naming_create_timer(lang: Lang) {
    let component = match lang {
        Lang::Rust => guest("probe"),
        _ => lang.conformance_guest(),
    };
    let mut t = TestHost::running_component(&read(&component)).await;
    let failure = failure_of(&t, "blocking_sleep").await;
    assert_eq!(failure.error_type, "SandboxViolation", "{failure:#?}");
    assert!(
        failure.message.contains("create_timer") && failure.message.contains("30s"),
        "{}",
        failure.message
    );
    assert!(failure.non_retriable);
    t.stop().await;
}

/// A Python orchestrator logging 300 lines of 1 MB completes, and the host keeps a bounded
/// part: lines cut at 16 KiB, 256 KiB per step, and one line counting what it dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_log_lines_is_cut_and_counted() {
    use durable_host::wasm::{MAX_LOG_LINE, MAX_STEP_LOG};
    let mut t = TestHost::running_component(&read(&Lang::Python.conformance_guest())).await;
    let id = t.start("log_flood", "null").await;
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    let logs = t.client().logs(&id).await.unwrap();
    let kept: usize = logs.iter().map(|l| l.message.len()).sum();
    assert!(kept <= MAX_STEP_LOG + 1024, "{kept} bytes of log kept");
    assert!(logs.iter().all(|l| l.message.len() <= MAX_LOG_LINE + 64));
    let last = logs.last().expect("log lines");
    assert_eq!(last.level, "warn");
    assert!(
        last.message.contains("more log lines") && last.message.contains("dropped"),
        "{}",
        last.message
    );
    t.stop().await;
}

/// Payloads over the limit: a client's input is refused, an orchestration's output fails it,
/// an activity's result fails the attempt, an entity state fails its operation; each error
/// names the size and the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_over_the_limit_are_refused_naming_it() {
    use durable_host::client::ClientError;
    let mut t = TestHost::with_config(|c| c.max_payload = 1024);
    t.deploy(&["probe", "counter"]).await;
    t.run();
    let big = json!("x".repeat(2000)).to_string();
    let refused = t
        .client()
        .start(StartRequest::new("echo").input(big))
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            ClientError::PayloadTooLarge {
                size: 2002,
                limit: 1024,
                ..
            }
        ),
        "{refused}"
    );
    for (orchestrator, what) in [
        ("big_output", "the output is 2002 bytes"),
        ("blob_via_activity", "the result is 2002 bytes"),
    ] {
        let id = t.start(orchestrator, "2000").await;
        let record = t.finish(&id).await;
        assert_eq!(record.status, RuntimeStatus::Failed, "{record:#?}");
        let failure = record.failure.expect("failure");
        assert_eq!(failure.error_type, "ResourceLimit", "{failure:#?}");
        assert!(
            failure.message.contains(what) && failure.message.contains("limit of 1024 bytes"),
            "{}",
            failure.message
        );
    }
    // Within the limit, the same calls complete.
    let id = t.start("blob_via_activity", "1000").await;
    assert_eq!(output(&t.finish(&id).await), json!(1000));
    // An entity operation whose new state is over the limit fails alone; the state stays.
    let append = |n: u32| json!({"entity": "hoard", "key": "k", "operation": "append", "input": n});
    let id = t.start("call_counter", append(600).to_string()).await;
    assert_eq!(output(&t.finish(&id).await), json!(600));
    let id = t.start("call_counter", append(600).to_string()).await;
    let failure = t
        .finish(&id)
        .await
        .failure
        .expect("the second append fails");
    assert_eq!(failure.error_type, "ResourceLimit", "{failure:#?}");
    assert!(
        failure.message.contains("the entity state is 1202 bytes"),
        "{}",
        failure.message
    );
    let hoard = t.entity_until("hoard", "k", |r| r.pending == 0).await;
    assert_eq!(
        hoard.state.map(|s| s.len()),
        Some(602),
        "the first append's state"
    );
    // An operation that sends a signal or starts an orchestration with an input over the limit
    // fails alone, and sends nothing.
    for (operation, what) in [
        ("send", "the input of signal `append` to `hoard@k-sink`"),
        ("start", "the input of orchestration `echo`"),
    ] {
        let call = json!({"entity": "hoard", "key": "k", "operation": operation, "input": 2000});
        let id = t.start("call_counter", call.to_string()).await;
        let failure = t.finish(&id).await.failure.expect("over the limit");
        assert_eq!(failure.error_type, "ResourceLimit", "{failure:#?}");
        assert!(failure.message.contains(what), "{}", failure.message);
        let call = json!({"entity": "hoard", "key": "k", "operation": operation, "input": 10});
        let id = t.start("call_counter", call.to_string()).await;
        assert_eq!(
            output(&t.finish(&id).await),
            json!(10),
            "{operation} within the limit"
        );
    }
    let instances = t.client().list(&Default::default()).await.unwrap();
    let echoes: Vec<_> = instances.iter().filter(|i| i.name == "echo").collect();
    assert_eq!(echoes.len(), 1, "only the small start: {echoes:#?}");
    t.stop().await;
}

/// The step limit counts the guest's own CPU time: a step that computes for about two fifths
/// of the limit completes while every core is busy four times over (so it takes longer than
/// the limit in wall time), and an endless loop is still cut off (above).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_starved_host_does_not_cut_off_a_legitimate_step() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let limit = Duration::from_millis(500);
    let mut t = TestHost::with_config(|c| c.limits.step_cpu = limit);
    t.deploy(&["probe"]).await;
    t.run();
    // How many rounds of `busy` take about 200 ms here, on an idle host.
    let mut rounds: u64 = 1 << 20;
    let rounds = loop {
        let started = std::time::Instant::now();
        let id = t.start("busy", rounds.to_string()).await;
        assert_eq!(t.finish(&id).await.status, RuntimeStatus::Completed);
        let took = started.elapsed();
        if took >= limit / 10 {
            break (rounds as f64 * (limit * 2 / 5).as_secs_f64() / took.as_secs_f64()) as u64;
        }
        rounds *= 4;
    };
    let stop = Arc::new(AtomicBool::new(false));
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let burners: Vec<_> = (0..cores * 4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let started = std::time::Instant::now();
    let id = t.start("busy", rounds.to_string()).await;
    let record = t.finish(&id).await;
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for burner in burners {
        burner.join().expect("burner");
    }
    assert_eq!(
        record.status,
        RuntimeStatus::Completed,
        "{rounds} rounds took {took:?} under load: {:#?}",
        record.failure
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activities_get_granted_capabilities_and_are_cut_off_at_their_timeout() {
    let data = tempfile::tempdir().expect("temp dir");
    let mut t = TestHost::with_config(|c| {
        c.limits.activity_timeout = Duration::from_millis(300);
        probe_data(c, data.path(), 60_000);
    });
    t.deploy(&["probe"]).await;
    t.run();
    let id = t.start("slow_chain", "null").await;
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Failed);
    let failure = record.failure.expect("failure");
    assert_eq!(failure.error_type, "ActivityTimeout", "{failure:#?}");
    assert!(failure.message.contains("slow_step"), "{}", failure.message);
    // The activity ran with the directory it was granted before it was cut
    // off (it would have slept a minute: the environment reached it too).
    let runs = std::fs::read_to_string(data.path().join("runs.log")).expect("runs.log");
    assert_eq!(runs, format!("{id} 1\n"));
    t.stop().await;
}

/// An activity instance serves many calls (the module's state carries from one call to the
/// next: calls are cheap, and that is what the guest sees); one that trapped is dropped and the
/// next call gets a fresh instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_instances_serve_many_calls_and_a_trapped_one_is_replaced() {
    let t = TestHost::running(&["probe"]).await;
    let id = t.start("warm_calls", "null").await;
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    assert_eq!(output(&record), json!([1, 2, 3, "Trap", 1, 2]));
}

/// A host keeps an orchestration waiting for an event live, and its activity's instance warm,
/// until they have been unused for `instance_idle` by its clock; then it drops both, and the
/// orchestration carries on from a cold replay with a fresh activity instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_unused_for_the_idle_time_are_dropped() {
    let mut t = TestHost::with_config(|c| {
        c.instance_idle = Duration::from_secs(60);
        // The idle check runs with the poll.
        c.poll_interval = Duration::from_millis(5);
    });
    t.deploy(&["probe"]).await;
    t.run();
    let held = |orchestrators, activities| HeldInstances {
        orchestrators,
        activities,
    };
    let waiting = |history: &[HistoryEvent]| has(history, "TaskCompleted");

    // Within the idle time both are kept: the second call finds the first one's instance.
    let kept = t.start("calls_around_an_event", "null").await;
    t.history_until(&kept, waiting).await;
    held_until(&t, held(1, 1)).await;
    t.clock.advance(Duration::from_secs(59));
    t.client().raise_event(&kept, "go", "null").await.unwrap();
    assert_eq!(output(&t.finish(&kept).await), json!([1, 2]));

    // Past it, both go: the orchestration replays, and its activity starts afresh.
    let dropped = t.start("calls_around_an_event", "null").await;
    t.history_until(&dropped, waiting).await;
    held_until(&t, held(1, 1)).await;
    t.clock.advance(Duration::from_secs(61));
    held_until(&t, held(0, 0)).await;
    t.client()
        .raise_event(&dropped, "go", "null")
        .await
        .unwrap();
    let record = t.finish(&dropped).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    assert_eq!(output(&record), json!([3, 1]));
    t.stop().await;
}

/// Polls (bounded) until the host holds `expected`.
async fn held_until(t: &TestHost, expected: HeldInstances) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while t.host.held_instances() != expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the host still holds {:?}",
            t.host.held_instances()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
