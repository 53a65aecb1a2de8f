//! Entities over HTTP, as in Durable Functions: `POST
//! /entities/{entityName}/{entityKey}?op=` signals one (202),
//! `GET /entities/{entityName}/{entityKey}` reads its state (200, or 404
//! when it has none), and `GET /entities/{entityName}` lists them with the
//! same `x-ms-continuation-token` paging as instances.

use super::instances::CONTINUATION_HEADER;
use super::request::{ApiBase, Params, json_body};
use super::{ApiError, ApiState};
use crate::store::{EntityFilter, EntityRecord};
use crate::types::EntityId;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub async fn signal(
    State(state): State<ApiState>,
    Extension(base): Extension<ApiBase>,
    Path((name, key)): Path<(String, String)>,
    params: Params,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let operation = params
        .string("op")
        .filter(|op| !op.is_empty())
        .ok_or_else(|| ApiError::BadRequest("the `op` query parameter is required".into()))?
        .to_owned();
    let input = json_body(&state, base, body, "the request body (the operation input)")?;
    state
        .client
        .signal_entity(&name, &key, &operation, &input)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn get(
    State(state): State<ApiState>,
    Path((name, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    match state.client.entity_state(&name, &key).await? {
        Some(EntityRecord {
            state: Some(text), ..
        }) => Ok((StatusCode::OK, Json(parse(&text))).into_response()),
        _ => Err(ApiError::NotFound(format!(
            "entity `{name}@{key}` has no state"
        ))),
    }
}

pub async fn list(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let top = params.top()?;
    let fetch_state = params.bool("fetchState", false)?;
    let after = headers
        .get(CONTINUATION_HEADER)
        .and_then(|token| token.to_str().ok())
        .map(str::trim)
        .filter(|token| !token.is_empty() && *token != "null")
        .map(|key| EntityId {
            name: name.clone(),
            key: decode_key(key),
        });
    let filter = EntityFilter {
        name: Some(name.clone()),
        last_operation_from: params.time("lastOperationTimeFrom")?,
        last_operation_to: params.time("lastOperationTimeTo")?,
        include_empty: params.bool("includeDeleted", false)?,
        limit: Some(top + 1),
        after,
    };
    let mut records = state.client.list_entities(&filter).await?;
    let more = records.len() > top;
    records.truncate(top);
    let body: Vec<Value> = records
        .iter()
        .map(|r| {
            let mut entry = json!({
                "entityId": { "name": r.name, "key": r.key },
                "lastOperationTime": super::time::format(r.last_operation_at),
            });
            if fetch_state {
                entry["state"] = r.state.as_deref().map(parse).unwrap_or(Value::Null);
            }
            entry
        })
        .collect();
    let mut response = Json(body).into_response();
    if let (true, Some(last)) = (more, records.last())
        && let Ok(value) = HeaderValue::from_str(&encode_key(&last.key))
    {
        response.headers_mut().insert(CONTINUATION_HEADER, value);
    }
    Ok(response)
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Keys are free text; the token carries them hex-encoded.
fn encode_key(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_key(token: &str) -> String {
    let bytes: Vec<u8> = (0..token.len() / 2)
        .filter_map(|i| u8::from_str_radix(token.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
