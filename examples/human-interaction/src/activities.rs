//! The activities of the approval workflow, shared by both versions of the example
//! (`examples/human-interaction-v2` includes this file).

use durable_sdk::Failure;

/// Would notify a person; here it only logs.
#[durable_sdk::activity]
pub fn request_approval(instance_id: String) -> Result<(), Failure> {
    durable_sdk::log(
        durable_sdk::LogLevel::Info,
        format!("approval requested for {instance_id}"),
    );
    Ok(())
}

#[durable_sdk::activity]
pub fn process_approval(approved: bool) -> Result<String, Failure> {
    Ok(if approved { "approved" } else { "rejected" }.to_owned())
}

#[durable_sdk::activity]
pub fn escalate(instance_id: String) -> Result<(), Failure> {
    durable_sdk::log(
        durable_sdk::LogLevel::Warn,
        format!("approval for {instance_id} timed out; escalating"),
    );
    Ok(())
}
