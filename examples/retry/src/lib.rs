//! Retries: the orchestrator `retry_flaky` calls the activity `flaky` with a retry policy of 5
//! attempts, 1 s apart at first, and returns the attempt that succeeded.
//!
//! `flaky` fails its first 2 attempts. Each attempt of a retry policy is an activity of its own
//! (its own sequence id and history events), with a durable timer before each retry, so a crash
//! between attempts loses nothing and the waits survive restarts.

use std::time::Duration;

use durable_sdk::{ActivityContext, Failure, OrchestrationContext, RetryPolicy};

/// How many attempts `flaky` fails before it succeeds.
const FAILING_ATTEMPTS: u32 = 2;

#[durable_sdk::orchestrator]
async fn retry_flaky(ctx: OrchestrationContext) -> Result<u32, Failure> {
    let policy =
        RetryPolicy::new(5, Duration::from_secs(1)).with_handle(|failure| failure.is("Flaky"));
    let attempt: u32 = ctx.call_activity_with_retry("flaky", &policy, ()).await?;
    ctx.info(format!("`flaky` succeeded on attempt {attempt}"));
    Ok(attempt)
}

/// Fails (retriably) on its first [`FAILING_ATTEMPTS`] attempts; returns the attempt number.
///
/// Every retry-policy attempt is a new task, and the host's `ActivityContext::attempt()`
/// counts deliveries of one task (1 unless the host re-ran it after a crash), so the policy's
/// attempt number is also derived from the task id: in `retry_flaky` attempt `n` is scheduled
/// with sequence id `2 * (n - 1)` (each retry follows its timer). Whichever is larger counts.
#[durable_sdk::activity]
fn flaky(ctx: ActivityContext) -> Result<u32, Failure> {
    let attempt = ctx.attempt().max(ctx.task_id() / 2 + 1);
    if attempt <= FAILING_ATTEMPTS {
        return Err(Failure::new(
            "Flaky",
            format!("attempt {attempt} failed on purpose"),
        ));
    }
    Ok(attempt)
}

durable_sdk::component! {
    orchestrators: [retry_flaky],
    activities: [flaky],
    entities: [],
}
