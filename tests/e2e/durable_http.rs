//! `call_http` through the real host against a real local HTTP server: the
//! 202 + Location polling pattern on durable timers (Rust and Python SDKs),
//! and the allow-list.

use crate::support::*;
use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use durable_host::types::RuntimeStatus;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A job API: POST /jobs answers 202 with a Location; the location answers
/// 202 once more, then 200 with the result.
async fn job_server() -> (String, Arc<AtomicU32>, Arc<AtomicU32>) {
    let posts = Arc::new(AtomicU32::new(0));
    let polls = Arc::new(AtomicU32::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let location = format!("{base}/jobs/7");
    let (p, q) = (posts.clone(), polls.clone());
    let app = Router::new()
        .route(
            "/jobs",
            post(move |body: String| {
                let p = p.clone();
                let location = location.clone();
                async move {
                    assert_eq!(body, r#"{"job":1}"#);
                    p.fetch_add(1, Ordering::SeqCst);
                    let mut headers = HeaderMap::new();
                    headers.insert(header::LOCATION, location.parse().unwrap());
                    headers.insert(header::RETRY_AFTER, "10".parse().unwrap());
                    (StatusCode::ACCEPTED, headers, "")
                }
            }),
        )
        .route(
            "/jobs/7",
            get(move || {
                let q = q.clone();
                async move {
                    if q.fetch_add(1, Ordering::SeqCst) == 0 {
                        let mut headers = HeaderMap::new();
                        headers.insert(header::LOCATION, "/jobs/7".parse().unwrap());
                        headers.insert(header::RETRY_AFTER, "10".parse().unwrap());
                        (StatusCode::ACCEPTED, headers, "working")
                    } else {
                        (StatusCode::OK, HeaderMap::new(), "finished")
                    }
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, posts, polls)
}

per_language!(call_http_polls_an_accepted_job_on_durable_timers: rust, python, js);

/// Runs `fetch` of the probe guest, or of the Python or JavaScript conformance guest.
async fn call_http_polls_an_accepted_job_on_durable_timers(lang: Lang) {
    let component = match lang {
        Lang::Rust => guest("probe"),
        _ => lang.conformance_guest(),
    };
    let (base, posts, polls) = job_server().await;
    let mut t = TestHost::with_config(|c| c.capabilities.http_hosts = vec!["127.0.0.1".into()]);
    t.deploy_component(&read(&component)).await;
    t.run();
    let uri = json!(format!("{base}/jobs")).to_string();
    let id = t.start("fetch", uri).await;
    // Two 202 answers, each followed by a 10 s durable timer.
    for fired in 1..=2 {
        t.history_until(&id, |h| count(h, "TimerCreated") == fired)
            .await;
        t.clock.advance(Duration::from_secs(10));
    }
    let record = t.finish(&id).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    assert_eq!(
        output(&record),
        json!({"status": 200, "content": "finished"})
    );
    assert_eq!(posts.load(Ordering::SeqCst), 1, "the POST is made once");
    assert_eq!(polls.load(Ordering::SeqCst), 2);
    let history = t.client().history(&id).await.unwrap();
    assert_eq!(
        count(&history, "TaskScheduled"),
        3,
        "each request is a step"
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_http_to_a_host_not_allowed_fails_without_a_request() {
    let (base, posts, _) = job_server().await;
    let mut t = TestHost::running(&["probe"]).await;
    let uri = json!(format!("{base}/jobs")).to_string();
    let id = t.start("fetch", uri).await;
    let record = t.finish(&id).await;
    let failure = record.failure.expect("failure");
    assert_eq!(failure.error_type, "HttpNotAllowed");
    assert!(
        failure.message.contains("--allow-http 127.0.0.1"),
        "{}",
        failure.message
    );
    assert_eq!(posts.load(Ordering::SeqCst), 0);
    t.stop().await;
}
