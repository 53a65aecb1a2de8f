//! Router tests in process (`tower::ServiceExt::oneshot`, no socket): the
//! route table against the OpenAPI document, errors, auth and limits. The
//! end-to-end tests (tests/e2e/http.rs) run real guests behind a real server.

use super::*;
use crate::clock::ManualClock;
use crate::store::{SqliteStore, StoreError};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use serde_json::Value;
use std::collections::BTreeSet;
use tower::ServiceExt;

fn state(config: ApiConfig) -> ApiState {
    let store = Arc::new(SqliteStore::open_in_memory().expect("in-memory SQLite"));
    let client = Client::new(store, Arc::new(ManualClock::new(1_767_225_600_000)));
    ApiState::new(client, config)
}

async fn send(app: &Router, method: &str, uri: &str, body: &str) -> Response {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "example.test:7071")
        .body(Body::from(body.to_owned()))
        .unwrap();
    app.clone().oneshot(request).await.unwrap()
}

async fn json(response: Response) -> Value {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes));
    })
}

#[test]
fn the_openapi_document_lists_exactly_the_served_routes() {
    let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let served: BTreeSet<_> = routes()
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_owned()))
        .collect();
    assert_eq!(served, documented);
    // Path parameters are documented.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for operation in item.as_object().unwrap().values() {
            for name in path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            {
                let documented = operation["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == name && p["in"] == "path");
                assert!(documented, "{path}: parameter {name}");
            }
        }
    }
}

#[tokio::test]
async fn the_openapi_document_is_served_under_both_bases() {
    let app = router(state(ApiConfig::default()));
    for base in [BASE_PATH, RPC_BASE_PATH] {
        let response = send(&app, "GET", &format!("{base}/openapi.json"), "").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(json(response).await["openapi"], "3.0.3");
    }
}

#[tokio::test]
async fn unknown_instances_are_404_with_a_json_error() {
    let app = router(state(ApiConfig::default()));
    for (method, path) in [
        ("GET", "/instances/nope"),
        ("DELETE", "/instances/nope"),
        ("POST", "/instances/nope/raiseEvent/go"),
        ("POST", "/instances/nope/terminate"),
        ("POST", "/instances/nope/suspend"),
        ("POST", "/instances/nope/resume"),
        ("POST", "/instances/nope/rewind"),
        ("POST", "/instances/nope/restart"),
        ("GET", "/instances/nope/logs"),
        ("GET", "/instances/nope/turns"),
        ("GET", "/instances/nope/children"),
    ] {
        for base in [BASE_PATH, RPC_BASE_PATH] {
            let response = send(&app, method, &format!("{base}{path}"), "").await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
            let body = json(response).await;
            assert_eq!(body["error"], "NotFound");
            assert!(body["message"].as_str().unwrap().contains("nope"), "{body}");
            // The ASP.NET error shape the Durable Functions SDK clients read.
            assert_eq!(body["ExceptionMessage"], body["message"]);
            assert_eq!(body["Message"], body["message"]);
        }
    }
}

#[tokio::test]
async fn bad_requests_are_400_with_a_clear_message() {
    let app = router(state(ApiConfig::default()));
    let cases = [
        (
            "POST",
            "/orchestrators/missing",
            "",
            "unknown orchestrator `missing`",
        ),
        (
            "POST",
            "/orchestrators/missing",
            "{not json",
            "not valid JSON",
        ),
        (
            "POST",
            "/orchestrators/missing?timeout=soon",
            "",
            "`timeout`",
        ),
        (
            "GET",
            "/instances?runtimeStatus=Running,Sleeping",
            "",
            "Sleeping",
        ),
        (
            "GET",
            "/instances?createdTimeFrom=yesterday",
            "",
            "ISO 8601",
        ),
        ("GET", "/instances/x?showHistory=maybe", "", "true or false"),
        (
            "GET",
            "/instances?newestFirst=sometimes",
            "",
            "true or false",
        ),
        (
            "DELETE",
            "/instances?runtimeStatus=Completed",
            "",
            "createdTimeFrom",
        ),
    ];
    for (method, path, body, expected) in cases {
        let response = send(&app, method, &format!("{BASE_PATH}{path}"), body).await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{method} {path}"
        );
        let body = json(response).await;
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(expected), "{path}: {message}");
    }
    // A continuation token that is not one this API gave.
    for path in ["/entities", "/entities/counter", "/instances"] {
        let request = Request::get(format!("{BASE_PATH}{path}"))
            .header(CONTINUATION_HEADER, "not.a-token")
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let body = json(response).await;
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(CONTINUATION_HEADER), "{path}: {message}");
    }
}

