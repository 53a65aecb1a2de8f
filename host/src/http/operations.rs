//! Acting on one instance: `POST /instances/{instanceId}/raiseEvent/{eventName}`,
//! `/terminate`, `/suspend`, `/resume`, `/rewind` and `/restart`. Each
//! answers 202 once the request is recorded (the instance acts on it at its
//! next turn), 404 for an unknown instance and 410 for a finished one.

use super::orchestrators::accepted;
use super::request::{ApiBase, LinkBase, Params, json_body};
use super::{ApiError, ApiState};
use crate::client::ClientError;
use crate::types::RuntimeStatus;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::future::Future;

/// 202 once the client has recorded the request (the instance acts on it at its next turn).
async fn accept(
    recorded: impl Future<Output = Result<(), ClientError>>,
) -> Result<Response, ApiError> {
    recorded.await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn raise_event(
    State(state): State<ApiState>,
    Extension(base): Extension<ApiBase>,
    Path((instance_id, event_name)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let data = json_body(&state, base, body, "the request body (the event data)")?;
    accept(state.client.raise_event(&instance_id, &event_name, &data)).await
}

pub async fn terminate(
    State(state): State<ApiState>,
    Path(instance_id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let recursive = params.bool("recursive", false)?;
    let reason = params.string("reason");
    accept(state.client.terminate(&instance_id, reason, recursive)).await
}

pub async fn suspend(
    State(state): State<ApiState>,
    Path(instance_id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    accept(state.client.suspend(&instance_id, params.string("reason"))).await
}

pub async fn resume(
    State(state): State<ApiState>,
    Path(instance_id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let record = state.client.status(&instance_id).await?;
    if record.status.is_terminal() {
        return Err(ApiError::Gone(format!(
            "instance `{instance_id}` has already finished ({})",
            record.status
        )));
    }
    if record.status != RuntimeStatus::Suspended {
        return Err(ApiError::Conflict(format!(
            "instance `{instance_id}` is not suspended (it is {})",
            record.status
        )));
    }
    accept(state.client.resume(&instance_id, params.string("reason"))).await
}

pub async fn rewind(
    State(state): State<ApiState>,
    Path(instance_id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    accept(state.client.rewind(&instance_id, params.string("reason"))).await
}

/// Starts a finished instance again with its input; answers 202 with the
/// check-status payload of the new run.
pub async fn restart(
    State(state): State<ApiState>,
    Path(instance_id): Path<String>,
    params: Params,
    links: LinkBase,
) -> Result<Response, ApiError> {
    let new_id = params.bool("restartWithNewInstanceId", true)?;
    let id = state.client.restart(&instance_id, new_id).await?;
    Ok(accepted(&links, &id))
}
