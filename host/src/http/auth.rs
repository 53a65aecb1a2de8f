//! Optional API keys. With keys configured, a request must carry one in the
//! `code` query parameter, the `x-functions-key` header or an
//! `Authorization: Bearer` header, else it gets 401 and nothing else
//! happens. Keys are compared in constant time and never logged.

use super::{ApiError, ApiState};
use axum::extract::{Query, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The key a request authenticated with, for links back to the API.
#[derive(Clone)]
pub struct UsedKey(pub String);

impl std::fmt::Debug for UsedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UsedKey(..)")
    }
}

pub async fn require_key(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Response {
    let keys = &state.config.api_keys;
    if keys.is_empty() {
        return next.run(request).await;
    }
    let offered = offered_keys(&request);
    let Some(used) = offered.into_iter().find(|offered| {
        keys.iter()
            .any(|key| constant_time_eq(key.as_bytes(), offered.as_bytes()))
    }) else {
        return ApiError::Unauthorized.into_response();
    };
    request.extensions_mut().insert(UsedKey(used));
    next.run(request).await
}

fn offered_keys(request: &Request) -> Vec<String> {
    let mut offered = Vec::new();
    if let Ok(Query(pairs)) = Query::<Vec<(String, String)>>::try_from_uri(request.uri()) {
        offered.extend(
            pairs
                .into_iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("code"))
                .map(|(_, v)| v),
        );
    }
    let headers = request.headers();
    offered.extend(
        headers
            .get_all("x-functions-key")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned),
    );
    offered.extend(
        headers
            .get_all(AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| token.trim().to_owned())
            }),
    );
    offered
}

/// Equal-length inputs are compared without an early exit, so timing does
/// not reveal how much of a key matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
