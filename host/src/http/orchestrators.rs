//! `POST /orchestrators/{functionName}[/{instanceId}]`: start an instance
//! and answer with the check-status payload, or, with `timeout`, wait for it
//! and answer with its output.

use super::payload::{self, CheckStatus, StatusOptions};
use super::request::{LinkBase, Params};
use super::{ApiError, ApiState};
use crate::client::{ClientError, StartRequest};
use crate::types::{Json, RuntimeStatus};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{LOCATION, RETRY_AFTER};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// The longest a start request may wait for completion.
const MAX_WAIT_SECS: u64 = 600;

pub async fn start(
    State(state): State<ApiState>,
    Path(function_name): Path<String>,
    params: Params,
    links: LinkBase,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    start_instance(state, function_name, None, params, links, body).await
}

pub async fn start_with_id(
    State(state): State<ApiState>,
    Path((function_name, instance_id)): Path<(String, String)>,
    params: Params,
    links: LinkBase,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    start_instance(state, function_name, Some(instance_id), params, links, body).await
}

async fn start_instance(
    state: ApiState,
    function_name: String,
    instance_id: Option<String>,
    params: Params,
    links: LinkBase,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let input = json_body(&state, body, "the request body (the orchestrator input)")?;
    let timeout = params.u64("timeout")?;
    // Accepted for compatibility; the wait below is woken by the host when
    // the instance finishes, so it needs no polling interval.
    params.u64("pollingInterval")?;
    let mut request = StartRequest::new(function_name).input(input);
    request.instance_id = instance_id;
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

/// The request body as JSON text: `null` when empty; 400 when not JSON,
/// 413 when over the limit.
pub fn json_body(
    state: &ApiState,
    body: Result<Bytes, BytesRejection>,
    what: &str,
) -> Result<Json, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!(
                "the request body is larger than the limit of {} bytes",
                state.config.body_limit
            ))
        } else {
            ApiError::BadRequest(format!("{what} could not be read"))
        }
    })?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ApiError::BadRequest(format!("{what} is not UTF-8 text")))?;
    if text.trim().is_empty() {
        return Ok("null".to_owned());
    }
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map_err(|e| ApiError::BadRequest(format!("{what} is not valid JSON: {e}")))?;
    Ok(text.to_owned())
}
