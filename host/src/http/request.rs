//! What handlers read from a request besides the path: query parameters
//! (case-insensitive names, as Durable Functions' ASP.NET host treats them)
//! and the base URL the check-status links are built on.

use super::ApiError;
use super::auth::UsedKey;
use crate::types::{RuntimeStatus, Timestamp};
use axum::extract::{FromRequestParts, Query};
use axum::http::header::HOST;
use axum::http::request::Parts;
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
