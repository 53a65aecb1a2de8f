//! Activities reaching the world through `wasi:http` (a Rust activity using `wstd`) against a
//! local server: allowed and refused hosts, a response over the cap, a server slower than the
//! code's timeout, and an orchestrator that tries, refused by its sandbox.

use crate::support::*;
use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use durable_host::outbound::MAX_RESPONSE_BODY;
use durable_host::types::RuntimeStatus;
use serde_json::json;
use std::time::Duration;

/// `/hello` answers with the `host` the request named; `/big` sends a body one byte over the
/// cap, `/big-chunked` one a chunk over it without saying so up front; `/slow` answers after
/// 30 s.
async fn server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route(
            "/hello",
            get(|headers: HeaderMap| async move {
                let host = headers["host"].to_str().unwrap().to_owned();
                format!("hello from {host}")
            }),
        )
        .route("/big", get(|| async { vec![b'x'; MAX_RESPONSE_BODY + 1] }))
        // The same without a length: chunks of 1 MiB, one more than the cap holds.
        .route(
            "/big-chunked",
            get(|| async {
                let chunks = (0..=MAX_RESPONSE_BODY >> 20)
                    .map(|_| Ok::<_, std::convert::Infallible>(vec![b'x'; 1 << 20]));
                axum::body::Body::from_stream(futures_util::stream::iter(chunks))
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "too late"
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    origin
}

/// A host running the Rust outbound guest, or the JavaScript conformance guest (whose
/// `fetch_via_activity` uses `fetch`).
async fn host_allowing(hosts: &[&str], lang: Lang) -> TestHost {
    let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
    let mut t = TestHost::with_config(|c| c.capabilities.http_hosts = hosts);
    let component = match lang {
        Lang::Rust => guest("outbound"),
        _ => lang.conformance_guest(),
    };
    t.deploy_component(&read(&component)).await;
    t.run();
    t
}

per_language!(an_activity_reaches_an_allowed_host_through_wasi_http: rust, js);

async fn an_activity_reaches_an_allowed_host_through_wasi_http(lang: Lang) {
    let origin = server().await;
    let mut t = host_allowing(&["127.0.0.1"], lang).await;
    let id = t
        .start(
            "fetch_via_activity",
            json!(format!("{origin}/hello")).to_string(),
        )
        .await;
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    let authority = origin.trim_start_matches("http://");
    assert_eq!(
        output(&record),
        json!({"status": 200, "body": format!("hello from {authority}")})
    );
    t.stop().await;
}

per_language!(a_host_not_allowed_is_refused_with_the_setting_that_allows_it: rust, js);

async fn a_host_not_allowed_is_refused_with_the_setting_that_allows_it(lang: Lang) {
    let origin = server().await;
    // Another port of the same host is not the same grant.
    let mut t = host_allowing(&["127.0.0.1:1"], lang).await;
    let id = t
        .start(
            "fetch_via_activity",
            json!(format!("{origin}/hello")).to_string(),
        )
        .await;
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Failed, "{record:#?}");
    let failure = record.failure.expect("a failure");
    // wstd shows the host's reason; JavaScript's `fetch` rejects with a TypeError of its own.
    if lang == Lang::Rust {
        assert_eq!(failure.error_type, "HttpError");
        assert!(
            failure
                .message
                .contains("outbound HTTP to `127.0.0.1` is not allowed")
                && failure.message.contains("--allow-http 127.0.0.1"),
            "{}",
            failure.message
        );
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_over_the_cap_and_a_slow_server_fail_the_read() {
    let origin = server().await;
    let mut t = host_allowing(&["*"], Lang::Rust).await;
    let big = t
        .start(
            "fetch_via_activity",
            json!(format!("{origin}/big")).to_string(),
        )
        .await;
    let slow = t
        .start(
            "fetch_via_activity",
            json!({"url": format!("{origin}/slow"), "timeout_ms": 200}).to_string(),
        )
        .await;
    let chunked = t
        .start(
            "fetch_via_activity",
            json!(format!("{origin}/big-chunked")).to_string(),
        )
        .await;
    let record = t.finish(&big).await;
    let failure = record.failure.expect("a failure");
    assert!(
        failure.message.contains("HttpResponseBodySize"),
        "refused, not cut: {}",
        failure.message
    );
    // Refused as it grows past the cap: the client sees a failed read, not a shorter body.
    let record = t.finish(&chunked).await;
    assert_eq!(record.status, RuntimeStatus::Failed, "{:?}", record.output);
    let failure = record.failure.expect("a failure");
    assert!(failure.message.contains("reading"), "{}", failure.message);
    let record = t.finish(&slow).await;
    let failure = record.failure.expect("a failure");
    assert!(
        failure.message.contains("ConnectionReadTimeout"),
        "{}",
        failure.message
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orchestrator_cannot_use_wasi_http() {
    let origin = server().await;
    let mut t = host_allowing(&["*"], Lang::Rust).await;
    let id = t
        .start(
            "fetch_in_orchestrator",
            json!(format!("{origin}/hello")).to_string(),
        )
        .await;
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Failed, "{record:#?}");
    let failure = record.failure.expect("a failure");
    assert!(
        failure.message.contains("`wasi:http/types")
            && failure
                .message
                .contains("which the sandbox does not provide"),
        "{}",
        failure.message
    );
    t.stop().await;
}
