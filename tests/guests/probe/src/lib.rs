//! `probe`: a test-only component for the host's sandbox and replay tests.
//!
//! Its orchestrators try what the sandbox must virtualise or forbid (clock, randomness, files,
//! sockets, endless loops, unbounded memory, panics) and report what they saw; `hello_sequence`
//! is a deliberately *changed* copy of the example (it says goodbye first) so that replaying the
//! example's history against it is a nondeterminism; `slow_chain` and `slow_step` leave a trace
//! in `/data/runs.log` for crash/restart tests; `carry_events` and `wait_with_timeout` exercise
//! continue-as-new with carried events and timed waits; `interpret` runs a program given as
//! its input, for the replay property test; `scribble` checks that a new instance never sees
//! what the one before it in the same pool slot wrote. The `chaos_*` functions are the chaos test's
//! workload (`tests/e2e/chaos.rs`): every activity run leaves a line in `/data/chaos.log`.

use std::io::Write;
use std::sync::atomic::AtomicU8;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use durable_sdk::{
    ActivityContext, EntityContext, EntityId, Failure, OrchestrationContext, RetryPolicy, Task,
    task_all,
};
use serde::Deserialize;
use serde_json::{Value, json};

fn io_failure(err: std::io::Error) -> Failure {
    Failure::new("Io", err.to_string())
}

/// What the orchestrator sees of the clock, the random source and `new_uuid` right now.
fn reading(ctx: &OrchestrationContext) -> Result<Value, Failure> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|err| Failure::new("Random", err.to_string()))?;
    Ok(json!({
        "now_ms": now_ms,
        "random": random.to_vec(),
        "uuid": ctx.new_uuid(),
        "orchestration_time_ms": ctx
            .current_utc_datetime()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0),
    }))
}

/// Reads clock, random bytes and a UUID, waits for the event `go`, reads them again, and
/// returns both readings: a live run and a cold replay must return the same.
#[durable_sdk::orchestrator]
async fn clock_random_uuid(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let before = reading(&ctx)?;
    // Recorded once, by the live run: the test compares it with what a cold
    // replay recomputes.
    ctx.set_custom_status(&before);
    let go: Value = ctx.wait_for_external_event("go").await?;
    let after = reading(&ctx)?;
    Ok(json!({ "before": before, "go": go, "after": after }))
}

/// Tries to read a host file; the sandbox must refuse.
#[durable_sdk::orchestrator]
async fn open_file(_ctx: OrchestrationContext) -> Result<String, Failure> {
    std::fs::read_to_string("/etc/hostname").map_err(io_failure)
}

/// Tries to open a socket; the sandbox must refuse.
#[durable_sdk::orchestrator]
async fn open_socket(_ctx: OrchestrationContext) -> Result<String, Failure> {
    std::net::TcpStream::connect("127.0.0.1:80")
        .map(|stream| format!("connected: {stream:?}"))
        .map_err(io_failure)
}

/// Spins forever without yielding; the host's CPU bound must stop it.
#[durable_sdk::orchestrator]
async fn infinite_loop(_ctx: OrchestrationContext) -> Result<(), Failure> {
    let mut spins: u64 = 0;
    loop {
        spins = std::hint::black_box(spins.wrapping_add(1));
    }
}

/// Computes `rounds` rounds of arithmetic and returns the result: a legitimate step as long
/// as its input says.
#[durable_sdk::orchestrator]
async fn busy(_ctx: OrchestrationContext, rounds: u64) -> Result<u64, Failure> {
    let mut x: u64 = 1;
    for round in 0..rounds {
        x = std::hint::black_box(
            x.wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(round),
        );
    }
    Ok(x)
}

/// Returns a string of `n` `x`s (an output as large as its input says).
#[durable_sdk::orchestrator]
async fn big_output(_ctx: OrchestrationContext, n: usize) -> Result<String, Failure> {
    Ok("x".repeat(n))
}