#[tokio::test]
async fn an_empty_list_is_an_empty_array_without_a_token() {
    let app = router(state(ApiConfig::default()));
    let response = send(&app, "GET", &format!("{BASE_PATH}/instances"), "").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get(CONTINUATION_HEADER).is_none());
    assert_eq!(json(response).await, serde_json::json!([]));
}

/// The SDK clients list and purge at `{rpcBaseUrl}instances/?...`, with a trailing slash.
#[tokio::test]
async fn a_trailing_slash_reaches_the_same_route() {
    let app = router(state(ApiConfig::default()));
    for base in [BASE_PATH, RPC_BASE_PATH] {
        let list = format!("{base}/instances/?runtimeStatus=Running");
        let response = send(&app, "GET", &list, "").await;
        assert_eq!(response.status(), StatusCode::OK, "{list}");
        assert_eq!(json(response).await, serde_json::json!([]));
        let purge = format!("{base}/instances/?createdTimeFrom=1970-01-01T00:00:00.000000Z");
        let response = send(&app, "DELETE", &purge, "").await;
        assert_eq!(response.status(), StatusCode::OK, "{purge}");
        assert_eq!(
            json(response).await,
            serde_json::json!({"instancesDeleted": 0})
        );
        let status = format!("{base}/instances/nope/");
        let response = send(&app, "GET", &status, "").await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{status}");
        assert_eq!(json(response).await["error"], "NotFound");
    }
}

