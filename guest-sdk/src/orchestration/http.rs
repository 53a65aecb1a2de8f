//! Durable HTTP: `call_http`, Durable Functions' built-in HTTP activity.
//!
//! Each request is one run of the host's built-in activity
//! [`HTTP_ACTIVITY`], so it is checkpointed like any activity. When the
//! answer is `202 Accepted` with a `Location` header (the asynchronous
//! operation pattern), the orchestration waits on a durable timer for the
//! `Retry-After` interval and polls the location with a `GET`, until the
//! answer is something else: polling survives restarts because every poll
//! and every wait is in the history.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::context::OrchestrationContext;
use super::task::Task;
use crate::failure::Failure;

/// The name of the host's built-in activity that performs one HTTP request.
pub const HTTP_ACTIVITY: &str = "durable:http";

/// Wait between polls when a 202 answer has no usable `Retry-After`.
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(30);

/// An HTTP request made durably by [`OrchestrationContext::call_http`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The absolute `http` or `https` URL to request.
    pub uri: String,
    /// Request headers, by name.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Follow `202 Accepted` + `Location` by polling (default true).
    #[serde(default = "yes")]
    pub asynchronous_pattern_enabled: bool,
}

fn yes() -> bool {
    true
}

impl HttpRequest {
    /// A request with this method and URL, no headers and no body, that polls `202`
    /// answers.
    pub fn new(method: impl Into<String>, uri: impl Into<String>) -> Self {
        HttpRequest {
            method: method.into(),
            uri: uri.into(),
            headers: BTreeMap::new(),
            content: None,
            asynchronous_pattern_enabled: true,
        }
    }

    /// A `GET` request for `uri`.
    pub fn get(uri: impl Into<String>) -> Self {
        HttpRequest::new("GET", uri)
    }

    /// A `POST` request to `uri` with `content` as its body.
    pub fn post(uri: impl Into<String>, content: impl Into<String>) -> Self {
        HttpRequest {
            content: Some(content.into()),
            ..HttpRequest::new("POST", uri)
        }
    }

    /// Adds a header, replacing an earlier one with the same name.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Return a `202` answer as it is instead of polling its `Location`.
    pub fn without_polling(mut self) -> Self {
        self.asynchronous_pattern_enabled = false;
        self
    }
}

/// The answer to a durable HTTP request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpResponse {
    /// The HTTP status code, e.g. 200.
    pub status_code: u16,
    /// Header names are lower-case.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body, as text.
    #[serde(default)]
    pub content: String,
}

impl HttpResponse {
    /// The value of the header `name` (any case), if the response has it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Where a `202 Accepted` says to poll, and how long to wait first.
    fn poll_location(&self) -> Option<(String, Duration)> {
        if self.status_code != 202 {
            return None;
        }
        let location = self.header("location")?.to_owned();
        let wait = self
            .header("retry-after")
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map_or(DEFAULT_POLL_INTERVAL, Duration::from_secs);
        Some((location, wait))
    }
}

/// Resolves a `Location` against the URI it came from: absolute URLs as
/// they are, `/path` against the origin, anything else against the
/// directory of the URI.
fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_owned();
    }
    let origin_end = base
        .find("://")
        .and_then(|scheme| base[scheme + 3..].find('/').map(|i| scheme + 3 + i))
        .unwrap_or(base.len());
    if location.starts_with('/') {
        return format!("{}{location}", &base[..origin_end]);
    }
    let path = base[origin_end..].split(['?', '#']).next().unwrap_or("");
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "/",
    };
    format!("{}{dir}{location}", &base[..origin_end])
}

impl OrchestrationContext {
    /// Makes an HTTP request through the host (outbound hosts must be
    /// allowed in its configuration), following the `202 Accepted` +
    /// `Location` polling pattern with durable timers unless disabled.
    /// Network errors and refused hosts are failures; any HTTP status is a
    /// response.
    pub fn call_http(&self, request: HttpRequest) -> Task<HttpResponse> {
        let ctx = self.clone();
        self.spawn(async move {
            let polling = request.asynchronous_pattern_enabled;
            let mut response: HttpResponse = ctx.call_activity(HTTP_ACTIVITY, &request).await?;
            while let Some((location, wait)) = polling.then(|| response.poll_location()).flatten() {
                ctx.create_timer_after(wait).await?;
                let mut poll = HttpRequest::get(resolve(&request.uri, &location));
                poll.headers = request.headers.clone();
                response = ctx.call_activity(HTTP_ACTIVITY, &poll).await?;
            }
            Ok::<_, Failure>(response)
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn locations_resolve_against_the_request_uri() {
        use super::resolve;
        assert_eq!(resolve("http://h:1/a/b", "https://x/y"), "https://x/y");
        assert_eq!(resolve("http://h:1/a/b?q=1", "/s/7"), "http://h:1/s/7");
        assert_eq!(resolve("http://h:1/a/b", "s/7"), "http://h:1/a/s/7");
        assert_eq!(resolve("http://h:1", "s"), "http://h:1/s");
    }
}