/// Calls the activity `blob` for `n` bytes and returns the length it got.
#[durable_sdk::orchestrator]
async fn blob_via_activity(ctx: OrchestrationContext, n: usize) -> Result<usize, Failure> {
    let blob: String = ctx.call_activity("blob", n).await?;
    Ok(blob.len())
}

/// A string of `n` `x`s.
#[durable_sdk::activity]
fn blob(n: usize) -> Result<String, Failure> {
    Ok("x".repeat(n))
}

/// Sleeps 30 s with `std::thread::sleep`: the sandbox must refuse at once.
#[durable_sdk::orchestrator]
async fn blocking_sleep(_ctx: OrchestrationContext) -> Result<String, Failure> {
    std::thread::sleep(Duration::from_secs(30));
    Ok("slept".into())
}

/// Allocates and touches 1 MiB blocks forever; the host's memory bound must stop it.
#[durable_sdk::orchestrator]
async fn memory_bomb(_ctx: OrchestrationContext) -> Result<(), Failure> {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let block = vec![0xA5u8; 1 << 20];
        blocks.push(std::hint::black_box(block));
    }
}

/// Panics (a trap in the component).
#[durable_sdk::orchestrator]
async fn trap(_ctx: OrchestrationContext) -> Result<(), Failure> {
    panic!("probe: deliberate panic in orchestrator `trap`");
}

/// A changed copy of `examples/hello-sequence`: it says goodbye first, so the example's
/// recorded history does not match it.
#[durable_sdk::orchestrator]
async fn hello_sequence(ctx: OrchestrationContext) -> Result<Vec<String>, Failure> {
    let mut greetings = vec![ctx.call_activity::<String>("say_goodbye", "Tokyo").await?];
    for city in ["Tokyo", "Seattle", "London"] {
        greetings.push(ctx.call_activity::<String>("say_hello", city).await?);
    }
    Ok(greetings)
}

/// Calls `fail_always` and lets its failure end the orchestration.
#[durable_sdk::orchestrator]
async fn call_failing(ctx: OrchestrationContext) -> Result<(), Failure> {
    ctx.call_activity::<()>("fail_always", ()).await
}

/// Zero-initialised memory (beyond the memory image), written by `scribble`.
static SCRATCH: [AtomicU8; 1 << 20] = [const { AtomicU8::new(0) }; 1 << 20];
/// Memory the image initialises (a data segment), written by `scribble`.
static IMAGE: [AtomicU8; 256 << 10] = [const { AtomicU8::new(1) }; 256 << 10];

/// Counts the bytes of `SCRATCH` and `IMAGE` that differ from their initial values, then
/// writes every other page of both: 160 separate runs of written pages, more than one scan of
/// a freed pool slot reports at a time. A new instance must always count 0, whichever slot,
/// and whatever its previous guest wrote there.
#[durable_sdk::orchestrator]
async fn scribble(_ctx: OrchestrationContext) -> Result<usize, Failure> {
    const PAGE: usize = 4096;
    let changed = SCRATCH.iter().filter(|b| b.load(Relaxed) != 0).count()
        + IMAGE.iter().filter(|b| b.load(Relaxed) != 1).count();
    for memory in [&SCRATCH[..], &IMAGE[..]] {
        for page in memory.chunks(PAGE).step_by(2) {
            page.iter().for_each(|b| b.store(0xA5, Relaxed));
        }
    }
    Ok(changed)
}

/// Returns its input at once.
#[durable_sdk::orchestrator]
async fn echo(_ctx: OrchestrationContext, input: Value) -> Result<Value, Failure> {
    Ok(input)
}

/// Calls `slow_step` with 1..=5 in sequence and returns the outputs.
#[durable_sdk::orchestrator]
async fn slow_chain(ctx: OrchestrationContext) -> Result<Vec<u64>, Failure> {
    let mut outputs = Vec::new();
    for step in 1..=5u64 {
        outputs.push(ctx.call_activity::<u64>("slow_step", step).await?);
    }
    Ok(outputs)
}

