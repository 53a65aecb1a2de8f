//! The HTTP management API against a real server on a random port, with a
//! real HTTP client, over a real host running the guest components: every
//! route and status code, the check-status links followed as given, paging,
//! auth and limits, and `durable serve --http-addr`.

use crate::process::Durable;
use crate::support::*;
use durable_host::http::{self, ApiConfig, ApiState, CONTINUATION_HEADER};
use durable_host::types::RuntimeStatus;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// A test host with the API served on 127.0.0.1:0.
struct Api {
    t: TestHost,
    base: String,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Api {
    async fn start(guests: &[&str], config: ApiConfig) -> Api {
        let mut t = TestHost::new();
        t.deploy(guests).await;
        t.run();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state =
            ApiState::new(t.client().clone(), config).with_deployer(Arc::new(t.host.clone()));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(http::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Api {
            t,
            base: format!("http://{addr}{}", http::BASE_PATH),
            http: reqwest::Client::new(),
            stop: Some(stop),
            server: Some(server),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, method: reqwest::Method, url: &str, body: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .request(method, url)
            .body(body.to_owned())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {text}"))
        };
        (status, value)
    }

    async fn post(&self, url: &str, body: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, url, body).await
    }

    async fn get(&self, url: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, url, "").await
    }

    async fn delete(&self, url: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::DELETE, url, "").await
    }

    /// Every page of a list route, following the continuation token until there is none.
    async fn pages(&self, path: &str) -> Vec<Vec<Value>> {
        let mut pages = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut request = self.http.get(self.url(path));
            if let Some(token) = &token {
                request = request.header(CONTINUATION_HEADER, token);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            token = response
                .headers()
                .get(CONTINUATION_HEADER)
                .map(|v| v.to_str().unwrap().to_owned());
            pages.push(response.json().await.unwrap());
            if token.is_none() {
                return pages;
            }
        }
    }

    /// Polls the status URL (bounded) until the runtime status is `status`.
    async fn wait_status(&self, url: &str, status: RuntimeStatus) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (_, body) = self.get(url).await;
            if body["runtimeStatus"] == status.as_str() {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{url} never became {status}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
        self.t.stop().await;
    }
}

