//! `bench-guest`: the orchestrators `durable bench` measures.
//!
//! - `chain`: N activities in sequence (default 5).
//! - `fan_out`: N activities in parallel, joined with `task_all`.
//! - `event_loop`: waits for N `tick` events one after another; a long
//!   history for replay measurements.

use durable_sdk::{Failure, OrchestrationContext, task_all};

#[durable_sdk::orchestrator]
async fn chain(ctx: OrchestrationContext, n: Option<u32>) -> Result<u64, Failure> {
    let mut total = 0;
    for i in 0..n.unwrap_or(5) {
        total += ctx.call_activity::<u64>("work", i).await?;
    }
    Ok(total)
}

#[durable_sdk::orchestrator]
async fn fan_out(ctx: OrchestrationContext, n: Option<u32>) -> Result<u64, Failure> {
    let tasks = (0..n.unwrap_or(1000))
        .map(|i| ctx.call_activity::<u64>("work", i))
        .collect();
    Ok(task_all(tasks).await?.into_iter().sum())
}

#[durable_sdk::orchestrator]
async fn event_loop(ctx: OrchestrationContext, n: Option<u32>) -> Result<u32, Failure> {
    let n = n.unwrap_or(u32::MAX);
    let mut seen = 0;
    while seen < n {
        let _: serde_json::Value = ctx.wait_for_external_event("tick").await?;
        seen += 1;
    }
    Ok(seen)
}

#[durable_sdk::activity]
fn work(i: u64) -> Result<u64, Failure> {
    Ok(i * 2)
}

durable_sdk::component! {
    orchestrators: [chain, fan_out, event_loop],
    activities: [work],
    entities: [],
}
