//! `POST /orchestrators/{functionName}[/{instanceId}]`: start an instance
//! and answer with the check-status payload, or, with `timeout`, wait for it
//! and answer with its output.

use super::payload::{self, CheckStatus, StatusOptions};
use super::request::{ApiBase, LinkBase, Params, json_body};
use super::{ApiError, ApiState};
use crate::client::{ClientError, StartRequest};
use crate::telemetry::TRACEPARENT;
use crate::types::{Json, RuntimeStatus};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, State};
use axum::http::header::{LOCATION, RETRY_AFTER};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// The longest a start request may wait for completion.
const MAX_WAIT_SECS: u64 = 600;

pub async fn start(
    State(state): State<ApiState>,
    Extension(base): Extension<ApiBase>,
    Path(function_name): Path<String>,
    params: Params,
    links: LinkBase,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let input = json_body(&state, base, body, INPUT)?;
    let request = start_request(function_name, input, &headers);
    start_instance(state, request, params, links).await
}

pub async fn start_with_id(
    State(state): State<ApiState>,
    Extension(base): Extension<ApiBase>,
    Path((function_name, instance_id)): Path<(String, String)>,
    params: Params,
    links: LinkBase,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let input = json_body(&state, base, body, INPUT)?;
    let request = start_request(function_name, input, &headers).instance_id(instance_id);
    start_instance(state, request, params, links).await
}

/// What a start request's body is, for error messages.
const INPUT: &str = "the request body (the orchestrator input)";

/// The start of `function_name` with `input`; the orchestration joins the caller's trace
/// when the request carries a W3C `traceparent` header.
fn start_request(function_name: String, input: Json, headers: &HeaderMap) -> StartRequest {
    let mut request = StartRequest::new(function_name).input(input);
    request.trace = headers
        .get(TRACEPARENT)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    request
}

async fn start_instance(
    state: ApiState,
    mut request: StartRequest,
    params: Params,
    links: LinkBase,
) -> Result<Response, ApiError> {
    let timeout = params.u64("timeout")?;
    // Accepted for compatibility; the wait below is woken by the host when
    // the instance finishes, so it needs no polling interval.
    params.u64("pollingInterval")?;
    request.version = params.string("version").map(str::to_owned);
    let id = state.client.start(request).await?;
    if let Some(secs) = timeout {
        let wait = Duration::from_secs(secs.min(MAX_WAIT_SECS));
        match state.client.wait(&id, wait).await {
            Ok(record) if record.status == RuntimeStatus::Completed => {
                let output = record.output.as_deref().unwrap_or("null");
                return Ok(json_text(StatusCode::OK, output));
            }
            Ok(record) => {
                let body = payload::status(&record, StatusOptions { show_input: true });
                return Ok((StatusCode::OK, axum::Json(body)).into_response());
            }
            Err(ClientError::Timeout { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(accepted(&links, &id))
}

/// 202 with the check-status payload, `Location` (the status URL) and
/// `Retry-After`.
pub fn accepted(links: &LinkBase, instance_id: &str) -> Response {
    let payload = CheckStatus::new(links, instance_id);
    let location = payload.status_query_get_uri.clone();
    (
        StatusCode::ACCEPTED,
        [(LOCATION, location), (RETRY_AFTER, "10".to_owned())],
        axum::Json(payload),
    )
        .into_response()
}

/// A response whose body is stored JSON text, sent as is.
fn json_text(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        text.to_owned(),
    )
        .into_response()
}
