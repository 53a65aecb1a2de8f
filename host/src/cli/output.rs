//! How the CLI prints instances, histories and outcomes, whether they came from the
//! database or from a server's HTTP API.

use durable_host::store::InstanceRecord;
use durable_host::types::{EventKind, Failure, HistoryEvent, Json, RuntimeStatus, Timestamp};
use std::process::ExitCode;

/// `2026-11-24T08:30:00.123Z`: the same format as the HTTP API's times.
pub use durable_host::http::time::format as format_time;

/// An instance as the CLI shows it.
#[derive(Debug, Clone)]
pub struct InstanceView {
    pub instance_id: String,
    pub name: String,
    pub status: RuntimeStatus,
    pub input: Json,
    pub output: Option<Json>,
    pub failure: Option<Failure>,
    pub custom_status: Option<Json>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The component digest it is pinned to (read from the database; the HTTP API does not
    /// give it).
    pub component: Option<String>,
}

impl From<InstanceRecord> for InstanceView {
    fn from(record: InstanceRecord) -> Self {
        InstanceView {
            instance_id: record.instance_id,
            name: record.name,
            status: record.status,
            input: record.input,
            output: record.output,
            failure: record.failure,
            custom_status: record.custom_status,
            created_at: record.created_at,
            updated_at: record.updated_at,
            component: Some(record.digest),
        }
    }
}

/// An instance's status as JSON.
pub fn print_status(view: &InstanceView) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&status_json(view))?);
    Ok(())
}

fn parse_or_text(text: Option<&str>) -> serde_json::Value {
    match text {
        Some(t) => serde_json::from_str(t).unwrap_or_else(|_| serde_json::Value::String(t.into())),
        None => serde_json::Value::Null,
    }
}

fn status_json(view: &InstanceView) -> serde_json::Value {
    let mut status = serde_json::json!({
        "instanceId": view.instance_id,
        "name": view.name,
        "runtimeStatus": view.status.as_str(),
        "input": parse_or_text(Some(&view.input)),
        "output": parse_or_text(view.output.as_deref()),
        "failure": view.failure,
        "customStatus": parse_or_text(view.custom_status.as_deref()),
        "createdTime": format_time(view.created_at),
        "lastUpdatedTime": format_time(view.updated_at),
    });
    if let Some(component) = &view.component {
        status["component"] = component.clone().into();
    }
    status
}

/// `run`'s result: the output on success, the failure on stderr otherwise.
pub fn print_outcome(record: &InstanceRecord) -> anyhow::Result<ExitCode> {
    match record.status {
        RuntimeStatus::Completed => {
            let output = parse_or_text(record.output.as_deref());
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
        EventKind::ExecutionUpgraded { from, to } => format!("{from} -> {to}"),
        _ => String::new(),
    }
}

/// A history as a table, or with `json` as the JSON array `durable replay` reads.
pub fn print_history(history: &[HistoryEvent], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(history)?);
        return Ok(());
    }
    for (position, event) in history.iter().enumerate() {
        let sequence_id = event.event_id.map(|id| id.to_string()).unwrap_or_default();
        println!(
            "{position:>4}  {}  {:<26} {sequence_id:>4}  {}",
            format_time(event.timestamp),
            event.kind.label(),
            event_details(&event.kind)
        );
    }
    Ok(())
}

pub fn print_list(views: &[InstanceView]) {
    for view in views {
        println!(
            "{:<34} {:<14} {:<24} {}",
            view.instance_id,
            view.status.as_str(),
            view.name,
            format_time(view.created_at)
        );
    }
}

/// Deployments, newest first: a block each, or JSON.
pub fn print_deployments(
    deployments: &[durable_host::client::Deployment],
    json: bool,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(deployments)?);
        return Ok(());
    }
    if deployments.is_empty() {
        println!("nothing is deployed");
    }
    for d in deployments {
        println!(
            "{}  {}  deployed {}  {} pinned instances",
            d.digest,
            d.state,
            format_time(d.deployed_at),
            d.pinned_instances
        );
        if let Some(app) = &d.app {
            println!("  app: {app}");
        }
        if let Some(version) = &d.version {
            println!("  version: {version}");
        }
        for (what, names) in [
            ("orchestrators", &d.offers.orchestrators),
            ("activities", &d.offers.activities),
            ("entities", &d.offers.entities),
            ("newest for", &d.newest_for),
        ] {
            if !names.is_empty() {
                println!("  {what}: {}", names.join(", "));
            }
        }
    }
    Ok(())
}
