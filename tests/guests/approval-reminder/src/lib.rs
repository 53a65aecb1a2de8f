//! `approval-reminder`: a test-only rewrite of the human-interaction example's
//! `approval_workflow` that also sets a reminder timer before it waits for the approval.
//!
//! The reminder is decided in the same turn as the timeout, so the history of an instance of
//! the example that is already waiting does not replay against this code ("step 2: code
//! scheduled a timer, history has nothing at this step"), and the history of an instance of
//! this code does not replay against the example ("history has a timer, code did not
//! schedule it"): the incompatible change of the upgrade test (`tests/e2e/versions.rs`).

use std::time::Duration;

use durable_sdk::{Failure, OrchestrationContext, Task, task_any};

#[path = "../../../../examples/human-interaction/src/activities.rs"]
pub mod activities;

#[durable_sdk::orchestrator]
async fn approval_workflow(
    ctx: OrchestrationContext,
    request: Option<serde_json::Value>,
) -> Result<String, Failure> {
    let timeout_secs = request
        .and_then(|r| r["timeout_secs"].as_u64())
        .unwrap_or(3600);
    ctx.call_activity::<()>("request_approval", ctx.instance_id())
        .await?;
    let timeout = ctx.create_timer_after(Duration::from_secs(timeout_secs));
    let _reminder = ctx.create_timer_after(Duration::from_secs(timeout_secs / 2));
    let approval: Task<bool> = ctx.wait_for_external_event("Approval");
    let (winner, _) = task_any(vec![approval.untyped(), timeout.untyped()]).await?;
    if winner == 0 {
        let approved = approval.await?;
        ctx.call_activity("process_approval", approved).await
    } else {
        Ok("escalated".to_owned())
    }
}

durable_sdk::component! {
    orchestrators: [approval_workflow],
    activities: [
        activities::request_approval,
        activities::process_approval,
        activities::escalate,
    ],
    entities: [],
}
