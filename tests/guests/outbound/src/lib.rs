//! Test-only component: activities that make HTTP requests with `wstd` (`wasi:http`, under
//! the host's outbound policy), open a TCP connection (`wasi:sockets`, under the same policy)
//! and read a secret (`wasi:config`); an orchestrator making a durable `call_http`; and
//! orchestrators that try the rest, which their sandbox refuses.

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

/// POSTs to `url` with the operator's `api_key` (`wasi:config`, `durable serve --config`) in
/// the `x-api-key` header and returns the status alone: the key never enters a result.
#[durable_sdk::activity]
fn call_with_key(url: String) -> Result<u16, Failure> {
    let key = durable_sdk::config::get("api_key")?
        .ok_or_else(|| Failure::new("Misconfigured", "no api_key is configured"))?;
    wstd::runtime::block_on(async {
        let failed = |e: &dyn std::fmt::Display| Failure::new("HttpError", e.to_string());
        let request = Request::post(&url)
            .header("x-api-key", key)
            .body(Body::empty())
            .map_err(|e| failed(&e))?;
        let response = Client::new().send(request).await.map_err(|e| failed(&e))?;
        Ok(response.status().as_u16())
    })
}

/// Calls `url` with the configured key through `call_with_key`.
#[durable_sdk::orchestrator]
async fn call_with_key_via_activity(
    ctx: OrchestrationContext,
    url: String,
) -> Result<u16, Failure> {
    ctx.call_activity("call_with_key", url).await
}

/// Connects to `address` (`host:port`) over TCP, sends `ping` and returns what the peer
/// answers before closing; a refused connection fails with `ConnectError` and the reason.
#[durable_sdk::activity]
fn connect(address: String) -> Result<String, Failure> {
    use std::io::{Read as _, Write as _};
    let failed = |e: std::io::Error| Failure::new("ConnectError", format!("{address}: {e}"));
    let mut stream = std::net::TcpStream::connect(&address).map_err(failed)?;
    stream.write_all(b"ping").map_err(failed)?;
    stream.shutdown(std::net::Shutdown::Write).map_err(failed)?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(failed)?;
    Ok(answer)
}

/// Connects through the `connect` activity.
#[durable_sdk::orchestrator]
async fn connect_via_activity(
    ctx: OrchestrationContext,
    address: String,
) -> Result<String, Failure> {
    ctx.call_activity("connect", address).await
}

/// GETs `url` with the durable `call_http` and returns the status.
#[durable_sdk::orchestrator]
async fn call_http_get(ctx: OrchestrationContext, url: String) -> Result<u16, Failure> {
    let response = ctx.call_http(durable_sdk::HttpRequest::get(url)).await?;
    Ok(response.status_code)
}

/// Reads the configured `api_key` from the orchestrator itself: the sandbox must refuse.
#[durable_sdk::orchestrator]
async fn config_in_orchestrator(_ctx: OrchestrationContext) -> Result<Option<String>, Failure> {
    durable_sdk::config::get("api_key")
}

/// Fetches `url` from the orchestrator itself: the sandbox must refuse.
#[durable_sdk::orchestrator]
async fn fetch_in_orchestrator(_ctx: OrchestrationContext, url: String) -> Result<Value, Failure> {
    get(&url, None).await
}

durable_sdk::component! {
    orchestrators: [
        fetch_via_activity,
        fetch_in_orchestrator,
        call_with_key_via_activity,
        config_in_orchestrator,
        connect_via_activity,
        call_http_get,
    ],
    activities: [fetch, fetch_within, call_with_key, connect],
    entities: [],
}