/// Fills Durable Functions' `{eventName}` / `{text}` placeholders.
fn fill(url: &Value, placeholder: &str, value: &str) -> String {
    url.as_str().unwrap().replace(placeholder, value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_is_managed_through_its_check_status_links() {
    let api = Api::start(&["human-interaction", "probe"], ApiConfig::default()).await;

    // Start: 202, the payload, Location and Retry-After.
    let response = api
        .http
        .post(api.url("/orchestrators/approval_workflow/appr-1"))
        .body(r#"{"timeout_secs": 3600}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let headers = response.headers().clone();
    let links: Value = response.json().await.unwrap();
    let instance = api.url("/instances/appr-1");
    assert_eq!(
        links,
        json!({
            "id": "appr-1",
            "statusQueryGetUri": instance,
            "sendEventPostUri": format!("{instance}/raiseEvent/{{eventName}}"),
            "terminatePostUri": format!("{instance}/terminate?reason={{text}}"),
            "purgeHistoryDeleteUri": instance,
            "restartPostUri": format!("{instance}/restart"),
            "suspendPostUri": format!("{instance}/suspend?reason={{text}}"),
            "resumePostUri": format!("{instance}/resume?reason={{text}}"),
            "rewindPostUri": format!("{instance}/rewind?reason={{text}}"),
        })
    );
    assert_eq!(headers["location"], instance.as_str());
    assert_eq!(headers["retry-after"], "10");
    let status_url = links["statusQueryGetUri"].as_str().unwrap();

    // The same id again while it runs: 409.
    let (code, body) = api
        .post(&api.url("/orchestrators/approval_workflow/appr-1"), "")
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
    assert!(body["message"].as_str().unwrap().contains("already exists"));

    // Status while running: 202 with Durable Functions' fields.
    api.t
        .history_until("appr-1", |h| has(h, "TimerCreated"))
        .await;
    let (code, body) = api.get(status_url).await;
    assert_eq!(code, StatusCode::ACCEPTED);
    assert_eq!(body["name"], "approval_workflow");
    assert_eq!(body["instanceId"], "appr-1");
    assert_eq!(body["runtimeStatus"], "Running");
    assert_eq!(body["input"], json!({"timeout_secs": 3600}));
    assert_eq!(body["output"], Value::Null);
    assert_eq!(body["createdTime"], "2026-01-01T00:00:00.000Z");
    assert!(body["lastUpdatedTime"].as_str().unwrap().ends_with('Z'));
    assert!(body.get("historyEvents").is_none());

    // Suspend and resume through the links.
    let (code, _) = api
        .post(&fill(&links["suspendPostUri"], "{text}", "maintenance"), "")
        .await;
    assert_eq!(code, StatusCode::ACCEPTED);
    let body = api.wait_status(status_url, RuntimeStatus::Suspended).await;
    assert_eq!(body["runtimeStatus"], "Suspended");
    assert_eq!(api.get(status_url).await.0, StatusCode::ACCEPTED);
    let resume = fill(&links["resumePostUri"], "{text}", "done");
    assert_eq!(api.post(&resume, "").await.0, StatusCode::ACCEPTED);
    api.wait_status(status_url, RuntimeStatus::Running).await;
    let (code, body) = api.post(&resume, "").await;
    assert_eq!(
        code,
        StatusCode::CONFLICT,
        "resume of a running instance: {body}"
    );

    // Raise the event; malformed event data is refused first.
    let send_event = fill(&links["sendEventPostUri"], "{eventName}", "Approval");
    let (code, body) = api.post(&send_event, "tru").await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("not valid JSON"));
    assert_eq!(api.post(&send_event, "true").await.0, StatusCode::ACCEPTED);
    let body = api.wait_status(status_url, RuntimeStatus::Completed).await;
    assert_eq!(body["output"], "approved");
    assert_eq!(api.get(status_url).await.0, StatusCode::OK);

    // History on request; results only with showHistoryOutput.
    let (_, body) = api.get(&format!("{status_url}?showHistory=true")).await;
    let events = body["historyEvents"].as_array().unwrap();
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["EventType"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"ExecutionStarted"), "{types:?}");
    assert_eq!(types.last(), Some(&"ExecutionCompleted"), "{types:?}");
    assert!(types.contains(&"ExecutionSuspended") && types.contains(&"ExecutionResumed"));
    let raised = events
        .iter()
        .find(|e| e["EventType"] == "EventRaised")
        .unwrap();
    assert_eq!(raised["Name"], "Approval");
    assert_eq!(raised["Input"], true);
    assert!(
        raised["Timestamp"]
            .as_str()
            .unwrap()
            .starts_with("2026-01-01T")
    );
    assert!(events.iter().all(|e| e.get("Result").is_none()));
    let (_, body) = api
        .get(&format!(
            "{status_url}?showHistory=true&showHistoryOutput=true"
        ))
        .await;
    let completed = body["historyEvents"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(completed["Result"], "approved");
    let (_, body) = api.get(&format!("{status_url}?showInput=false")).await;
    assert_eq!(body["input"], Value::Null);

    // A finished instance: 410 for the operations that need a running one.
    for url in [
        send_event.clone(),
        fill(&links["terminatePostUri"], "{text}", "late"),
        fill(&links["suspendPostUri"], "{text}", "late"),
        resume.clone(),
    ] {
        let (code, body) = api.post(&url, "").await;
        assert_eq!(code, StatusCode::GONE, "{url}: {body}");
    }
    // Rewind needs a failed instance: 412.
    let (code, _) = api
        .post(&fill(&links["rewindPostUri"], "{text}", "again"), "")
        .await;
    assert_eq!(code, StatusCode::PRECONDITION_FAILED);

    // Restart under a new id (the default) and in place.
    let (code, fresh) = api
        .post(links["restartPostUri"].as_str().unwrap(), "")
        .await;
    assert_eq!(code, StatusCode::ACCEPTED);
    let fresh_id = fresh["id"].as_str().unwrap();
    assert_ne!(fresh_id, "appr-1");
    let (_, body) = api.get(fresh["statusQueryGetUri"].as_str().unwrap()).await;
    assert_eq!(body["input"], json!({"timeout_secs": 3600}));
    let restart_in_place = format!(
        "{}?restartWithNewInstanceId=false",
        links["restartPostUri"].as_str().unwrap()
    );
    let (code, again) = api.post(&restart_in_place, "").await;
    assert_eq!(code, StatusCode::ACCEPTED);
    assert_eq!(again["id"], "appr-1");
    let (code, _) = api.post(&restart_in_place, "").await;
    assert_eq!(
        code,
        StatusCode::CONFLICT,
        "restart in place of a running instance"
    );

    // Purge: 409 while running; terminate; then purge; then 404.
    let purge = links["purgeHistoryDeleteUri"].as_str().unwrap();
    assert_eq!(api.delete(purge).await.0, StatusCode::CONFLICT);
    let terminate = fill(&links["terminatePostUri"], "{text}", "no longer needed");
    assert_eq!(api.post(&terminate, "").await.0, StatusCode::ACCEPTED);
    let body = api.wait_status(status_url, RuntimeStatus::Terminated).await;
    assert_eq!(body["output"], "no longer needed");
    let (code, body) = api.delete(purge).await;
    assert_eq!(
        (code, body),
        (StatusCode::OK, json!({"instancesDeleted": 1}))
    );
    assert_eq!(api.get(status_url).await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.delete(purge).await.0, StatusCode::NOT_FOUND);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_waits_with_timeout_and_failures_are_reported() {
    let api = Api::start(&["probe"], ApiConfig::default()).await;

    // With `timeout` the answer is the output when done in time.
    let (code, body) = api
        .post(
            &api.url("/orchestrators/echo?timeout=30&pollingInterval=1"),
            r#"{"a": [1, 2]}"#,
        )
        .await;
    assert_eq!((code, body), (StatusCode::OK, json!({"a": [1, 2]})));
    // ...else the check-status 202.
    let (code, body) = api
        .post(
            &api.url("/orchestrators/clock_random_uuid/waiter?timeout=0"),
            "",
        )
        .await;
    assert_eq!(code, StatusCode::ACCEPTED);
    assert_eq!(body["id"], "waiter");
    let body = api
        .wait_status(&api.url("/instances/waiter"), RuntimeStatus::Running)
        .await;
    // It publishes a custom status before waiting.
    let waiter = api.url("/instances/waiter");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut custom = body["customStatus"].clone();
    while custom.is_null() {
        assert!(tokio::time::Instant::now() < deadline, "no custom status");
        tokio::time::sleep(Duration::from_millis(10)).await;
        custom = api.get(&waiter).await.1["customStatus"].clone();
    }
    assert!(custom.is_object(), "{custom}");

    // Unknown orchestrators and malformed input: 400 with clear messages.
    let (code, body) = api.post(&api.url("/orchestrators/nope"), "").await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("unknown orchestrator `nope`") && message.contains("echo"),
        "{message}"
    );
    let (code, body) = api.post(&api.url("/orchestrators/echo"), "{\"a\":").await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("not valid JSON"));

    // A failed instance: 200 with its failure, or 500 when asked.
    let (code, body) = api
        .post(
            &api.url("/orchestrators/call_failing/failing?timeout=30"),
            "",
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["runtimeStatus"], "Failed");
    let failing = api.url("/instances/failing");
    let (code, body) = api.get(&failing).await;
    assert_eq!(code, StatusCode::OK);
    assert!(body["output"].is_string(), "{body}");
    assert!(body["failureDetails"]["type"].is_string(), "{body}");
    let (code, _) = api
        .get(&format!(
            "{failing}?returnInternalServerErrorOnFailure=true"
        ))
        .await;
    assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
    // Rewind of a failed instance: 202 (it runs the failed activity again).
    let (code, _) = api
        .post(&format!("{failing}/rewind?reason=retry"), "")
        .await;
    assert_eq!(code, StatusCode::ACCEPTED);
    let history = api
        .t
        .history_until("failing", |h| {
            count(h, "TaskFailed") >= 1 && has(h, "ExecutionCompleted")
        })
        .await;
    assert!(has(&history, "TaskScheduled"));

    // Terminate a running instance, through the RPC base as well.
    let rpc = waiter.replace(http::BASE_PATH, http::RPC_BASE_PATH);
    let (code, _) = api.post(&format!("{rpc}/terminate?reason=stop"), "").await;
    assert_eq!(code, StatusCode::ACCEPTED);
    let body = api.wait_status(&rpc, RuntimeStatus::Terminated).await;
    assert_eq!(body["output"], "stop");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_through_every_instance_exactly_once() {
    let api = Api::start(&["probe"], ApiConfig::default()).await;
    let mut expected = BTreeSet::new();
    for i in 0..23 {
        if i == 10 {
            api.t.clock.advance(Duration::from_secs(3600));
        }
        let id = format!("p-{i:02}");
        let (code, _) = api
            .post(
                &api.url(&format!("/orchestrators/echo/{id}")),
                &i.to_string(),
            )
            .await;
        assert_eq!(code, StatusCode::ACCEPTED);
        expected.insert(id);
    }
    api.post(&api.url("/orchestrators/echo/other"), "").await;
    for id in expected.iter().chain([&"other".to_owned()]) {
        api.t.finish(id).await;
    }

    // Pages of 5 following the continuation token.
    let pages = api.pages("/instances?instanceIdPrefix=p-&top=5").await;
    let mut seen = Vec::new();
    for page in &pages {
        assert!(page.len() <= 5);
        assert!(
            page.iter().all(|s| s["input"].is_null()),
            "showInput defaults to false"
        );
        seen.extend(
            page.iter()
                .map(|s| s["instanceId"].as_str().unwrap().to_owned()),
        );
    }
    let pages = pages.len();
    assert_eq!(pages, 5);
    assert_eq!(seen.len(), expected.len(), "no duplicates: {seen:?}");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), expected);

    // Filters.
    let ids = |body: Value| -> Vec<String> {
        body.as_array()
            .unwrap()
            .iter()
            .map(|s| s["instanceId"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, body) = api
        .get(&api.url(
            "/instances?instanceIdPrefix=p-&createdTimeTo=2026-01-01T00:00:00Z&showInput=true",
        ))
        .await;
    assert_eq!(body.as_array().unwrap().len(), 10);
    assert_eq!(body[3]["input"], 3);
    let (_, body) = api
        .get(&api.url("/instances?createdTimeFrom=2026-01-01T00:30:00Z&top=100"))
        .await;
    assert_eq!(ids(body).len(), 14, "13 p- and other");
    let (_, body) = api
        .get(&api.url("/instances?runtimeStatus=Running,Failed"))
        .await;
    assert!(ids(body).is_empty());
    let (_, body) = api
        .get(&api.url("/instances?runtimeStatus=completed"))
        .await;
    assert_eq!(ids(body).len(), 24);
    let (code, _) = api
        .send(reqwest::Method::GET, &api.url("/instances"), "")
        .await;
    assert_eq!(code, StatusCode::OK);
    let response = api
        .http
        .get(api.url("/instances"))
        .header(CONTINUATION_HEADER, "garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Purge by filter.
    let (code, body) = api
        .delete(&api.url("/instances?createdTimeFrom=2026-01-01T00:30:00Z&runtimeStatus=Completed"))
        .await;
    assert_eq!(
        (code, body),
        (StatusCode::OK, json!({"instancesDeleted": 14}))
    );
    let (_, body) = api.get(&api.url("/instances")).await;
    assert_eq!(ids(body).len(), 10);
    let (code, body) = api
        .delete(&api.url("/instances?createdTimeFrom=2030-01-01"))
        .await;
    assert_eq!(
        (code, body),
        (StatusCode::OK, json!({"instancesDeleted": 0}))
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_and_body_limits_over_a_real_socket() {
    let config = ApiConfig {
        api_keys: vec!["s3cret".into()],
        body_limit: 1024,
        ..ApiConfig::default()
    };
    let api = Api::start(&["probe"], config).await;
    let start = api.url("/orchestrators/echo/keyed");
    let (code, body) = api.post(&start, "1").await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "Unauthorized");
    assert_eq!(
        api.post(&format!("{start}?code=wrong"), "1").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        api.t.client().status("keyed").await.is_err(),
        "nothing happened"
    );

    let response = api
        .http
        .post(&start)
        .header("x-functions-key", "s3cret")
        .body("1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let links: Value = response.json().await.unwrap();
    // Links carry the key, so they work when followed.
    let status_url = links["statusQueryGetUri"].as_str().unwrap();
    assert!(status_url.ends_with("?code=s3cret"), "{status_url}");
    api.wait_status(status_url, RuntimeStatus::Completed).await;
    let response = api
        .http
        .get(api.url("/instances/keyed"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Oversized: 413; malformed: 400; both with a readable message.
    // Over the limit but small enough to be written whole before the server
    // answers 413 and closes (a larger body races that close).
    let big = format!("\"{}\"", "x".repeat(4 * 1024));
    let (code, body) = api
        .post(&api.url("/orchestrators/echo?code=s3cret"), &big)
        .await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        body["message"].as_str().unwrap().contains("1024 bytes"),
        "{body}"
    );
    let (code, _) = api
        .post(&api.url("/orchestrators/echo?code=s3cret"), "[1,")
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let (code, _) = api
        .post(
            &api.url("/orchestrators/echo?code=s3cret"),
            &"x".repeat(1000),
        )
        .await;
    assert_eq!(
        code,
        StatusCode::BAD_REQUEST,
        "under the limit but not JSON"
    );
    api.stop().await;
}

#[test]
fn durable_serve_serves_the_api_on_http_addr() {
    let durable = Durable::new();
    let port = crate::process::free_port();
    let addr = format!("127.0.0.1:{port}");
    let component = guest("probe");
    let mut serve = durable.serve(
        "serve.log",
        [
            "--http-addr",
            addr.as_str(),
            "--api-key",
            "k-123",
            "--component",
            component.to_str().unwrap(),
        ],
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let base = format!("http://{addr}{}", http::BASE_PATH);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let output = loop {
            let attempt = http
                .post(format!("{base}/orchestrators/echo?timeout=30"))
                .header("x-functions-key", "k-123")
                .body(r#"{"via":"serve"}"#)
                .send()
                .await;
            match attempt {
                Ok(response) if response.status() == StatusCode::OK => {
                    break response.json::<Value>().await.unwrap();
                }
                Ok(response) => panic!(
                    "unexpected {}: {:?}",
                    response.status(),
                    response.text().await
                ),
                Err(_) => {
                    serve.assert_running();
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "{}",
                        serve.log_text()
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        assert_eq!(output, json!({"via": "serve"}));
        let unauthorized = http.get(format!("{base}/instances")).send().await.unwrap();
        assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    });
    let log = serve.log_text();
    assert!(!log.contains("k-123"), "keys are never logged:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entities_are_signalled_read_and_listed_over_http() {
    let api = Api::start(&["counter"], ApiConfig::default()).await;
    for (key, amount) in [("a", "2"), ("a", "3"), ("b", "7"), ("c", "1")] {
        let (status, _) = api
            .post(&api.url(&format!("/entities/counter/{key}?op=add")), amount)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    // Signals run asynchronously, and different entities in no set order: poll (bounded)
    // until all three exist.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, state) = api.get(&api.url("/entities/counter/a")).await;
        let (_, b) = api.get(&api.url("/entities/counter/b")).await;
        let (_, c) = api.get(&api.url("/entities/counter/c")).await;
        if status == StatusCode::OK && state == json!(5) && b == json!(7) && c == json!(1) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status} {state}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, _) = api.get(&api.url("/entities/counter/nobody")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Every entity of every name, with what waits for it and who holds it.
    let every: Vec<Value> = api
        .pages("/entities?top=2")
        .await
        .into_iter()
        .flatten()
        .collect();
    let keys: Vec<_> = every.iter().map(|e| e["entityId"]["key"].clone()).collect();
    assert_eq!(keys, [json!("a"), json!("b"), json!("c")]);
    assert!(
        every
            .iter()
            .all(|e| e["pendingOperations"] == 0 && e["lockedBy"].is_null()),
        "{every:?}"
    );

    // Paging with top=2 returns every entity exactly once.
    let seen: Vec<_> = api
        .pages("/entities/counter?top=2&fetchState=true")
        .await
        .iter()
        .flatten()
        .map(|e| (e["entityId"]["key"].clone(), e["state"].clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (json!("a"), json!(5)),
            (json!("b"), json!(7)),
            (json!("c"), json!(1))
        ]
    );

    let (status, body) = api.post(&api.url("/entities/counter/a"), "1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("`op`"), "{body}");
    let (status, _) = api
        .post(&api.url("/entities/counter/a?op=add"), "{bad")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = api
        .post(&api.url("/entities/no_such_entity/a?op=add"), "1")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    api.stop().await;
}

/// The JSON shapes clients depend on, as snapshots: a change shows as a
/// diff in review. (Port-dependent URLs and generated ids are redacted.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_shapes_match_their_snapshots() {
    let api = Api::start(&["probe"], ApiConfig::default()).await;
    let (code, links) = api
        .post(&api.url("/orchestrators/echo/shape-1"), r#"{"a": [1, 2]}"#)
        .await;
    assert_eq!(code, StatusCode::ACCEPTED);
    let status_url = links["statusQueryGetUri"].as_str().unwrap().to_owned();
    api.wait_status(&status_url, RuntimeStatus::Completed).await;
    let (_, status) = api
        .get(&format!(
            "{status_url}?showHistory=true&showHistoryOutput=true"
        ))
        .await;
    let (_, list) = api.get(&api.url("/instances?showInput=true")).await;
    let (_, turns) = api.get(&format!("{status_url}/turns")).await;
    let (logs_status, logs) = api.get(&format!("{status_url}/logs")).await;
    assert_eq!((logs_status, logs), (StatusCode::OK, json!([])));
    let (_, not_found) = api.get(&api.url("/instances/missing")).await;
    let (_, bad_json) = api.post(&api.url("/orchestrators/echo"), "{oops").await;
    // The server's address changes every run.
    let links: Value =
        serde_json::from_str(&links.to_string().replace(&api.base, "[base]")).unwrap();
    insta::assert_json_snapshot!("check_status_payload", links);
    insta::assert_json_snapshot!("instance_status_with_history", status, {
        ".historyEvents[].ExecutionId" => "[execution-id]",
        ".lastUpdatedTime" => "[time]",
        ".componentDigest" => "[digest]",
    });
    insta::assert_json_snapshot!("instance_list", list, {
        "[].lastUpdatedTime" => "[time]",
        "[].componentDigest" => "[digest]",
    });
    insta::assert_json_snapshot!("instance_turns", turns, {
        "[].received[].ExecutionId" => "[execution-id]",
    });
    insta::assert_json_snapshot!("error_not_found", not_found);
    insta::assert_json_snapshot!("error_bad_json", bad_json);
    api.stop().await;
}

/// The Durable Functions SDK clients send a value on the RPC routes (`/durabletask`) as a JSON
/// string holding its JSON text (azure-functions-durable posts `json.dumps(value)` as JSON).
/// There such a body is the value it holds; on the webhook routes a JSON string is a string.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serialized_bodies_are_the_value_they_hold_on_the_rpc_routes_only() {
    let api = Api::start(&["probe"], ApiConfig::default()).await;
    let rpc = api.base.replace(http::BASE_PATH, http::RPC_BASE_PATH);
    let webhook = api.base.clone();
    let serialized = |value: Value| Value::String(value.to_string()).to_string();
    let object = json!({"timeout_secs": 3600});

    // Start: the input.
    let cases = [
        (&rpc, serialized(object.clone()), object.clone()),
        (
            &webhook,
            serialized(object.clone()),
            json!(object.to_string()),
        ),
        (&rpc, serialized(json!("hello")), json!("hello")),
        // A string that is not JSON text, and plain JSON, mean what they say on both.
        (&rpc, r#""hello""#.to_owned(), json!("hello")),
        (&rpc, object.to_string(), object.clone()),
        (&webhook, object.to_string(), object.clone()),
    ];
    for (i, (base, body, expected)) in cases.iter().enumerate() {
        let id = format!("echo-{i}");
        let (code, answer) = api
            .post(&format!("{base}/orchestrators/echo/{id}"), body)
            .await;
        assert_eq!(code, StatusCode::ACCEPTED, "{body}: {answer}");
        let url = api.url(&format!("/instances/{id}"));
        let status = api.wait_status(&url, RuntimeStatus::Completed).await;
        assert_eq!(&status["output"], expected, "{base} {body}");
    }

    // Raise event: the event data.
    let approval = json!({"approved": true});
    for (base, id, expected) in [
        (&rpc, "wait-rpc", approval.clone()),
        (&webhook, "wait-webhook", json!(approval.to_string())),
    ] {
        let start = format!("{webhook}/orchestrators/wait_with_timeout/{id}");
        assert_eq!(api.post(&start, "3600").await.0, StatusCode::ACCEPTED);
        let raise = format!("{base}/instances/{id}/raiseEvent/x");
        let (code, _) = api.post(&raise, &serialized(approval.clone())).await;
        assert_eq!(code, StatusCode::ACCEPTED);
        let url = api.url(&format!("/instances/{id}"));
        let status = api.wait_status(&url, RuntimeStatus::Completed).await;
        assert_eq!(status["output"], json!({ "event": expected }), "{base}");
    }

    // Signal entity: the operation input (`hoard` appends that many `x`s; a string fails).
    let signal = format!("{rpc}/entities/hoard/k?op=append");
    assert_eq!(
        api.post(&signal, &serialized(json!(3))).await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(api.post(&signal, "2").await.0, StatusCode::ACCEPTED);
    api.t
        .entity_until("hoard", "k", |r| r.state.as_deref() == Some(r#""xxxxx""#))
        .await;
    api.stop().await;
}

/// `POST /deployments`: refused without API keys; with them, a component larger than the API's
/// body limit is taken, checked against the stored histories first when asked, and refused
/// with `requireCompatible` when some instance does not replay it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_are_deployed_over_http_with_keys_and_checked_first() {
    let post = |api: &Api, query: &str, bytes: Vec<u8>| {
        let url = api.url(&format!("/deployments?{query}"));
        let request = api.http.post(url).body(bytes).send();
        async move {
            let response = request.await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let hello = std::fs::read(guest("hello-sequence")).unwrap();
    let changed = std::fs::read(guest("probe")).unwrap();

    let open = Api::start(&["hello-sequence"], ApiConfig::default()).await;
    let (status, body) = post(&open, "", changed.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["message"].as_str().unwrap().contains("needs API keys"));

    let config = ApiConfig {
        api_keys: vec!["k-9".into()],
        body_limit: 64 << 10,
        ..ApiConfig::default()
    };
    assert!(
        hello.len() > config.body_limit,
        "the test needs a component over the limit"
    );
    let api = Api::start(&["hello-sequence"], config).await;
    let id = api.t.start("hello_sequence", "null").await;
    assert_eq!(api.t.finish(&id).await.status, RuntimeStatus::Completed);

    // Refused before the body is read: a small one, so the client is not still sending when
    // the server answers and closes.
    let (status, body) = post(&api, "verify=true", b"\0asm".to_vec()).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "keys still guard the route: {body}"
    );
    let (status, body) = post(
        &api,
        "code=k-9&verify=true&requireCompatible=true&since=0",
        changed.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let incompatible = &body["verification"]["incompatible"];
    assert_eq!(incompatible[0]["instanceId"], id.as_str());
    assert_eq!(
        incompatible[0]["failure"]["message"],
        "step 0: code scheduled activity `say_goodbye`, history has activity `say_hello`"
    );
    let deployed = |api: &Api| {
        let request = api.http.get(api.url("/deployments?code=k-9")).send();
        async move { request.await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(
        deployed(&api).await.as_array().unwrap().len(),
        1,
        "nothing changed"
    );

    let (status, body) = post(&api, "code=k-9&verify=true&since=0", changed.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["verification"]["replayed"], 1);
    let digest = body["deployment"]["digest"].as_str().unwrap().to_owned();
    assert_eq!(digest, durable_host::wasm::digest_of(&changed));
    assert_eq!(
        deployed(&api).await[0]["digest"],
        digest.as_str(),
        "the newest"
    );
    // Used at once: a new instance runs the changed code.
    let id = api.t.start("hello_sequence", "null").await;
    let done = api.t.finish(&id).await;
    assert_eq!(
        done.output
            .as_deref()
            .map(|o| o.starts_with(r#"["Goodbye"#)),
        Some(true)
    );

    let (status, body) = post(&api, "code=k-9", b"not a component".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Retired, the changed code takes no new instances: hello_sequence starts on the first
    // again; once nothing needs it, gc deletes it. Both need the keys.
    let send = |api: &Api, path: &str| {
        let request = api.http.post(api.url(path)).send();
        async move {
            let response = request.await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = send(&open, "/deployments/sha256/retire").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = send(&api, "/deployments/sha256:0000/retire?code=k-9").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let short = &digest[..20];
    let (status, body) = send(&api, &format!("/deployments/{short}/retire?code=k-9")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["digest"], digest.as_str());
    assert_eq!(body["pinnedInstances"], 0);
    let orphaned = body["noLongerOffered"].as_array().unwrap();
    assert!(orphaned.contains(&"slow_chain".into()), "{body}");
    assert!(!orphaned.contains(&"hello_sequence".into()), "{body}");
    let id = api.t.start("hello_sequence", "null").await;
    let done = api.t.finish(&id).await;
    assert!(done.output.unwrap().starts_with(r#"["Hello"#));
    let (status, body) = send(&api, "/deployments/gc?code=k-9&grace=0&dryRun=true").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["deleted"], serde_json::json!([digest]));
    let (_, body) = send(&api, "/deployments/gc?code=k-9&grace=0").await;
    assert_eq!(
        body,
        serde_json::json!({"deleted": [digest], "kept": 0, "dryRun": false})
    );
    assert_eq!(deployed(&api).await.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_and_the_instances_of_a_deployment_are_listed() {
    let api = Api::start(&["sub-orchestration"], ApiConfig::default()).await;
    let order = r#"{"items": [{"sku": "a", "quantity": 1}, {"sku": "b", "quantity": 2}]}"#;
    let (code, links) = api
        .post(&api.url("/orchestrators/process_order/order-1"), order)
        .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{links}");
    let status_url = links["statusQueryGetUri"].as_str().unwrap().to_owned();
    let status = api.wait_status(&status_url, RuntimeStatus::Completed).await;

    let (code, children) = api.get(&format!("{status_url}/children")).await;
    assert_eq!(code, StatusCode::OK);
    let children = children.as_array().unwrap();
    let ids: Vec<_> = children.iter().map(|c| c["instanceId"].clone()).collect();
    assert_eq!(ids, [json!("order-1:0"), json!("order-1:1")]);
    for child in children {
        assert_eq!(child["name"], "ship_item");
        assert_eq!(child["parentInstanceId"], "order-1");
        assert_eq!(child["runtimeStatus"], "Completed");
    }
    let (code, none) = api.get(&api.url("/instances/order-1:0/children")).await;
    assert_eq!((code, none), (StatusCode::OK, json!([])));
    let (code, _) = api.get(&api.url("/instances/nobody/children")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // The instances running on one deployment.
    let digest = status["componentDigest"].as_str().unwrap();
    let (_, on_it) = api
        .get(&api.url(&format!("/instances?componentDigest={digest}")))
        .await;
    assert_eq!(on_it.as_array().unwrap().len(), 3, "{on_it}");
    let (_, elsewhere) = api
        .get(&api.url("/instances?componentDigest=sha256:none"))
        .await;
    assert_eq!(elsewhere, json!([]));
    api.stop().await;
}
