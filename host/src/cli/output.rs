//! How the CLI prints instances, histories and outcomes for people.

use durable_host::store::InstanceRecord;
use durable_host::types::{EventKind, HistoryEvent, RuntimeStatus};
use std::process::ExitCode;

/// `2026-11-24T08:30:00.123Z`: the same format as the HTTP API's times.
pub use durable_host::http::time::format as format_time;

pub fn print_status(record: &InstanceRecord) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&status_json(record))?);
    Ok(())
}

fn parse_or_text(text: &Option<String>) -> serde_json::Value {
    match text {
        Some(t) => serde_json::from_str(t).unwrap_or_else(|_| serde_json::Value::String(t.clone())),
        None => serde_json::Value::Null,
    }
}

fn status_json(record: &InstanceRecord) -> serde_json::Value {
    serde_json::json!({
        "instanceId": record.instance_id,
        "name": record.name,
        "runtimeStatus": record.status.as_str(),
        "input": parse_or_text(&Some(record.input.clone())),
        "output": parse_or_text(&record.output),
        "failure": record.failure,
        "customStatus": parse_or_text(&record.custom_status),
        "createdTime": format_time(record.created_at),
        "lastUpdatedTime": format_time(record.updated_at),
        "component": record.digest,
    })
}

/// `run`'s result: the output on success, the failure on stderr otherwise.
pub fn print_outcome(record: &InstanceRecord) -> anyhow::Result<ExitCode> {
    match record.status {
        RuntimeStatus::Completed => {
            let output = parse_or_text(&record.output);
            println!("{}", serde_json::to_string_pretty(&output)?);
            Ok(ExitCode::SUCCESS)
        }
        status => {
            match &record.failure {
                Some(failure) => eprintln!(
                    "orchestration {} {}: {}: {}",
                    record.instance_id,
                    status.as_str().to_lowercase(),
                    failure.error_type,
                    failure.message
                ),
                None => eprintln!(
                    "orchestration {} ended {}",
                    record.instance_id,
                    status.as_str()
                ),
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

fn event_details(kind: &EventKind) -> String {
    match kind {
        EventKind::ExecutionStarted { name, input, .. } => format!("{name}({input})"),
        EventKind::TaskScheduled { name, input } => format!("{name}({input})"),
        EventKind::TaskCompleted { task_id, result } => format!("#{task_id} -> {result}"),
        EventKind::TaskFailed { task_id, failure } => format!("#{task_id} -> {failure}"),
        EventKind::TimerCreated { fire_at } => format!("fires at {}", format_time(*fire_at)),
        EventKind::TimerFired { timer_id, .. } => format!("#{timer_id}"),
        EventKind::TimerCancelled { timer_id } => format!("#{timer_id}"),
        EventKind::EventRaised { name, input } => format!("{name}: {input}"),
        EventKind::EventSent {
            instance_id,
            name,
            input,
        } => format!("{name} to {instance_id}: {input}"),
        EventKind::ExecutionCompleted {
            result: Some(result),
            ..
        } => result.clone(),
        EventKind::ExecutionCompleted {
            failure: Some(failure),
            ..
        } => failure.to_string(),
        EventKind::ExecutionTerminated { reason } => reason.clone().unwrap_or_default(),
        EventKind::ContinuedAsNew { input } => input.clone(),
        _ => String::new(),
    }
}

pub fn print_history(history: &[HistoryEvent]) {
    for (position, event) in history.iter().enumerate() {
        println!(
            "{position:>4}  {}  {:<26} {:>4}  {}",
            format_time(event.timestamp),
            event.kind.label(),
            event.event_id,
            event_details(&event.kind)
        );
    }
}

pub fn print_list(records: &[InstanceRecord]) {
    for record in records {
        println!(
            "{:<34} {:<14} {:<24} {}",
            record.instance_id,
            record.status.as_str(),
            record.name,
            format_time(record.created_at)
        );
    }
}
