//! Reading and deleting instances: `GET /instances/{instanceId}`,
//! `GET /instances` (filters and keyset paging through the
//! `x-ms-continuation-token` header), `DELETE /instances/{instanceId}` and
//! `DELETE /instances` (purge by filter).

use super::payload::{self, StatusOptions};
use super::request::{Params, hex, unhex};
use super::time;
use super::{ApiError, ApiState};
use crate::store::{InstanceFilter, ListCursor};
use crate::types::RuntimeStatus;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The paging header of `GET /instances`: a response sets it to the token of the next page
/// when there is one, and a request carrying it continues from there.
pub const CONTINUATION_HEADER: &str = "x-ms-continuation-token";

pub async fn status(
    State(state): State<ApiState>,
    Path(instance_id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let show_history = params.bool("showHistory", false)?;
    let show_history_output = params.bool("showHistoryOutput", false)?;
    let show_input = params.bool("showInput", true)?;
    let error_on_failure = params.bool("returnInternalServerErrorOnFailure", false)?;
    let record = state.client.status(&instance_id).await?;
    let mut body = payload::status(&record, StatusOptions { show_input });
    if show_history {
        let history = state.client.store().history(&instance_id).await?;
        body.insert(
            "historyEvents".into(),
            Value::Array(payload::history(&history, show_history_output)),
        );
    }
    let code = match record.status {
        RuntimeStatus::Pending
        | RuntimeStatus::Running
        | RuntimeStatus::Suspended
        | RuntimeStatus::ContinuedAsNew => StatusCode::ACCEPTED,
        RuntimeStatus::Failed if error_on_failure => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::OK,
    };
    Ok((code, Json(body)).into_response())
}

pub async fn list(
    State(state): State<ApiState>,
    params: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let top = params.top()?;
    let show_input = params.bool("showInput", false)?;
    let after = headers
        .get(CONTINUATION_HEADER)
        .map(|token| decode_token(token.as_bytes()))
        .transpose()?
        .flatten();
    let filter = InstanceFilter {
        statuses: params.statuses("runtimeStatus")?,
        created_from: params.time("createdTimeFrom")?,
        created_to: params.time("createdTimeTo")?,
        id_prefix: params
            .string("instanceIdPrefix")
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
        name: params
            .string("name")
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
        digest: params
            .string("componentDigest")
            .filter(|d| !d.is_empty())
            .map(str::to_owned),
        limit: Some(top + 1),
        after,
        newest_first: params.bool("newestFirst", false)?,
    };
    let mut records = state.client.list(&filter).await?;
    let more = records.len() > top;
    records.truncate(top);
    let body: Vec<Value> = records
        .iter()
        .map(|r| Value::Object(payload::status(r, StatusOptions { show_input })))
        .collect();
    let mut response = Json(body).into_response();
    if let (true, Some(last)) = (more, records.last()) {
        let token = encode_token(last.created_at, &last.instance_id);
        if let Ok(value) = HeaderValue::from_str(&token) {
            response.headers_mut().insert(CONTINUATION_HEADER, value);
        }
    }
    Ok(response)
}

/// `GET /instances/{instanceId}/logs`: the lines the instance's code logged, oldest first.
pub async fn logs(
    State(state): State<ApiState>,
    Path(instance_id): Path<String>,
) -> Result<Response, ApiError> {
    let lines = state.client.logs(&instance_id).await?;
    let body: Vec<Value> = lines
        .iter()
        .map(|line| {
            json!({
                "timestamp": time::format(line.timestamp),
                "level": line.level,
                "message": line.message,
            })
        })
        .collect();
    Ok(Json(body).into_response())
}

/// `GET /instances/{instanceId}/children`: the instance's sub-orchestrations (direct
/// children), oldest first, as statuses.
pub async fn children(
    State(state): State<ApiState>,
    Path(instance_id): Path<String>,
) -> Result<Response, ApiError> {
    let children = state.client.children(&instance_id).await?;
    let body: Vec<Value> = children
        .iter()
        .map(|r| Value::Object(payload::status(r, StatusOptions { show_input: false })))
        .collect();
    Ok(Json(body).into_response())
}

/// `GET /instances/{instanceId}/turns`: the history as turns, each with the events fed to the
/// code and what it decided ([`crate::inspect::turns`]), for the dashboard's replay view.
pub async fn turns(
    State(state): State<ApiState>,
    Path(instance_id): Path<String>,
) -> Result<Response, ApiError> {
    let history = state.client.history(&instance_id).await?;
    let body: Vec<Value> = crate::inspect::turns::turns(&history)
        .iter()
        .map(|turn| {
            json!({
                "turn": turn.number,
                "timestamp": time::format(turn.at),
                "received": payload::history(&turn.received, true),
                "decided": payload::history(&turn.decided, true),
            })
        })
        .collect();
    Ok(Json(body).into_response())
}

pub async fn purge(
    State(state): State<ApiState>,
    Path(instance_id): Path<String>,
) -> Result<Response, ApiError> {
    state.client.purge(&instance_id).await?;
    Ok(Json(json!({ "instancesDeleted": 1 })).into_response())
}

pub async fn purge_matching(
    State(state): State<ApiState>,
    params: Params,
) -> Result<Response, ApiError> {
    let filter = InstanceFilter {
        statuses: params.statuses("runtimeStatus")?,
        created_from: params.time("createdTimeFrom")?,
        created_to: params.time("createdTimeTo")?,
        ..Default::default()
    };
    if filter.created_from.is_none() {
        // As in Durable Functions: a purge of everything must be asked for
        // explicitly (createdTimeFrom=1970-01-01).
        return Err(ApiError::BadRequest(
            "query parameter `createdTimeFrom` is required to purge many instances".into(),
        ));
    }
    let deleted = state.client.purge_matching(&filter).await?;
    Ok(Json(json!({ "instancesDeleted": deleted })).into_response())
}

/// `<created_at>.<instance id as hex>`: opaque to clients, header-safe.
fn encode_token(created_at: u64, instance_id: &str) -> String {
    format!("{created_at}.{}", hex(instance_id))
}

/// `None` for the empty token (and `null`, which some clients send back
/// verbatim to mean "from the start").
fn decode_token(token: &[u8]) -> Result<Option<ListCursor>, ApiError> {
    let invalid = || ApiError::BadRequest(format!("invalid {CONTINUATION_HEADER} header"));
    let token = std::str::from_utf8(token).map_err(|_| invalid())?.trim();
    if token.is_empty() || token == "null" {
        return Ok(None);
    }
    let (created_at, id_hex) = token.split_once('.').ok_or_else(invalid)?;
    let created_at = created_at.parse().map_err(|_| invalid())?;
    let instance_id = unhex(id_hex).ok_or_else(invalid)?;
    Ok(Some(ListCursor {
        created_at,
        instance_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_tokens_round_trip_and_reject_garbage() {
        for id in ["a", "order-1", "ü/?&=x", ""] {
            let token = encode_token(42, id);
            let cursor = decode_token(token.as_bytes()).unwrap().unwrap();
            assert_eq!((cursor.created_at, cursor.instance_id.as_str()), (42, id));
        }
        assert!(decode_token(b"").unwrap().is_none());
        assert!(decode_token(b"null").unwrap().is_none());
        for bad in ["x", "1.abc", "a.00", "1.zz", "1.ff"] {
            assert!(decode_token(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
