//! Outbound HTTP from activities: the orchestrator `check_sites` fans out one `check_site`
//! activity per URL and returns what each answered. The activity makes its request itself with
//! a `wasi:http` client ([`wstd`]), so the operator decides where it may go:
//!
//! ```sh
//! durable serve --component target/wasm32-wasip2/release/check_sites.wasm \
//!     --allow-http example.com --allow-http '*.example.org'
//! ```
//!
//! A URL the operator did not allow, a timeout or a refused connection is reported for that
//! site (`error`) rather than failing the whole check.

use durable_sdk::{Failure, OrchestrationContext, Task, task_all};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;
use wstd::http::{Body, Client, Request};

/// What one site answered.
#[derive(Debug, Serialize)]
struct SiteReport {
    url: String,
    /// The HTTP status, when the site answered.
    status: Option<u16>,
    /// The body's size in bytes, when the site answered.
    bytes: Option<usize>,
    /// Why there is no answer.
    error: Option<String>,
}

#[durable_sdk::orchestrator]
async fn check_sites(ctx: OrchestrationContext, urls: Vec<String>) -> Result<Vec<Value>, Failure> {
    let checks: Vec<Task<Value>> = urls
        .iter()
        .map(|url| ctx.call_activity("check_site", url))
        .collect();
    task_all(checks).await
}

/// GETs `url` (5 s for the first byte) and reports its status and size, or why it failed.
#[durable_sdk::activity]
fn check_site(url: String) -> Result<SiteReport, Failure> {
    let answer = wstd::runtime::block_on(async {
        let request = Request::get(&url).body(Body::empty())?;
        let mut client = Client::new();
        client.set_first_byte_timeout(Duration::from_secs(5));
        let mut response = client.send(request).await?;
        let bytes = response.body_mut().contents().await?.len();
        Ok::<_, Box<dyn std::error::Error>>((response.status().as_u16(), bytes))
    });
    Ok(match answer {
        Ok((status, bytes)) => SiteReport {
            url,
            status: Some(status),
            bytes: Some(bytes),
            error: None,
        },
        Err(e) => SiteReport {
            url,
            status: None,
            bytes: None,
            error: Some(e.to_string()),
        },
    })
}

durable_sdk::component! {
    orchestrators: [check_sites],
    activities: [check_site],
    entities: [],
}