/// Round 0: sleeps 1 s (events raised meanwhile stay unconsumed) and continues as new with
/// `preserve_unprocessed_events`. Round 1: returns the first two `x` events, which must be the
/// ones carried over.
#[durable_sdk::orchestrator]
async fn carry_events(ctx: OrchestrationContext, round: u32) -> Result<Vec<Value>, Failure> {
    if round == 0 {
        ctx.create_timer_after(Duration::from_secs(1)).await?;
        ctx.continue_as_new(1, true);
        return Ok(Vec::new());
    }
    let first: Value = ctx.wait_for_external_event("x").await?;
    let second: Value = ctx.wait_for_external_event("x").await?;
    Ok(vec![first, second])
}

/// Waits `input` seconds for the event `x`: returns `{"event": ...}`, or `{"timeout": true,
/// "next": ...}` with the next `x` after a timeout (which must not be lost).
#[durable_sdk::orchestrator]
async fn wait_with_timeout(ctx: OrchestrationContext, secs: u64) -> Result<Value, Failure> {
    match ctx
        .wait_for_external_event_with_timeout::<Value>("x", Duration::from_secs(secs))
        .await
    {
        Ok(event) => Ok(json!({ "event": event })),
        Err(failure) if failure.is(durable_sdk::TIMEOUT) => {
            let next: Value = ctx.wait_for_external_event("x").await?;
            Ok(json!({ "timeout": true, "next": next }))
        }
        Err(failure) => Err(failure),
    }
}

/// POSTs `input` (a URL) with `call_http` and returns the final status and
/// body (following 202 + Location polling).
#[durable_sdk::orchestrator]
async fn fetch(ctx: OrchestrationContext, uri: String) -> Result<Value, Failure> {
    let response = ctx
        .call_http(durable_sdk::HttpRequest::post(uri, "{\"job\":1}"))
        .await?;
    Ok(json!({ "status": response.status_code, "content": response.content }))
}

/// Starts `clock_random_uuid` as a sub-orchestration and waits for it: a
/// parent with a child that waits (for recursive termination).
#[durable_sdk::orchestrator]
async fn parent_of_waiter(ctx: OrchestrationContext) -> Result<Value, Failure> {
    ctx.call_sub_orchestrator("clock_random_uuid", None, ())
        .await
}

/// Round 0 starts the child `<id>-child-0` (it waits for `go`) and continues as new without
/// waiting for it; round 1 starts `<id>-child-1` with the same sequence id and returns its
/// result. The first child's result arrives for an execution that has ended.
#[durable_sdk::orchestrator]
async fn leave_a_child(ctx: OrchestrationContext, round: u32) -> Result<String, Failure> {
    let id = format!("{}-child-{round}", ctx.instance_id());
    let child = ctx.call_sub_orchestrator::<String>("wait_for_go", Some(&id), round);
    if round == 0 {
        ctx.continue_as_new(1, false);
        return Ok(String::new());
    }
    child.await
}

/// Waits for the event `go` and returns `child <input>: <its data>`.
#[durable_sdk::orchestrator]
async fn wait_for_go(ctx: OrchestrationContext, round: u32) -> Result<String, Failure> {
    let data: String = ctx.wait_for_external_event("go").await?;
    Ok(format!("child {round}: {data}"))
}

/// Runs `slow_step(1)` then `check_flag`, which fails until `/data/flag`
/// exists (for rewind: the first step must not run again).
#[durable_sdk::orchestrator]
async fn needs_flag(ctx: OrchestrationContext) -> Result<(u64, String), Failure> {
    let first: u64 = ctx.call_activity("slow_step", 1).await?;
    let flag: String = ctx.call_activity("check_flag", ()).await?;
    Ok((first, flag))
}

