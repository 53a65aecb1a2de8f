//! The JSON shapes of the API, with Durable Functions' field names: the
//! check-status payload returned by start and restart, an instance's status,
//! and its history events.

use super::request::{LinkBase, encode};
use super::time;
use crate::store::InstanceRecord;
use crate::types::{HistoryEvent, RuntimeStatus};
use serde::Serialize;
use serde_json::{Map, Value};

/// The management URLs of one instance, as Durable Functions'
/// `CreateCheckStatusResponse` gives them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckStatus {
    pub id: String,
    pub status_query_get_uri: String,
    pub send_event_post_uri: String,
    pub terminate_post_uri: String,
    pub purge_history_delete_uri: String,
    pub restart_post_uri: String,
    pub suspend_post_uri: String,
    pub resume_post_uri: String,
    pub rewind_post_uri: String,
}

impl CheckStatus {
    pub fn new(links: &LinkBase, instance_id: &str) -> CheckStatus {
        let instance = format!("{}/instances/{}", links.base, encode(instance_id));
        let code = links.code.as_deref().map(encode);
        // Durable Functions leaves `{eventName}` and `{text}` as placeholders
        // for the caller to fill in.
        let url = |path: &str, reason: bool| {
            let mut query = Vec::new();
            if reason {
                query.push("reason={text}".to_owned());
            }
            if let Some(code) = &code {
                query.push(format!("code={code}"));
            }
            if query.is_empty() {
                format!("{instance}{path}")
            } else {
                format!("{instance}{path}?{}", query.join("&"))
            }
        };
        CheckStatus {
            id: instance_id.to_owned(),
            status_query_get_uri: url("", false),
            send_event_post_uri: url("/raiseEvent/{eventName}", false),
            terminate_post_uri: url("/terminate", true),
            purge_history_delete_uri: url("", false),
            restart_post_uri: url("/restart", false),
            suspend_post_uri: url("/suspend", true),
            resume_post_uri: url("/resume", true),
            rewind_post_uri: url("/rewind", true),
        }
    }
}

/// JSON text as stored to a JSON value (it is always valid JSON; a string
/// if not, rather than failing the request).
fn value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// What to include in a status.
#[derive(Debug, Clone, Copy)]
pub struct StatusOptions {
    pub show_input: bool,
}

/// An instance's status object (`name`, `instanceId`, `runtimeStatus`,
/// ...). A failed instance's `output` is its failure message, as in Durable
/// Functions; the structured failure is in `failureDetails`.
pub fn status(record: &InstanceRecord, options: StatusOptions) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("name".into(), record.name.clone().into());
    out.insert("instanceId".into(), record.instance_id.clone().into());
    out.insert("runtimeStatus".into(), record.status.as_str().into());
    out.insert(
        "input".into(),
        if options.show_input {
            value(&record.input)
        } else {
            Value::Null
        },
    );
    out.insert(
        "customStatus".into(),
        record.custom_status.as_deref().map_or(Value::Null, value),
    );
    let output = match (&record.output, &record.failure) {
        (Some(output), _) => value(output),
        (None, Some(failure)) if record.status == RuntimeStatus::Failed => {
            failure.to_string().into()
        }
        _ => Value::Null,
    };
    out.insert("output".into(), output);
    if let Some(failure) = &record.failure {
        out.insert(
            "failureDetails".into(),
            serde_json::to_value(failure).unwrap_or(Value::Null),
        );
    }
    out.insert("createdTime".into(), time::format(record.created_at).into());
    out.insert(
        "lastUpdatedTime".into(),
        time::format(record.updated_at).into(),
    );
    out
}

/// History events in Durable Functions' style: PascalCase fields,
/// `EventType`, ISO 8601 times, payloads as JSON values. Results are left
/// out unless `show_output`.
pub fn history(events: &[HistoryEvent], show_output: bool) -> Vec<Value> {
    events
        .iter()
        .map(|event| {
            let Ok(Value::Object(fields)) = serde_json::to_value(event) else {
                return Value::Null;
            };
            let mut out = Map::new();
            for (key, field) in fields {
                let converted = match key.as_str() {
                    "type" => {
                        out.insert("EventType".into(), field);
                        continue;
                    }
                    "result" if !show_output => continue,
                    "timestamp" | "fireAt" => match field.as_u64() {
                        Some(ms) => time::format(ms).into(),
                        None => field,
                    },
                    "input" | "result" => match &field {
                        Value::String(text) => value(text),
                        _ => field,
                    },
                    _ => field,
                };
                out.insert(pascal(&key), converted);
            }
            Value::Object(out)
        })
        .collect()
}

fn pascal(key: &str) -> String {
    let mut chars = key.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}