#[tokio::test]
async fn with_api_keys_only_requests_carrying_one_pass() {
    let app = router(state(ApiConfig {
        api_keys: vec!["k1".into(), "secret-2".into()],
        ..ApiConfig::default()
    }));
    let status_of = |request: Request<Body>| {
        let app = app.clone();
        async move { app.oneshot(request).await.unwrap().status() }
    };
    let uri = format!("{BASE_PATH}/instances/nope");
    let get = |uri: &str| Request::get(uri.to_owned()).header("host", "h");
    for request in [
        get(&uri).body(Body::empty()).unwrap(),
        get(&format!("{uri}?code=wrong"))
            .body(Body::empty())
            .unwrap(),
        get(&uri)
            .header("x-functions-key", "k2")
            .body(Body::empty())
            .unwrap(),
        get(&uri)
            .header("authorization", "Bearer k")
            .body(Body::empty())
            .unwrap(),
        get(&uri)
            .header("authorization", "Basic k1")
            .body(Body::empty())
            .unwrap(),
        get(&format!("{RPC_BASE_PATH}/openapi.json"))
            .body(Body::empty())
            .unwrap(),
    ] {
        assert_eq!(status_of(request).await, StatusCode::UNAUTHORIZED);
    }
    for request in [
        get(&format!("{uri}?code=k1")).body(Body::empty()).unwrap(),
        get(&format!("{uri}?showInput=true&CODE=secret-2"))
            .body(Body::empty())
            .unwrap(),
        get(&uri)
            .header("x-functions-key", "k1")
            .body(Body::empty())
            .unwrap(),
        get(&uri)
            .header("authorization", "Bearer secret-2")
            .body(Body::empty())
            .unwrap(),
        get(&uri)
            .header("authorization", "bearer k1")
            .body(Body::empty())
            .unwrap(),
    ] {
        assert_eq!(status_of(request).await, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let app = router(state(ApiConfig {
        body_limit: 64,
        ..ApiConfig::default()
    }));
    let big = format!("\"{}\"", "x".repeat(100));
    for path in ["/orchestrators/any", "/instances/x/raiseEvent/go"] {
        let response = send(&app, "POST", &format!("{BASE_PATH}{path}"), &big).await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        let body = json(response).await;
        assert_eq!(body["error"], "PayloadTooLarge");
        assert!(body["message"].as_str().unwrap().contains("64 bytes"));
    }
}

#[tokio::test]
async fn internal_errors_do_not_leak_their_text() {
    let error = ApiError::from(StoreError::Backend(
        "disk I/O error at /var/secret.db".into(),
    ));
    let response = error.into_response();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = json(response).await;
    let message = body["message"].as_str().unwrap();
    assert!(
        !message.contains("secret") && !message.contains("disk"),
        "{message}"
    );
    assert!(message.contains("request id"), "{message}");
}

/// `GET /deployments`: newest first, the names each is the newest offer of, and the unfinished
/// instances pinned to each.
#[tokio::test]
async fn deployments_say_what_each_offers_and_how_many_instances_it_runs() {
    use crate::store::{Catalogue, NewInstance};
    let state = state(ApiConfig::default());
    let store = state.client.store().clone();
    let offers = |orchestrators: &[&str], activities: &[&str]| Catalogue {
        orchestrators: orchestrators.iter().map(|s| s.to_string()).collect(),
        activities: activities.iter().map(|s| s.to_string()).collect(),
        entities: Vec::new(),
    };
    let v1 = offers(&["order"], &["charge", "ship"]);
    let v2 = offers(&["order"], &["charge"]);
    store
        .put_component("sha256:v1", b"v1", &v1, 1, crate::store::Labels::default())
        .await
        .unwrap();
    for id in ["a", "b"] {
        let instance = NewInstance {
            instance_id: id.into(),
            name: "order".into(),
            execution_id: format!("{id}-1"),
            digest: "sha256:v1".into(),
            input: "null".into(),
            parent: None,
            created_at: 2,
            version: None,
            trace: None,
        };
        store.create_instance(instance).await.unwrap();
    }
    store
        .put_component("sha256:v2", b"v2", &v2, 3, crate::store::Labels::default())
        .await
        .unwrap();
    let app = router(state);
    let response = send(&app, "GET", &format!("{BASE_PATH}/deployments"), "").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        json(response).await,
        serde_json::json!([
            {
                "digest": "sha256:v2", "deployedAt": 3, "state": "current",
                "offers": {"orchestrators": ["order"], "activities": ["charge"], "entities": []},
                "newestFor": ["order", "charge"], "pinnedInstances": 0
            },
            {
                "digest": "sha256:v1", "deployedAt": 1, "state": "current",
                "offers": {"orchestrators": ["order"], "activities": ["charge", "ship"], "entities": []},
                "newestFor": ["ship"], "pinnedInstances": 2
            }
        ])
    );
}

#[tokio::test]
async fn the_dashboard_is_served_to_anyone_and_its_data_needs_a_key() {
    let app = router(state(ApiConfig {
        api_keys: vec!["k1".into()],
        ..ApiConfig::default()
    }));
    for (uri, content_type) in [
        ("/", "text/html"),
        ("/dashboard/app.js", "text/javascript"),
        ("/dashboard/app.css", "text/css"),
    ] {
        let response = send(&app, "GET", uri, "").await;
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        let headers = response.headers();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type),
            "{uri}"
        );
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("default-src 'self'"), "{uri}: {policy}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
    let page = send(&app, "GET", "/", "").await;
    let page = axum::body::to_bytes(page.into_body(), usize::MAX)
        .await
        .unwrap();
    let page = String::from_utf8_lossy(&page);
    assert!(
        page.contains("/dashboard/app.js"),
        "the page loads its script"
    );
    for missing in [
        "/dashboard/index.html",
        "/dashboard/secret.txt",
        "/dashboard/..%2Fmod.rs",
    ] {
        let response = send(&app, "GET", missing, "").await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{missing}");
    }
    let metrics = send(&app, "GET", "/metrics", "").await;
    assert_eq!(metrics.status(), StatusCode::UNAUTHORIZED);
    let request = Request::get("/metrics")
        .header("x-functions-key", "k1")
        .body(Body::empty())
        .unwrap();
    let metrics = app.clone().oneshot(request).await.unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    let text = axum::body::to_bytes(metrics.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.contains(r#"durable_instances{status="Running"} 0"#),
        "{text}"
    );
}
