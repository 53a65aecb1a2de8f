//! Entities over HTTP, as in Durable Functions: `POST
//! /entities/{entityName}/{entityKey}?op=` signals one (202),
//! `GET /entities/{entityName}/{entityKey}` reads its state (200, or 404
//! when it has none), and `GET /entities/{entityName}` lists them with the
//! same `x-ms-continuation-token` paging as instances.

use super::instances::CONTINUATION_HEADER;
use super::request::{ApiBase, Params, hex, json_body, unhex};
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
    list_matching(state, Some(name), params, headers).await
}

/// `GET /entities`: the entities of every name, in (name, key) order.
pub async fn list_all(
    State(state): State<ApiState>,
    params: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    list_matching(state, None, params, headers).await
}

async fn list_matching(
    state: ApiState,
    name: Option<String>,
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
        .map(|token| decode_token(name.as_deref(), token))
        .transpose()?;
    let filter = EntityFilter {
        name,
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
                "pendingOperations": r.pending,
                "lockedBy": r.locked_by,
            });
            if fetch_state {
                entry["state"] = r.state.as_deref().map(parse).unwrap_or(Value::Null);
            }
            entry
        })
        .collect();
    let mut response = Json(body).into_response();
    if let (true, Some(last)) = (more, records.last())
        && let Ok(value) = HeaderValue::from_str(&encode_token(filter.name.as_deref(), last))
    {
        response.headers_mut().insert(CONTINUATION_HEADER, value);
    }
    Ok(response)
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// The continuation token after `last`: its key hex-encoded (keys are free text) when the
/// list is of one name, as Durable Functions' is; `<name hex>.<key hex>` when it spans names.
fn encode_token(name: Option<&str>, last: &EntityRecord) -> String {
    match name {
        Some(_) => hex(&last.key),
        None => format!("{}.{}", hex(&last.name), hex(&last.key)),
    }
}

fn decode_token(name: Option<&str>, token: &str) -> Result<EntityId, ApiError> {
    let invalid = || ApiError::BadRequest(format!("invalid {CONTINUATION_HEADER} header"));
    match name {
        Some(name) => Ok(EntityId {
            name: name.to_owned(),
            key: unhex(token).ok_or_else(invalid)?,
        }),
        None => {
            let (name, key) = token.split_once('.').ok_or_else(invalid)?;
            Ok(EntityId {
                name: unhex(name).ok_or_else(invalid)?,
                key: unhex(key).ok_or_else(invalid)?,
            })
        }
    }
}
