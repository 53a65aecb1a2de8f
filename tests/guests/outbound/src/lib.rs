//! Test-only component: an activity that makes HTTP requests with `wstd` (`wasi:http`, under
//! the host's outbound policy), and an orchestrator that tries the same, which its sandbox
//! refuses.

use durable_sdk::{Failure, OrchestrationContext};
use serde_json::{Value, json};
use std::time::Duration;
use wstd::http::{Body, Client, Request};

/// GETs `url` (waiting at most `first_byte` for the response, when given) and returns
/// `{"status": ..., "body": ...}`; a request that fails (refused, too large, timed out) fails
/// the activity with `HttpError` and the client's message.
async fn get(url: &str, first_byte: Option<Duration>) -> Result<Value, Failure> {
    let failed = |e: &dyn std::fmt::Display| Failure::new("HttpError", format!("{url}: {e}"));
    let request = Request::get(url)
        .body(Body::empty())
        .map_err(|e| failed(&e))?;
    let mut client = Client::new();
    if let Some(first_byte) = first_byte {
        client.set_first_byte_timeout(first_byte);
    }
    let mut response = client.send(request).await.map_err(|e| failed(&e))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .str_contents()
        .await
        .map_err(|e| failed(&e))?
        .to_owned();
    Ok(json!({ "status": status, "body": body }))
}

/// [`get`] as an activity.
#[durable_sdk::activity]
fn fetch(url: String) -> Result<Value, Failure> {
    wstd::runtime::block_on(get(&url, None))
}

/// [`get`] with a first-byte timeout: `{"url": ..., "timeout_ms": ...}`.
#[durable_sdk::activity]
fn fetch_within(request: Value) -> Result<Value, Failure> {
    let url = request["url"].as_str().unwrap_or_default();
    let timeout = Duration::from_millis(request["timeout_ms"].as_u64().unwrap_or(1000));
    wstd::runtime::block_on(get(url, Some(timeout)))
}

/// Fetches `url` through the `fetch` activity (a string), or the `fetch_within` one (an
/// object).
#[durable_sdk::orchestrator]
async fn fetch_via_activity(ctx: OrchestrationContext, request: Value) -> Result<Value, Failure> {
    match request.is_string() {
        true => ctx.call_activity("fetch", request).await,
        false => ctx.call_activity("fetch_within", request).await,
    }
}

/// Fetches `url` from the orchestrator itself: the sandbox must refuse.
#[durable_sdk::orchestrator]
async fn fetch_in_orchestrator(_ctx: OrchestrationContext, url: String) -> Result<Value, Failure> {
    get(&url, None).await
}

durable_sdk::component! {
    orchestrators: [fetch_via_activity, fetch_in_orchestrator],
    activities: [fetch, fetch_within],
    entities: [],
}
