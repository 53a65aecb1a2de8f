//! Property tests of the API against hostile input: every route, with random path segments,
//! query strings and bodies (bytes, near-JSON, huge strings), answers with a status a client
//! can act on (never a 5xx, never a panic), and the API keeps answering afterwards.

use super::*;
use crate::clock::ManualClock;
use crate::store::{Catalogue, SqliteStore, Store};
use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use tower::ServiceExt;

/// The orchestrator and entity the store offers, so starts and signals can succeed and later
/// requests meet real instances and entities.
const ORCHESTRATOR: &str = "orch";
const ENTITY: &str = "ent";

async fn api() -> Router {
    let store = Arc::new(SqliteStore::open_in_memory().expect("in-memory SQLite"));
    let catalogue = Catalogue {
        orchestrators: vec![ORCHESTRATOR.into()],
        activities: Vec::new(),
        entities: vec![ENTITY.into()],
    };
    store
        .put_component(
            "sha256:fuzz",
            b"not run",
            &catalogue,
            0,
            crate::store::Labels::default(),
        )
        .await
        .expect("storing a component");
    let client = Client::new(store, Arc::new(ManualClock::new(1_767_225_600_000)));
    let config = ApiConfig {
        body_limit: 64 << 10,
        ..ApiConfig::default()
    };
    router(ApiState::new(client, config))
}

/// A path segment: a known name or id, or anything at all (percent-encoded).
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(ORCHESTRATOR.to_owned()),
        Just(ENTITY.to_owned()),
        Just("i1".to_owned()),
        Just("%24op".to_owned()),
        any::<String>().prop_map(|s| utf8_percent_encode(&s)),
        proptest::collection::vec(any::<u8>(), 0..3000)
            .prop_map(|b| b.iter().map(|b| format!("%{b:02X}")).collect()),
    ]
}

fn utf8_percent_encode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// A query string over the parameters the routes read, with values of any shape.
fn query() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("timeout"),
        Just("pollInterval"),
        Just("showHistory"),
        Just("showHistoryOutput"),
        Just("showInput"),
        Just("runtimeStatus"),
        Just("createdTimeFrom"),
        Just("createdTimeTo"),
        Just("instanceIdPrefix"),
        Just("top"),
        Just("reason"),
        Just("op"),
        Just("restartWithNewInstanceId"),
        Just("code"),
        Just("x"),
    ];
    let value = prop_oneof![
        Just(String::new()),
        Just("true".to_owned()),
        Just("-1".to_owned()),
        Just("99999999999999999999".to_owned()),
        Just("2026-01-01T00:00:00Z".to_owned()),
        Just("Running,Completed".to_owned()),
        any::<String>().prop_map(|s| utf8_percent_encode(&s)),
    ];
    proptest::collection::vec((key, value), 0..4).prop_map(|pairs| {
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

/// A body: empty, JSON of any shape, JSON-like text cut anywhere, bytes, or huge.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let json = prop_oneof![
        Just("null".to_owned()),
        Just("{}".to_owned()),
        Just("\"{\\\"a\\\": 1}\"".to_owned()),
        Just("[1, 2, {\"x\": [true, null]}]".to_owned()),
        Just("1e999".to_owned()),
        Just("{\"a\":".to_owned()),
        any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
        any::<i64>().prop_map(|n| n.to_string()),
    ];
    prop_oneof![
        Just(Vec::new()),
        json.prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..512),
        (1usize..200_000).prop_map(|n| vec![b'['; n]),
        (1usize..100_000).prop_map(|n| format!("\"{}\"", "x".repeat(n)).into_bytes()),
    ]
}

/// A request to one of the served routes (its placeholders filled) or to a path near one.
fn request() -> impl Strategy<Value = (Method, String, Vec<u8>, bool)> {
    let routes: Vec<(Method, &'static str)> =
        routes().into_iter().map(|r| (r.method, r.path)).collect();
    let method = prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::DELETE),
        Just(Method::PUT),
    ];
    (
        proptest::sample::select(routes),
        method,
        any::<bool>(),
        proptest::collection::vec(segment(), 4),
        query(),
        body(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |((route_method, path), other, same, segments, query, body, rpc, json)| {
                let mut filled = String::new();
                let mut next = segments.into_iter();
                for part in path.split('/').filter(|p| !p.is_empty()) {
                    filled.push('/');
                    if part.starts_with('{') {
                        filled.push_str(&next.next().unwrap_or_default());
                    } else {
                        filled.push_str(part);
                    }
                }
                let base = if rpc { RPC_BASE_PATH } else { BASE_PATH };
                let method = if same { route_method } else { other };
                (method, format!("{base}{filled}?{query}"), body, json)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None, // a failure prints its minimal case; nothing is written
        ..ProptestConfig::default()
    })]

    /// Hostile requests get a 2xx, 3xx or 4xx; the API answers a plain status request after
    /// each, so nothing it did broke it.
    #[test]
    fn hostile_requests_get_a_client_status_and_the_api_keeps_serving(
        requests in proptest::collection::vec(request(), 1..8)
    ) {
        // Paused time: a request that waits for its instance (`timeout=`) returns at once.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let app = api().await;
            for (method, uri, body, json) in requests {
                let mut request = Request::builder()
                    .method(method.clone())
                    .uri(&uri)
                    .header("host", "example.test:7071");
                if json {
                    request = request.header("content-type", "application/json");
                }
                let Ok(request) = request.body(Body::from(body.clone())) else {
                    continue; // not a request a client could send (an invalid URI)
                };
                let response = app.clone().oneshot(request).await.unwrap();
                let status = response.status();
                prop_assert!(
                    !status.is_server_error(),
                    "{method} {uri} with {} bytes ({:?}...) answered {status}: {:?}",
                    body.len(),
                    String::from_utf8_lossy(&body[..body.len().min(80)]),
                    axum::body::to_bytes(response.into_body(), 1 << 20).await
                );
                let alive = Request::builder()
                    .uri(format!("{BASE_PATH}/instances"))
                    .header("host", "example.test:7071")
                    .body(Body::empty())
                    .unwrap();
                let status = app.clone().oneshot(alive).await.unwrap().status();
                prop_assert!(status.is_success(), "listing after {method} {uri}: {status}");
            }
            Ok(())
        })?;
    }
}
