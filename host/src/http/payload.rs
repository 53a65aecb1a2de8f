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
    /// The instance's id.
    pub id: String,
    /// GET: the instance's status.
    pub status_query_get_uri: String,
    /// POST: raise an event on it; `{eventName}` is left for the caller to fill in.
    pub send_event_post_uri: String,
    /// POST: terminate it; `{text}` is left for the reason.
    pub terminate_post_uri: String,
    /// DELETE: purge the finished instance and everything stored for it.
    pub purge_history_delete_uri: String,
    /// POST: start it again.
    pub restart_post_uri: String,
    /// POST: suspend it; `{text}` is left for the reason.
    pub suspend_post_uri: String,
    /// POST: resume it; `{text}` is left for the reason.
    pub resume_post_uri: String,
    /// POST: rewind it after a failure; `{text}` is left for the reason.
    pub rewind_post_uri: String,
}

impl CheckStatus {
    /// The URLs of `instance_id` under the request's base, each carrying the access key the
    /// request used, if any.
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
    /// Include the instance's input (else `input` is `null`).
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
    // Not in Durable Functions' payload (its clients ignore fields they do not know): the
    // deployment the instance runs on and, for a sub-orchestration, its parent.
    out.insert("componentDigest".into(), record.digest.clone().into());
    if let Some(parent) = &record.parent {
        out.insert("parentInstanceId".into(), parent.instance_id.clone().into());
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

/// The inverse of [`history`] with `show_output`: events read back from the API's
/// Durable Functions style into the engine's history events, so a client of the API (the
/// CLI's `--url`) sees what the database holds. Payloads come back as compact JSON text
/// (equal as JSON, not always byte for byte).
pub fn parse_history(values: &[Value]) -> Result<Vec<HistoryEvent>, String> {
    values
        .iter()
        .enumerate()
        .map(|(i, value)| parse_event(value).map_err(|e| format!("history event {i}: {e}")))
        .collect()
}

fn parse_event(value: &Value) -> Result<HistoryEvent, String> {
    let Value::Object(fields) = value else {
        return Err("not an object".into());
    };
    let kind = fields
        .get("EventType")
        .and_then(Value::as_str)
        .ok_or("no EventType")?;
    let mut out = Map::new();
    for (key, field) in fields {
        let key = match key.as_str() {
            "EventType" => "type".to_owned(),
            other => camel(other),
        };
        let converted = match key.as_str() {
            "timestamp" | "fireAt" => match field.as_str() {
                Some(text) => time::parse(text)
                    .ok_or_else(|| format!("`{key}` is not a time: {text}"))?
                    .into(),
                None => field.clone(),
            },
            // An entity's answer is a result object, not a payload.
            "result" if kind == "EntityResponded" => field.clone(),
            "input" | "result" => Value::String(field.to_string()),
            _ => field.clone(),
        };
        out.insert(key, converted);
    }
    serde_json::from_value(Value::Object(out)).map_err(|e| e.to_string())
}

fn camel(key: &str) -> String {
    let mut chars = key.chars();
    chars
        .next()
        .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

fn pascal(key: &str) -> String {
    let mut chars = key.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{EntityId, EntityOperation, EventKind, Failure, ParentInstance};

    fn at(event_id: u32, kind: EventKind) -> HistoryEvent {
        HistoryEvent {
            event_id: crate::replay::Scheduled::of_event(&kind).map(|_| event_id),
            timestamp: 1_767_225_600_123 + u64::from(event_id),
            kind,
        }
    }

    /// Every kind of event that carries a payload, a time or a result survives the trip
    /// through the API's shape and back.
    #[test]
    fn history_reads_back_what_it_wrote() {
        let failure = Failure {
            details: Some(r#"{"code":7}"#.into()),
            ..Failure::new("Boom", "it broke")
        };
        let operation = EntityOperation {
            entity: EntityId {
                name: "counter".into(),
                key: "k".into(),
            },
            operation: "add".into(),
            input: "5".into(),
            scheduled_at: Some(9),
        };
        let events = vec![
            at(0, EventKind::OrchestratorStarted),
            at(
                1,
                EventKind::ExecutionStarted {
                    name: "o".into(),
                    instance_id: "i".into(),
                    execution_id: "e".into(),
                    input: r#"{"a":[1,2]}"#.into(),
                    parent: Some(ParentInstance {
                        instance_id: "p".into(),
                        task_id: 3,
                        execution_id: Some("pe".into()),
                    }),
                    version: None,
                    trace: None,
                },
            ),
            at(
                0,
                EventKind::TaskScheduled {
                    name: "step".into(),
                    input: r#""x""#.into(),
                },
            ),
            at(
                3,
                EventKind::TaskCompleted {
                    task_id: 0,
                    result: "null".into(),
                },
            ),
            at(
                4,
                EventKind::TaskFailed {
                    task_id: 0,
                    failure: failure.clone(),
                },
            ),
            at(
                1,
                EventKind::TimerCreated {
                    fire_at: 1_767_225_700_000,
                },
            ),
            at(
                6,
                EventKind::TimerFired {
                    timer_id: 1,
                    fire_at: 1_767_225_700_000,
                },
            ),
            at(2, EventKind::EntityCalled(operation.clone())),
            at(3, EventKind::EntitySignalled(operation)),
            at(
                9,
                EventKind::EntityResponded {
                    task_id: 2,
                    result: Ok("8".into()),
                },
            ),
            at(
                10,
                EventKind::EntityResponded {
                    task_id: 2,
                    result: Err(failure.clone()),
                },
            ),
            at(
                11,
                EventKind::ExecutionCompleted {
                    result: Some(r#"["done"]"#.into()),
                    failure: None,
                },
            ),
            at(
                12,
                EventKind::ExecutionTerminated {
                    reason: Some("stop".into()),
                },
            ),
        ];
        let shown = history(&events, true);
        assert_eq!(parse_history(&shown), Ok(events));
    }

    #[test]
    fn a_malformed_event_is_named() {
        let err =
            parse_history(&[serde_json::json!({"EventType": "TimerFired", "Timestamp": "soon"})])
                .unwrap_err();
        assert!(
            err.starts_with("history event 0: `timestamp` is not a time"),
            "{err}"
        );
    }
}
