//! Fan-out/fan-in: the orchestrator `fan_out_fan_in` starts `n` `work` activities at once, waits
//! for all of them with `task_all`, and returns the sum of their results.
//!
//! Every `call_activity` schedules its activity as soon as it is called, so the host can run all
//! `n` in parallel; `task_all` completes when the last one does (or fails with the first
//! failure). Progress is published as custom status.

use durable_sdk::{Failure, OrchestrationContext, Task, task_all};

/// How many work items when the input is `null`.
const DEFAULT_ITEMS: u32 = 10;

#[durable_sdk::orchestrator]
async fn fan_out_fan_in(ctx: OrchestrationContext, n: Option<u32>) -> Result<u64, Failure> {
    let n = n.unwrap_or(DEFAULT_ITEMS);
    ctx.set_custom_status(serde_json::json!({ "scheduled": n }));
    let tasks: Vec<Task<u64>> = (1..=n)
        .map(|item| ctx.call_activity("work", item))
        .collect();
    let results = task_all(tasks).await?;
    let total = results.iter().sum();
    ctx.info(format!("{n} work items summed to {total}"));
    ctx.set_custom_status(serde_json::json!({ "scheduled": n, "done": n }));
    Ok(total)
}

/// One unit of work: doubles its input.
#[durable_sdk::activity]
fn work(item: u64) -> Result<u64, Failure> {
    Ok(item * 2)
}

durable_sdk::component! {
    orchestrators: [fan_out_fan_in],
    activities: [work],
    entities: [],
}
