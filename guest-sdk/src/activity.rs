//! What an activity knows about the attempt it runs in. The host passes the WIT
//! `activity-context` record to `activity.run`; the SDK turns it into an [`ActivityContext`] and
//! hands it to activities that take one as their first parameter.

use crate::bindings::exports::durable::core::activity as wit_activity;

/// Facts about the running activity attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityContext {
    instance_id: String,
    task_id: u32,
    attempt: u32,
}

impl ActivityContext {
    /// A context with these facts (useful to call activities from unit tests).
    pub fn new(instance_id: impl Into<String>, task_id: u32, attempt: u32) -> Self {
        ActivityContext {
            instance_id: instance_id.into(),
            task_id,
            attempt,
        }
    }

    /// The orchestration instance that scheduled this activity.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// The activity's sequence id in that orchestration.
    pub fn task_id(&self) -> u32 {
        self.task_id
    }

    /// 1 on the first attempt, 2 on the first retry, ...
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

impl From<wit_activity::ActivityContext> for ActivityContext {
    fn from(ctx: wit_activity::ActivityContext) -> Self {
        ActivityContext::new(ctx.instance_id, ctx.task_id, ctx.attempt)
    }
}