/// Catches the failure of `fail_always`, then runs `check_flag`: a handled failure before the
/// one that ends the instance (for rewind: only the second runs again).
#[durable_sdk::orchestrator]
async fn caught_then_flag(ctx: OrchestrationContext) -> Result<String, Failure> {
    let caught = match ctx.call_activity::<()>("fail_always", ()).await {
        Ok(()) => "nothing".to_owned(),
        Err(failure) => failure.error_type,
    };
    let flag: String = ctx.call_activity("check_flag", ()).await?;
    Ok(format!("caught {caught}, then {}", flag.trim()))
}

/// `check_flag` with a retry policy of two attempts a second apart (for rewind: the attempt
/// that ended the instance runs again, the first stays failed).
#[durable_sdk::orchestrator]
async fn flag_with_retry(ctx: OrchestrationContext) -> Result<String, Failure> {
    let policy = RetryPolicy::new(2, Duration::from_secs(1));
    let flag: String = ctx
        .call_activity_with_retry("check_flag", &policy, ())
        .await?;
    Ok(flag.trim().to_owned())
}

/// Runs `needs_flag` as a sub-orchestration: its failure fails this one (for rewind: the child
/// is rewound too).
#[durable_sdk::orchestrator]
async fn parent_of_flag(ctx: OrchestrationContext) -> Result<(u64, String), Failure> {
    ctx.call_sub_orchestrator("needs_flag", None, ()).await
}

/// `roll`: a random value from the standard library's `RandomState` (keys from WASI random,
/// seeded per batch by the host).
#[durable_sdk::entity]
fn dice(ctx: &mut EntityContext) -> Result<(), Failure> {
    use std::hash::BuildHasher;
    let roll = std::collections::hash_map::RandomState::new().hash_one(0u8);
    ctx.set_result(json!({ "random": roll.to_string() }))
}

/// In a critical section on `counter@<input>` (the `counter` example's entity): signals
/// `add 5`, then calls `get`, which must see the signal (the holder's messages run in the order
/// sent).
#[durable_sdk::orchestrator]
async fn signal_in_section(ctx: OrchestrationContext, key: String) -> Result<i64, Failure> {
    let counter = EntityId::new("counter", key);
    ctx.lock_entities(std::slice::from_ref(&counter)).await?;
    ctx.signal_entity(&counter, "add", 5);
    let value = ctx.call_entity(&counter, "get", ()).await?;
    ctx.unlock_entities();
    Ok(value)
}

/// `append` (input: a count): appends that many `x`s to its state, a string, and returns
/// the new length. `send` and `start` (input: a count) send a string of that many `x`s on:
/// as a signal to `hoard@<key>-sink` (`append`, which fails on it) and as the input of an
/// `echo` orchestration; both return the count.
#[durable_sdk::entity]
fn hoard(ctx: &mut EntityContext) -> Result<(), Failure> {
    let mut kept: String = ctx.get_state(String::new)?;
    match ctx.operation_name() {
        "append" => {
            let n: usize = ctx.get_input()?;
            kept.push_str(&"x".repeat(n));
            ctx.set_result(kept.len())?;
            ctx.set_state(kept)
        }
        "send" => {
            let n: usize = ctx.get_input()?;
            let sink = EntityId::new("hoard", format!("{}-sink", ctx.key()));
            ctx.signal_entity(&sink, "append", "x".repeat(n))?;
            ctx.set_result(n)
        }
        "start" => {
            let n: usize = ctx.get_input()?;
            ctx.start_orchestration("echo", "x".repeat(n))?;
            ctx.set_result(n)
        }
        _ => Err(ctx.unknown_operation()),
    }
}

/// Calls `roll` on `dice@<input>` and returns what it rolled.
#[durable_sdk::orchestrator]
async fn roll_dice(ctx: OrchestrationContext, key: String) -> Result<Value, Failure> {
    ctx.call_entity(&EntityId::new("dice", key), "roll", ())
        .await
}

