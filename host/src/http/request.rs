//! What handlers read from a request besides the path: query parameters
//! (case-insensitive names, as Durable Functions' ASP.NET host treats them),
//! the base URL the check-status links are built on, and a JSON body (an
//! input, event data or operation input), which on the RPC routes may come
//! serialized the way the SDK clients send it.

use super::auth::UsedKey;
use super::{ApiError, ApiState};
use crate::types::{Json, RuntimeStatus, Timestamp};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Query};
use axum::http::StatusCode;
use axum::http::header::HOST;
use axum::http::request::Parts;
use serde::de::IgnoredAny;
use std::collections::HashMap;

/// Page size of the list routes when `top` is not given.
pub const DEFAULT_TOP: u64 = 100;
/// The largest page the list routes return.
pub const MAX_TOP: u64 = 1000;

/// Query parameters by lower-cased name; the last occurrence wins.
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map_err(|e| ApiError::BadRequest(format!("malformed query string: {e}")))?;
        Ok(Params(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        ))
    }
}

impl Params {
    pub fn string(&self, name: &str) -> Option<&str> {
        self.0.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.string(name) {
            None | Some("") => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(ApiError::BadRequest(format!(
                "query parameter `{name}` must be true or false, not `{v}`"
            ))),
        }
    }

    pub fn u64(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.string(name)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::BadRequest(format!(
                        "query parameter `{name}` must be a non-negative integer, not `{v}`"
                    ))
                })
            })
            .transpose()
    }

    pub fn time(&self, name: &str) -> Result<Option<Timestamp>, ApiError> {
        self.string(name)
            .filter(|v| !v.is_empty())
            .map(|v| {
                super::time::parse(v).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "query parameter `{name}` must be an ISO 8601 time such as \
                         2026-01-01T00:00:00Z, not `{v}`"
                    ))
                })
            })
            .transpose()
    }

    /// A comma-separated list of runtime statuses.
    /// The page size `top` asks for: [`DEFAULT_TOP`] when absent or 0, at most [`MAX_TOP`].
    pub fn top(&self) -> Result<usize, ApiError> {
        Ok(match self.u64("top")? {
            None | Some(0) => DEFAULT_TOP,
            Some(n) => n.min(MAX_TOP),
        } as usize)
    }

    pub fn statuses(&self, name: &str) -> Result<Vec<RuntimeStatus>, ApiError> {
        let Some(list) = self.string(name) else {
            return Ok(Vec::new());
        };
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                RuntimeStatus::parse(s).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "unknown runtimeStatus `{s}`; use one of {}",
                        RuntimeStatus::ALL.map(|s| s.as_str()).join(", ")
                    ))
                })
            })
            .collect()
    }
}

/// The absolute base URL of the API as the caller reached it, for links,
/// plus the API key the caller authenticated with (links carry it as
/// `code`, as Durable Functions' do, so they work when followed).
#[derive(Debug, Clone)]
pub struct LinkBase {
    /// `http://host:port/runtime/webhooks/durabletask`.
    pub base: String,
    pub code: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for LinkBase {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let host = parts
            .headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .filter(|h| !h.is_empty() && !h.contains(['/', '?', '#', '@', ' ']))
            .ok_or_else(|| ApiError::BadRequest("the request has no valid Host header".into()))?;
        let scheme = match parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|h| h.to_str().ok())
        {
            Some("https") => "https",
            _ => "http",
        };
        Ok(LinkBase {
            base: format!("{scheme}://{host}{}", super::BASE_PATH),
            code: parts.extensions.get::<UsedKey>().map(|k| k.0.clone()),
        })
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for an
/// instance id or event name in a URL path or query.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Which of the two bases a request came in under; the router puts it in the
/// request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiBase {
    /// [`super::BASE_PATH`]: the webhook URLs, where a body is plain JSON.
    Webhook,
    /// [`super::RPC_BASE_PATH`]: what the Durable Functions SDK clients call.
    Rpc,
}

/// The request body as JSON text: `null` when empty; 400 when not JSON, 413
/// when over the limit. On the RPC routes a JSON string holding JSON text is
/// that text ([`serialized_value`]).
pub fn json_body(
    state: &ApiState,
    base: ApiBase,
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
    serde_json::from_str::<IgnoredAny>(text)
        .map_err(|e| ApiError::BadRequest(format!("{what} is not valid JSON: {e}")))?;
    match base {
        ApiBase::Rpc => Ok(serialized_value(text).unwrap_or_else(|| text.to_owned())),
        ApiBase::Webhook => Ok(text.to_owned()),
    }
}

/// The SDK clients serialize a value and send the result as a JSON string
/// (azure-functions-durable posts `json.dumps(value)` as JSON: `{"a": 1}`
/// arrives as `"{\"a\": 1}"`); Durable Functions stores that string and the
/// Python worker parses it again before the orchestrator sees it. Here the
/// guests get JSON, so the host parses it: `Some(the JSON text)` when `json`
/// is a string holding JSON text, `None` for anything else (a string such as
/// `"hello"` stays a string).
pub fn serialized_value(json: &str) -> Option<String> {
    if !json.trim_start().starts_with('"') {
        return None;
    }
    let text: String = serde_json::from_str(json).ok()?;
    serde_json::from_str::<IgnoredAny>(&text).ok()?;
    Some(text)
}

/// Text as lowercase hex, for continuation tokens: free text made header-safe.
pub fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The text [`hex`] encoded; `None` for anything else.
pub fn unhex(hex: &str) -> Option<String> {
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::serialized_value;

    #[test]
    fn a_string_holding_json_text_is_that_json() {
        for (body, value) in [
            (r#""{\"timeout_secs\": 3600}""#, r#"{"timeout_secs": 3600}"#),
            (r#""[1, \"two\"]""#, r#"[1, "two"]"#),
            (r#""\"hello\"""#, r#""hello""#),
            (r#""true""#, "true"),
            (r#""42""#, "42"),
            (r#""null""#, "null"),
            (r#" "{}" "#, "{}"),
        ] {
            assert_eq!(serialized_value(body).as_deref(), Some(value), "{body}");
        }
    }

    #[test]
    fn other_json_is_left_as_it_is() {
        for body in [
            r#""hello""#,
            r#""""#,
            r#""  ""#,
            r#""{not json""#,
            r#"{"a": "{}"}"#,
            "42",
            "true",
            "null",
            r#"["\"x\""]"#,
        ] {
            assert_eq!(serialized_value(body), None, "{body}");
        }
    }
}
