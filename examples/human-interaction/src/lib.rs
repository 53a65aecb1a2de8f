//! Human interaction: the orchestrator `approval_workflow` asks for an approval, then races the
//! external event `Approval` (a bool) against a durable timeout timer.
//!
//! If the event wins, the timer is cancelled and `process_approval` turns the answer into
//! `"approved"` or `"rejected"`; if the timer wins, `escalate` runs and the result is
//! `"escalated"`. The timer fires at a replay-safe time: the current orchestration time plus the
//! timeout.

use std::time::Duration;

use durable_sdk::{Failure, OrchestrationContext, Task, task_any};
use serde::Deserialize;

pub mod activities;

#[derive(Debug, Deserialize)]
struct ApprovalRequest {
    #[serde(default = "default_timeout_secs")]
    timeout_secs: u64,
}

fn default_timeout_secs() -> u64 {
    3600
}

#[durable_sdk::orchestrator]
async fn approval_workflow(
    ctx: OrchestrationContext,
    request: Option<ApprovalRequest>,
) -> Result<String, Failure> {
    let timeout_secs = request.map_or_else(default_timeout_secs, |r| r.timeout_secs);
    ctx.call_activity::<()>("request_approval", ctx.instance_id())
        .await?;

    let timeout = ctx.create_timer_after(Duration::from_secs(timeout_secs));
    let approval: Task<bool> = ctx.wait_for_external_event("Approval");
    let (winner, _) = task_any(vec![approval.untyped(), timeout.untyped()]).await?;
    if winner == 0 {
        timeout.cancel();
        let approved = approval.await?;
        ctx.call_activity("process_approval", approved).await
    } else {
        ctx.call_activity::<()>("escalate", ctx.instance_id())
            .await?;
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