/// Calls the activity `{"activity": NAME, "input": ...}` or the sub-orchestration
/// `{"orchestrator": NAME, "input": ...}` named in its input and returns its result; the
/// callee's failure fails it (calls across components: `tests/e2e/polyglot.rs`).
#[durable_sdk::orchestrator]
async fn call_by_name(ctx: OrchestrationContext, call: Value) -> Result<Value, Failure> {
    let input = call.get("input").cloned().unwrap_or(Value::Null);
    if let Some(name) = call.get("orchestrator").and_then(Value::as_str) {
        return ctx.call_sub_orchestrator(name, None, input).await;
    }
    let name = call.get("activity").and_then(Value::as_str).unwrap_or("");
    ctx.call_activity(name, input).await
}

/// Returns the contents of `/data/flag`, or fails with `NoFlag`.
#[durable_sdk::activity]
fn check_flag() -> Result<String, Failure> {
    std::fs::read_to_string("/data/flag")
        .map(|text| text.trim().to_owned())
        .map_err(|err| Failure::new("NoFlag", err.to_string()))
}

/// Appends `"{instance_id} {input}"` to `/data/runs.log`, sleeps `SLOW_STEP_MS` (default 200)
/// milliseconds, and returns `input * 10`.
#[durable_sdk::activity]
fn slow_step(ctx: ActivityContext, input: u64) -> Result<u64, Failure> {
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open("/data/runs.log")
        .map_err(io_failure)?;
    // One write of the whole line: a host killed mid-step leaves the line whole or absent.
    let line = format!("{} {input}\n", ctx.instance_id());
    log.write_all(line.as_bytes()).map_err(io_failure)?;
    drop(log);
    let millis = std::env::var("SLOW_STEP_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(200);
    std::thread::sleep(Duration::from_millis(millis));
    Ok(input * 10)
}

#[durable_sdk::activity]
fn say_hello(name: String) -> Result<String, Failure> {
    Ok(format!("Hello {name}!"))
}

#[durable_sdk::activity]
fn say_goodbye(name: String) -> Result<String, Failure> {
    Ok(format!("Goodbye {name}!"))
}

/// Runs a program of steps (JSON) and returns what each step gave, for the property test of
/// cached against cold replay (tests/e2e/properties.rs, which holds the model of what each
/// step returns). Steps: `{"call": n}` (`double(n)`), `{"fail": 0}` (`fail_always`, caught:
/// `"failed"`), `{"fan": [n, ...]}` (`double` of each at once), `{"timer": secs}`
/// (`"timer"`), `{"event": name}` (the event's data), `{"race": [name, secs]}` (`"event"` or
/// `"timer"`, whichever comes first), `{"sub": [steps]}` (a child running those steps),
/// `{"uuid": 0}` (a new deterministic uuid), `{"status": n}` (sets the custom status).
#[durable_sdk::orchestrator]
async fn interpret(ctx: OrchestrationContext, program: Vec<Value>) -> Result<Vec<Value>, Failure> {
    let mut out = Vec::new();
    for step in program {
        let (op, arg) = step
            .as_object()
            .and_then(|o| o.iter().next())
            .map(|(k, v)| (k.clone(), v.clone()))
            .ok_or_else(|| Failure::new("BadProgram", format!("not a step: {step}")))?;
        let value = match op.as_str() {
            "call" => ctx.call_activity::<Value>("double", arg).await?,
            "fail" => match ctx.call_activity::<()>("fail_always", ()).await {
                Ok(()) => json!("succeeded"),
                Err(_) => json!("failed"),
            },
            "fan" => {
                let numbers = arg.as_array().cloned().unwrap_or_default();
                let calls = numbers
                    .into_iter()
                    .map(|n| ctx.call_activity::<Value>("double", n))
                    .collect();
                Value::Array(ctx.task_all(calls).await?)
            }
            "timer" => {
                let secs = arg.as_u64().unwrap_or(1);
                ctx.create_timer_after(Duration::from_secs(secs)).await?;
                json!("timer")
            }
            "event" => {
                let name = arg.as_str().unwrap_or("e");
                ctx.wait_for_external_event::<Value>(name).await?
            }
            "race" => {
                let name = arg[0].as_str().unwrap_or("e");
                let secs = arg[1].as_u64().unwrap_or(1);
                let event = ctx.wait_for_external_event::<Value>(name).untyped();
                let timer = ctx.create_timer_after(Duration::from_secs(secs));
                let (winner, _) = ctx.task_any(vec![event, timer.untyped()]).await?;
                if winner == 0 {
                    timer.cancel();
                    json!("event")
                } else {
                    json!("timer")
                }
            }
            "sub" => {
                ctx.call_sub_orchestrator::<Value>("interpret", None, arg)
                    .await?
            }
            "uuid" => json!(ctx.new_uuid()),
            "status" => {
                ctx.set_custom_status(&arg);
                json!("status")
            }
            other => {
                return Err(Failure::new(
                    "BadProgram",
                    format!("unknown step `{other}`"),
                ));
            }
        };
        out.push(value);
    }
    Ok(out)
}

#[durable_sdk::activity]
fn double(n: i64) -> Result<i64, Failure> {
    Ok(n * 2)
}

/// Always fails with a structured failure.
#[durable_sdk::activity]
fn fail_always() -> Result<(), Failure> {
    Err(Failure::new("BadThing", "it broke").with_details(json!({ "code": 7 })))
}

// --- The chaos test's workload (`tests/e2e/chaos.rs`) ----------------------------------------
// The driver computes each orchestrator's output from its input, and reads `/data/chaos.log`
// to tell the run that produced a recorded result from the runs a kill interrupted. The Python
// conformance guest has the same functions with a `_py` suffix (all but `chaos_lock`).

/// The part of what `chaos_step` returns that the orchestrators use (the test reads the rest,
/// the attempt, from the history).
#[derive(Deserialize)]
struct ChaosStep {
    value: u64,
}

/// Schedules `chaos_step(n)`, whose value is `2 * n`.
fn chaos_step_task(ctx: &OrchestrationContext, n: u64) -> Task<ChaosStep> {
    ctx.call_activity("chaos_step", n)
}

/// Runs `chaos_step(n)` and returns its value.
async fn chaos_step_value(ctx: &OrchestrationContext, n: u64) -> Result<u64, Failure> {
    Ok(chaos_step_task(ctx, n).await?.value)
}

/// `chaos_step(1..=n)` in sequence: returns `[2, 4, ..., 2n]`.
#[durable_sdk::orchestrator]
async fn chaos_chain(ctx: OrchestrationContext, n: u64) -> Result<Vec<u64>, Failure> {
    let mut values = Vec::new();
    for step in 1..=n {
        values.push(chaos_step_value(&ctx, step).await?);
    }
    Ok(values)
}

/// `chaos_step(1..=n)` at once: returns their sum, `n * (n + 1)`.
#[durable_sdk::orchestrator]
async fn chaos_fan(ctx: OrchestrationContext, n: u64) -> Result<u64, Failure> {
    let steps = (1..=n).map(|step| chaos_step_task(&ctx, step)).collect();
    Ok(task_all(steps).await?.iter().map(|step| step.value).sum())
}

/// `chaos_step(1)`, a durable timer of `secs` seconds, `chaos_step(2)`: returns `[2, 4]`.
#[durable_sdk::orchestrator]
async fn chaos_timer(ctx: OrchestrationContext, secs: u64) -> Result<Vec<u64>, Failure> {
    let first = chaos_step_value(&ctx, 1).await?;
    ctx.create_timer_after(Duration::from_secs(secs)).await?;
    Ok(vec![first, chaos_step_value(&ctx, 2).await?])
}

/// `chaos_step(1)`, then waits for the event `go` (a number `d`), then `chaos_step(d)`:
/// returns `[2, 2d]`.
#[durable_sdk::orchestrator]
async fn chaos_event(ctx: OrchestrationContext) -> Result<Vec<u64>, Failure> {
    let first = chaos_step_value(&ctx, 1).await?;
    let go: u64 = ctx.wait_for_external_event("go").await?;
    Ok(vec![first, chaos_step_value(&ctx, go).await?])
}

/// `chaos_chain(n)` and `chaos_chain(n + 1)` as sub-orchestrations at once: returns both
/// outputs.
#[durable_sdk::orchestrator]
async fn chaos_sub(ctx: OrchestrationContext, n: u64) -> Result<Vec<Vec<u64>>, Failure> {
    let children = vec![
        ctx.call_sub_orchestrator("chaos_chain", None, n),
        ctx.call_sub_orchestrator("chaos_chain", None, n + 1),
    ];
    task_all(children).await
}

/// `k` times: signals `add 1` to `chaos_counter@<instance id>` and to `chaos_counter@total`,
/// then runs a `chaos_step`. Returns what `get` on its own counter answers then: `k`.
#[durable_sdk::orchestrator]
async fn chaos_signals(ctx: OrchestrationContext, k: u64) -> Result<i64, Failure> {
    let own = EntityId::new("chaos_counter", ctx.instance_id());
    let total = EntityId::new("chaos_counter", "total");
    for step in 1..=k {
        ctx.signal_entity(&own, "add", 1);
        ctx.signal_entity(&total, "add", 1);
        chaos_step_value(&ctx, step).await?;
    }
    ctx.call_entity(&own, "get", ()).await
}

/// In a critical section on `chaos_counter@locked`: reads the value `v` (`get`), runs a
/// `chaos_step`, signals `set v + 1` and returns what `get` answers then, `v + 1`. Without
/// mutual exclusion two instances could read the same `v`: the outputs of all the `chaos_lock`
/// instances must be `1..=L`, each once, and the counter must end at `L`.
#[durable_sdk::orchestrator]
async fn chaos_lock(ctx: OrchestrationContext) -> Result<i64, Failure> {
    let locked = EntityId::new("chaos_counter", "locked");
    ctx.lock_entities(std::slice::from_ref(&locked)).await?;
    let read: i64 = ctx.call_entity(&locked, "get", ()).await?;
    chaos_step_value(&ctx, 1).await?;
    ctx.signal_entity(&locked, "set", read + 1);
    let after = ctx.call_entity(&locked, "get", ()).await?;
    ctx.unlock_entities();
    Ok(after)
}

/// An integer: `add` (input: the amount), `set` (input: the value), `get` (returns it).
#[durable_sdk::entity]
fn chaos_counter(ctx: &mut EntityContext) -> Result<(), Failure> {
    let value: i64 = ctx.get_state(|| 0)?;
    match ctx.operation_name() {
        "add" => ctx.set_state(value + ctx.get_input::<i64>()?),
        "set" => ctx.set_state(ctx.get_input::<i64>()?),
        "get" => ctx.set_result(value),
        _ => Err(ctx.unknown_operation()),
    }
}

/// Appends `"{instance_id} {task_id} {attempt} {CHAOS_GEN}"` to `/data/chaos.log` in one
/// write (a kill leaves the line whole or absent), sleeps `CHAOS_STEP_MS` (default 0)
/// milliseconds, and returns `{"value": 2n, "attempt": attempt}`.
#[durable_sdk::activity]
fn chaos_step(ctx: ActivityContext, n: u64) -> Result<Value, Failure> {
    let env = |name: &str| std::env::var(name).unwrap_or_else(|_| "0".into());
    let line = format!(
        "{} {} {} {}\n",
        ctx.instance_id(),
        ctx.task_id(),
        ctx.attempt(),
        env("CHAOS_GEN")
    );
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open("/data/chaos.log")
        .and_then(|mut log| log.write_all(line.as_bytes()))
        .map_err(io_failure)?;
    std::thread::sleep(Duration::from_millis(
        env("CHAOS_STEP_MS").parse().unwrap_or(0),
    ));
    Ok(json!({ "value": 2 * n, "attempt": ctx.attempt() }))
}

/// How many calls this instance of the component has served, this one included; panics
/// (trapping the instance) when asked to.
#[durable_sdk::activity]
fn calls_served(panic: bool) -> Result<u32, Failure> {
    static SERVED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let served = SERVED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    if panic {
        panic!("probe: deliberate panic in activity `calls_served` after {served} calls");
    }
    Ok(served)
}

/// Calls `calls_served` three times, then once trapping, then twice more, one after another:
/// what each call saw of the instance it ran on.
#[durable_sdk::orchestrator]
async fn warm_calls(ctx: OrchestrationContext) -> Result<Vec<Value>, Failure> {
    let mut seen = Vec::new();
    for panic in [false, false, false, true, false, false] {
        let call = ctx.call_activity::<u32>("calls_served", panic).await;
        seen.push(match call {
            Ok(served) => json!(served),
            Err(failure) => json!(failure.error_type),
        });
    }
    Ok(seen)
}

/// Calls `calls_served` before and after the event `go`: whether the second call found the
/// first one's instance kept warm while the orchestration waited.
#[durable_sdk::orchestrator]
async fn calls_around_an_event(ctx: OrchestrationContext) -> Result<Vec<u32>, Failure> {
    let before = ctx.call_activity::<u32>("calls_served", false).await?;
    let _: Value = ctx.wait_for_external_event("go").await?;
    let after = ctx.call_activity::<u32>("calls_served", false).await?;
    Ok(vec![before, after])
}

/// What `report_version` is asked to do before it reports.
#[derive(Debug, Default, Deserialize)]
struct VersionProbe {
    /// Continue as new first (the next execution reports).
    #[serde(default)]
    again: bool,
    /// Start a sub-orchestration that reports its own version too.
    #[serde(default)]
    sub: bool,
}

/// Reports the version it runs as (`ctx.version()`), after a continue-as-new and with a
/// sub-orchestration's if asked: both run as this instance's version.
#[durable_sdk::orchestrator]
async fn report_version(
    ctx: OrchestrationContext,
    probe: Option<VersionProbe>,
) -> Result<Value, Failure> {
    let probe = probe.unwrap_or_default();
    if probe.again {
        ctx.continue_as_new(json!({ "sub": probe.sub }), false);
        return Ok(Value::Null);
    }
    let child = match probe.sub {
        true => {
            let input = json!({});
            ctx.call_sub_orchestrator::<Value>("report_version", None, input)
                .await?
        }
        false => Value::Null,
    };
    Ok(json!({ "version": ctx.version(), "child": child }))
}

durable_sdk::component! {
    orchestrators: [
        warm_calls,
        calls_around_an_event,
        report_version,
        clock_random_uuid,
        open_file,
        open_socket,
        infinite_loop,
        busy,
        blocking_sleep,
        big_output,
        blob_via_activity,
        memory_bomb,
        trap,
        hello_sequence,
        echo,
        scribble,
        call_failing,
        slow_chain,
        carry_events,
        leave_a_child,
        wait_for_go,
        caught_then_flag,
        flag_with_retry,
        parent_of_flag,
        roll_dice,
        signal_in_section,
        wait_with_timeout,
        parent_of_waiter,
        needs_flag,
        fetch,
        call_by_name,
        interpret,
        chaos_chain,
        chaos_fan,
        chaos_timer,
        chaos_event,
        chaos_sub,
        chaos_signals,
        chaos_lock,
    ],
    activities: [
        calls_served,
        slow_step,
        say_hello,
        say_goodbye,
        fail_always,
        check_flag,
        blob,
        double,
        chaos_step,
    ],
    entities: [dice, hoard, chaos_counter],
}
