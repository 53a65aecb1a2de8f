//! `GET /deployments`: every stored component, newest first, with what it offers, the names
//! it is the newest offer of and the unfinished instances pinned to it (as `durable
//! deployments --json` prints them). Not in Durable Functions, whose code is deployed with the
//! function app.

use super::{ApiError, ApiState};
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

pub async fn list(State(state): State<ApiState>) -> Result<Response, ApiError> {
    Ok(Json(state.client.deployments().await?).into_response())
}
