//! `GET /metrics`: the host's metrics in the Prometheus text format ([`crate::metrics`]),
//! behind the same API keys as the API. The database gauges are read at each scrape.

use super::{ApiError, ApiState};
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

/// The Prometheus text exposition format.
const CONTENT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn metrics(State(state): State<ApiState>) -> Result<Response, ApiError> {
    // Installed first (when `durable serve` has not), so the gauges set below are kept.
    let exporter = crate::metrics::exporter();
    let now = state.client.clock().now();
    let backlog = state.client.store().backlog(now).await?;
    crate::metrics::record_backlog(&backlog, now);
    let text = exporter.render();
    Ok(([(CONTENT_TYPE, CONTENT)], text).into_response())
}
