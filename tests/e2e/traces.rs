//! OpenTelemetry traces of a real `durable serve --otlp-endpoint`, received by an OTLP/HTTP
//! collector in the test: the span tree of a chain started with a `traceparent`, of an
//! order with sub-orchestrations, of an entity batch and of a `call_http`.

use crate::process::{Durable, count_json};
use crate::support::{Lang, guest};
use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use durable_host::http::BASE_PATH;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message as _;
use serde_json::json;
use std::sync::{Arc, Mutex};

/// A span as the collector received it, ids in hex.
#[derive(Debug, Clone)]
struct Received {
    name: String,
    trace_id: String,
    span_id: String,
    parent: String,
    attributes: Vec<(String, String)>,
    error: bool,
    start: u64,
    end: u64,
}

impl Received {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Collected {
    spans: Vec<Received>,
    services: Vec<String>,
    traceparents: Vec<String>,
}

/// An OTLP/HTTP (protobuf) collector, and a `POST /job` that records the `traceparent` it is
/// called with (the target of `call_http`). Returns its origin.
async fn collector(collected: Arc<Mutex<Collected>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let traces = collected.clone();
    let app = Router::new()
        .route(
            "/v1/traces",
            post(move |body: Bytes| {
                let traces = traces.clone();
                async move {
                    let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                    let mut collected = traces.lock().unwrap();
                    for resource in request.resource_spans {
                        let attributes = resource.resource.map(|r| r.attributes);
                        for kv in attributes.into_iter().flatten() {
                            if kv.key == "service.name" {
                                collected
                                    .services
                                    .push(text(kv.value.and_then(|v| v.value)));
                            }
                        }
                        for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
                            collected.spans.push(Received {
                                name: span.name,
                                trace_id: hex(&span.trace_id),
                                span_id: hex(&span.span_id),
                                parent: hex(&span.parent_span_id),
                                attributes: span
                                    .attributes
                                    .into_iter()
                                    .map(|kv| (kv.key, text(kv.value.and_then(|v| v.value))))
                                    .collect(),
                                // STATUS_CODE_ERROR
                                error: span.status.is_some_and(|s| s.code == 2),
                                start: span.start_time_unix_nano,
                                end: span.end_time_unix_nano,
                            });
                        }
                    }
                    (
                        [("content-type", "application/x-protobuf")],
                        ExportTraceServiceResponse::default().encode_to_vec(),
                    )
                }
            }),
        )
        .route(
            "/job",
            post(move |headers: HeaderMap| {
                let collected = collected.clone();
                async move {
                    let traceparent = headers.get("traceparent").map(|v| v.to_str().unwrap());
                    collected
                        .lock()
                        .unwrap()
                        .traceparents
                        .push(traceparent.unwrap_or("none").to_owned());
                    "done"
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    origin
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(value: Option<Value>) -> String {
    match value {
        Some(Value::StringValue(s)) => s,
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        other => format!("{other:?}"),
    }
}

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_of_orchestrations_turns_activities_and_entities_form_one_tree() {
    let collected = Arc::new(Mutex::new(Collected::default()));
    let origin = collector(collected.clone()).await;
    let durable = Durable::new();
    let components = [
        Lang::Rust.example("hello_sequence"),
        Lang::Rust.example("sub_orchestration"),
        Lang::Rust.example("counter"),
        guest("probe"),
    ];
    let mut args = vec!["--otlp-endpoint".to_owned(), origin.clone()];
    args.extend(["--allow-http".to_owned(), "127.0.0.1".to_owned()]);
    for component in &components {
        args.extend(["--component".to_owned(), component.display().to_string()]);
    }
    let (mut serve, api) = durable.serve_listening("serve.log", &args);
    let http = reqwest::Client::new();
    // Starts `name` as `id` and waits for it to complete.
    let run = async |name: &str, id: &str, input: serde_json::Value, traceparent: Option<&str>| {
        let mut request = http
            .post(format!(
                "{api}{BASE_PATH}/orchestrators/{name}/{id}?timeout=60"
            ))
            .json(&input);
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    };
    // A chain started by a caller that is itself traced.
    let traceparent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    run("hello_sequence", "chain-1", json!(null), Some(&traceparent)).await;
    // An order of two items: two sub-orchestrations, each with an activity.
    let items = json!({"items": [{"sku": "a", "quantity": 1}, {"sku": "b", "quantity": 2}]});
    run("process_order", "order-1", items, None).await;
    // A call_http: the callee is called with the activity's trace context.
    run("fetch", "fetch-1", json!(format!("{origin}/job")), None).await;
    // An orchestration that signals and calls an entity.
    let increment = json!({"key": "k", "amount": 5});
    run("increment_and_read", "count-1", increment, None).await;
    // SIGTERM: the server sends what it still buffers before it exits.
    serve.stop();

    let collected = collected.lock().unwrap();
    let spans = &collected.spans;
    assert!(
        collected.services.iter().all(|s| s == "durable") && !collected.services.is_empty(),
        "{:?}",
        collected.services
    );
    let named =
        |name: &str| -> Vec<&Received> { spans.iter().filter(|s| s.name == name).collect() };
    let one = |name: &str, instance: &str| -> &Received {
        let found: Vec<&Received> = named(name)
            .into_iter()
            .filter(|s| s.attr("durable.instance_id") == Some(instance))
            .collect();
        assert_eq!(found.len(), 1, "one `{name}` of {instance}: {spans:#?}");
        found[0]
    };
    let children = |parent: &Received, name: &str| -> Vec<&Received> {
        named(name)
            .into_iter()
            .filter(|s| s.parent == parent.span_id && s.trace_id == parent.trace_id)
            .collect()
    };

    // The chain: in the caller's trace, under the caller's span; its turns and its three
    // activities under it.
    let chain = one("orchestration hello_sequence", "chain-1");
    assert_eq!(
        (chain.trace_id.as_str(), chain.parent.as_str()),
        (CALLER_TRACE, CALLER_SPAN)
    );
    assert_eq!(chain.attr("durable.status"), Some("Completed"));
    assert!(!chain.error && chain.start <= chain.end);
    let activities = children(chain, "activity say_hello");
    assert_eq!(activities.len(), 3, "{spans:#?}");
    for activity in &activities {
        assert_eq!(activity.attr("durable.attempt"), Some("1"));
        assert_eq!(activity.attr("durable.outcome"), Some("completed"));
        assert!(chain.start / 1_000_000 <= activity.start / 1_000_000);
    }
    let turns = children(chain, "turn hello_sequence");
    assert!(
        turns.len() >= 2,
        "a first and a last turn at least: {turns:#?}"
    );
    assert!(
        turns
            .iter()
            .any(|t| t.attr("durable.outcome") == Some("completed"))
    );

    // The order: a trace of its own; each child orchestration under it, each quote under
    // its child.
    let order = one("orchestration process_order", "order-1");
    assert_eq!(order.parent, "", "a root: nobody traced the start");
    assert_ne!(order.trace_id, CALLER_TRACE);
    let shipments = children(order, "orchestration ship_item");
    assert_eq!(shipments.len(), 2, "{spans:#?}");
    for shipment in shipments {
        assert_eq!(children(shipment, "activity quote_shipping").len(), 1);
        assert!(!children(shipment, "turn ship_item").is_empty());
    }

    // call_http sent the activity's context: the callee's parent is the activity's span.
    let fetch = one("orchestration fetch", "fetch-1");
    let requests = children(fetch, "activity durable:http");
    assert_eq!(requests.len(), 1, "{spans:#?}");
    assert_eq!(
        collected.traceparents,
        [format!("00-{}-{}-01", fetch.trace_id, requests[0].span_id)]
    );

    // The entity's batches: their own traces, named by the entity.
    let batches = named("entity counter");
    assert!(!batches.is_empty(), "{spans:#?}");
    assert!(
        batches
            .iter()
            .all(|b| b.attr("durable.entity_key") == Some("k")
                && b.attr("durable.outcome") == Some("completed"))
    );
    one("orchestration increment_and_read", "count-1");
}

/// An execution's turns on two processes, one stopped and one started after it, name the same
/// parent: the span the second exports when the execution ends, in the caller's trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_keeps_its_span_across_a_restart() {
    let collected = Arc::new(Mutex::new(Collected::default()));
    let origin = collector(collected.clone()).await;
    let durable = Durable::new();
    let approval = Lang::Rust.example("human_interaction");
    let approval = approval.to_str().unwrap();
    let args = ["--otlp-endpoint", &origin, "--component", approval];
    let http = reqwest::Client::new();

    let (mut first, api) = durable.serve_listening("first.log", args);
    let traceparent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let started = http
        .post(format!(
            "{api}{BASE_PATH}/orchestrators/approval_workflow/approve-1"
        ))
        .header("traceparent", &traceparent)
        .json(&json!({"timeout_secs": 3600}))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    durable.history_until("approve-1", |h| count_json(h, "TimerCreated") == 1);
    first.stop();
    let before_restart = collected.lock().unwrap().spans.len();

    let (mut second, api) = durable.serve_listening("second.log", args);
    let raised = http
        .post(format!(
            "{api}{BASE_PATH}/instances/approve-1/raiseEvent/Approval"
        ))
        .json(&json!(true))
        .send()
        .await
        .unwrap();
    assert_eq!(raised.status(), 202);
    durable.history_until("approve-1", |h| count_json(h, "ExecutionCompleted") == 1);
    second.stop();

    let collected = collected.lock().unwrap();
    let (first_spans, second_spans) = collected.spans.split_at(before_restart);
    let execution: Vec<&Received> = second_spans
        .iter()
        .filter(|s| s.name == "orchestration approval_workflow")
        .collect();
    let [execution] = execution.as_slice() else {
        panic!(
            "one execution span, from the second process: {:#?}",
            collected.spans
        );
    };
    assert_eq!(
        (execution.trace_id.as_str(), execution.parent.as_str()),
        (CALLER_TRACE, CALLER_SPAN)
    );
    assert_eq!(execution.attr("durable.status"), Some("Completed"));
    let under = |spans: &[Received], name: &str| {
        spans
            .iter()
            .filter(|s| s.name == name && s.parent == execution.span_id)
            .filter(|s| s.trace_id == execution.trace_id)
            .count()
    };
    assert!(
        under(first_spans, "turn approval_workflow") >= 2,
        "{first_spans:#?}"
    );
    assert_eq!(under(first_spans, "activity request_approval"), 1);
    assert!(under(second_spans, "turn approval_workflow") >= 1);
    assert_eq!(under(second_spans, "activity process_approval"), 1);
    // It spans both processes: it began before the first one's last span ended.
    let first_stopped = first_spans.iter().map(|s| s.end).max().unwrap();
    assert!(execution.start < first_stopped && execution.end > first_stopped);
}
