//! Version 2 of the human-interaction example (`examples/human-interaction`): the same
//! orchestrator, `approval_workflow`, that also tells the requester the decision once it is
//! made (the new activity `notify_requester`).
//!
//! The change comes after the wait for the approval, so the history of a version 1 instance
//! that is still waiting replays against this code exactly: `durable deploy --verify` finds
//! it compatible and `durable deploy --upgrade` (or `durable upgrade`) moves it here, where it
//! finishes with the notification. A change to what the code does *before* the point an
//! instance has reached (another activity first, a second timer in the same turn) does not
//! replay; such instances stay on version 1 and finish there. See `docs/versioning.md`.

use std::time::Duration;

use durable_sdk::{Failure, OrchestrationContext, Task, task_any};
use serde::Deserialize;

/// Version 1's activities, unchanged.
#[path = "../../human-interaction/src/activities.rs"]
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
    let decision = if winner == 0 {
        timeout.cancel();
        let approved = approval.await?;
        ctx.call_activity("process_approval", approved).await?
    } else {
        ctx.call_activity::<()>("escalate", ctx.instance_id())
            .await?;
        "escalated".to_owned()
    };
    // New in version 2.
    let notice = (ctx.instance_id(), decision.clone());
    ctx.call_activity::<()>("notify_requester", notice).await?;
    Ok(decision)
}

/// Would message the person who asked; here it only logs.
#[durable_sdk::activity]
fn notify_requester((instance_id, decision): (String, String)) -> Result<(), Failure> {
    durable_sdk::log(
        durable_sdk::LogLevel::Info,
        format!("told the requester of {instance_id}: {decision}"),
    );
    Ok(())
}

durable_sdk::component! {
    orchestrators: [approval_workflow],
    activities: [
        activities::request_approval,
        activities::process_approval,
        activities::escalate,
        notify_requester,
    ],
    entities: [],
}
