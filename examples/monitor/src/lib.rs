//! A monitor, as in Durable Functions: the orchestrator `monitor` polls a job's status with the
//! activity `check_status` every `poll_secs` seconds until it is done or the deadline passes,
//! and returns `"done"` or `"expired"`.
//!
//! Each poll is one execution: check, and if not done, sleep on a durable timer and
//! `continue_as_new` with the poll counter incremented, so the history stays small however
//! long the monitor runs. `deadline_ms` is a time (milliseconds since the Unix epoch) compared
//! with the orchestration's replay-safe clock.

use std::time::{Duration, UNIX_EPOCH};

use durable_sdk::{Failure, OrchestrationContext};
use serde::{Deserialize, Serialize};

/// What `check_status` reports once the job is finished.
const DONE: &str = "done";
/// What `monitor` returns when the deadline passed first.
const EXPIRED: &str = "expired";
/// The counter at which the (simulated) job is finished.
const DONE_AT_COUNTER: u32 = 3;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct MonitorInput {
    /// The job to watch.
    job: String,
    /// Seconds between polls.
    poll_secs: u64,
    /// Give up once the orchestration's clock passes this (ms since the Unix epoch).
    deadline_ms: u64,
    /// How many polls came before this execution (0 at first).
    #[serde(default)]
    counter: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct StatusQuery {
    job: String,
    counter: u32,
}

fn now_ms(ctx: &OrchestrationContext) -> u64 {
    ctx.current_utc_datetime()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[durable_sdk::orchestrator]
async fn monitor(ctx: OrchestrationContext, input: MonitorInput) -> Result<String, Failure> {
    if now_ms(&ctx) >= input.deadline_ms {
        ctx.info(format!(
            "job {} expired after {} polls",
            input.job, input.counter
        ));
        return Ok(EXPIRED.into());
    }
    let query = StatusQuery {
        job: input.job.clone(),
        counter: input.counter,
    };
    let status: String = ctx.call_activity("check_status", &query).await?;
    ctx.set_custom_status(serde_json::json!({ "counter": input.counter, "status": status }));
    if status == DONE {
        return Ok(DONE.into());
    }
    ctx.create_timer_after(Duration::from_secs(input.poll_secs))
        .await?;
    let next = MonitorInput {
        counter: input.counter + 1,
        ..input
    };
    ctx.continue_as_new(&next, true);
    Ok(String::new())
}

/// Reports a job's status. Simulated, deterministically and without side effects: the job is
/// done once the poll counter reaches [`DONE_AT_COUNTER`] (the fourth poll).
#[durable_sdk::activity]
fn check_status(query: StatusQuery) -> Result<String, Failure> {
    Ok(if query.counter >= DONE_AT_COUNTER {
        DONE.into()
    } else {
        "running".into()
    })
}

durable_sdk::component! {
    orchestrators: [monitor],
    activities: [check_status],
    entities: [],
}
