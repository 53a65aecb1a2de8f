//! Turn planning: every decision of a turn that is not the guest's, as pure functions of
//! (state, messages) -> plan, beside [`crate::replay`]. Like replay, this module knows
//! neither wasmtime nor SQL: the engine loads the inputs (a locked work item, the history,
//! the deployments) and commits the outputs, so a second storage backend implements storage
//! only.
//!
//! - [`inbox`]: which of an instance's messages the guest sees this turn (suspend, resume,
//!   terminate, stale messages).
//! - [`turn`]: what the guest decided (a [`crate::replay::TurnPlan`]) becomes the commit; the
//!   commit of an execution the host ends.
//! - [`entity`]: the entity lock protocol, the batch an entity runs and its commit, the
//!   messages orchestrations send to entities.
//! - [`rewind`]: what a rewound instance's history and activity queue become.

pub mod entity;
pub mod inbox;
pub mod rewind;
pub mod turn;

#[cfg(test)]
mod properties;

#[cfg(test)]
pub(crate) mod tests {
    //! Hand-built inputs shared by the planning tests.

    use crate::store::InstanceRecord;
    use crate::types::{EventKind, RuntimeStatus};

    /// Instance `i`, execution `e1`, pinned to `sha256:d`, in `status`.
    pub fn instance(status: RuntimeStatus) -> InstanceRecord {
        InstanceRecord {
            instance_id: "i".into(),
            name: "o".into(),
            execution_id: "e1".into(),
            digest: "sha256:d".into(),
            status,
            input: "null".into(),
            output: None,
            failure: None,
            custom_status: None,
            created_at: 0,
            updated_at: 0,
            completed_at: None,
            parent: None,
        }
    }

    pub fn raised(name: &str) -> EventKind {
        EventKind::EventRaised {
            name: name.into(),
            input: "null".into(),
        }
    }
}
