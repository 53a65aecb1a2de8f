//! Durable HTTP: one built-in activity per request, and 202 polling on
//! durable timers.

use super::*;
use crate::{HTTP_ACTIVITY, HttpRequest, HttpResponse};

#[crate::orchestrator]
async fn fetch(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let response: HttpResponse = ctx
        .call_http(HttpRequest::post("http://svc/jobs", "{}").header("x-k", "v"))
        .await?;
    Ok(json!({"status": response.status_code, "content": response.content}))
}

/// The built-in HTTP activity's input in a schedule action, parsed.
fn http_input(action: &Action) -> Value {
    match &action.kind {
        ActionKind::ScheduleActivity(s) if s.name == HTTP_ACTIVITY => {
            serde_json::from_str(&s.input).expect("JSON input")
        }
        other => panic!("expected the HTTP activity, got {other:?}"),
    }
}

fn response(status: u16, headers: &[(&str, &str)], content: &str) -> Value {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    json!({"statusCode": status, "headers": headers, "content": content})
}

#[test]
fn a_plain_answer_completes_the_call() {
    let turns = vec![
        first_turn(Value::Null),
        vec![turn_start(1), completed(0, response(200, &[], "done"))],
    ];
    let actions = run_both(fetch::__DURABLE_ORCHESTRATOR, &turns);
    let request = json!({
        "method": "POST", "uri": "http://svc/jobs", "headers": {"x-k": "v"},
        "content": "{}", "asynchronousPatternEnabled": true
    });
    assert_eq!(actions[0].len(), 1);
    assert_eq!(actions[0][0].id, 0);
    assert_eq!(http_input(&actions[0][0]), request);
    assert_eq!(
        actions[1],
        vec![complete(json!({"status": 200, "content": "done"}))]
    );
}

#[test]
fn accepted_with_a_location_is_polled_after_a_durable_timer() {
    let accepted = response(
        202,
        &[("location", "http://svc/jobs/7"), ("retry-after", "5")],
        "",
    );
    let turns = vec![
        first_turn(Value::Null),
        vec![turn_start(1), completed(0, accepted.clone())],
        vec![turn_start(6), timer_fired(1, T0 + 6_000)],
        vec![turn_start(7), completed(2, accepted)],
        vec![turn_start(12), timer_fired(3, T0 + 12_000)],
        vec![turn_start(13), completed(4, response(200, &[], "finished"))],
    ];
    let actions = run_both(fetch::__DURABLE_ORCHESTRATOR, &turns);
    // Turn 1 is at T0 + 1 s: the timer fires 5 s later.
    assert_eq!(actions[1], vec![timer(1, T0 + 6_000)]);
    let poll = json!({
        "method": "GET", "uri": "http://svc/jobs/7", "headers": {"x-k": "v"},
        "asynchronousPatternEnabled": true
    });
    assert_eq!(actions[2].len(), 1);
    assert_eq!(actions[2][0].id, 2);
    assert_eq!(http_input(&actions[2][0]), poll);
    assert_eq!(actions[3], vec![timer(3, T0 + 12_000)]);
    assert_eq!(
        actions[5],
        vec![complete(json!({"status": 200, "content": "finished"}))]
    );
}

#[test]
fn a_refused_request_fails_the_call_with_its_type() {
    let turns = vec![
        first_turn(Value::Null),
        vec![
            turn_start(1),
            failed(
                0,
                Failure::new("HttpNotAllowed", "host `svc` is not allowed"),
            ),
        ],
    ];
    let actions = run_both(fetch::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(failure_of(&actions[1][0]).error_type, "HttpNotAllowed");
}
