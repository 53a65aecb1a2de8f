//! Per-app grants: a deployment's app (`durable deploy --app`) decides what its activities may
//! reach (hosts over `wasi:http`, sockets, config values) and where its orchestrators'
//! `call_http` may go; an app the operator named nothing for gets what every app gets. In
//! process, and through the real binary with a grants file.

use crate::process::Durable;
use crate::support::*;
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use durable_host::grants::{ActivityCapabilities, ActivityConfig};
use durable_host::store::{InstanceRecord, Labels};
use durable_host::types::{Failure, RuntimeStatus};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// `GET /hello` answers `hello`; `POST /key` answers 200 when `x-api-key` is `k-checker`,
/// else 403. Its origin.
async fn http_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route(
            "/key",
            post(|headers: HeaderMap| async move {
                match headers.get("x-api-key").map(|k| k.as_bytes()) {
                    Some(b"k-checker") => StatusCode::OK,
                    _ => StatusCode::FORBIDDEN,
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    origin
}

/// A TCP server that reads until the peer stops writing and answers `pong`. Its address.
async fn pong_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut asked = Vec::new();
                let _ = socket.read_to_end(&mut asked).await;
                let _ = socket.write_all(b"pong").await;
            });
        }
    });
    addr
}

async fn run(t: &TestHost, orchestrator: &str, input: serde_json::Value) -> InstanceRecord {
    let id = t.start(orchestrator, input.to_string()).await;
    t.finish(&id).await
}

#[track_caller]
fn failure_of(record: InstanceRecord) -> Failure {
    assert_eq!(record.status, RuntimeStatus::Failed, "{record:#?}");
    record.failure.expect("a failure")
}

#[track_caller]
fn completed(record: &InstanceRecord) -> serde_json::Value {
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    output(record)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_follow_the_app_a_deployment_belongs_to() {
    let origin = http_server().await;
    let (pong, elsewhere) = (pong_server().await, pong_server().await);
    let http_host = origin.trim_start_matches("http://").to_owned();
    let pong_host = pong.clone();
    let mut t = TestHost::with_config(|c| {
        let checker = ActivityCapabilities {
            http_hosts: vec![http_host, pong_host],
            network: true,
            config: ActivityConfig::new([("api_key".into(), "k-checker".into())]),
            ..Default::default()
        };
        c.app_grants.insert("checker".into(), checker);
    });
    let component = guest_bytes("outbound");
    let as_app = |app| Labels {
        app: Some(app),
        ..Labels::default()
    };
    t.host
        .deploy_labelled(&component, as_app("checker"))
        .await
        .unwrap();
    t.run();

    // The app `checker`: its hosts over wasi:http, sockets and call_http; its secret.
    let hello = format!("{origin}/hello");
    let fetched = run(&t, "fetch_via_activity", json!(hello)).await;
    assert_eq!(completed(&fetched), json!({"status": 200, "body": "hello"}));
    let connected = run(&t, "connect_via_activity", json!(pong)).await;
    assert_eq!(completed(&connected), json!("pong"));
    let refused = failure_of(run(&t, "connect_via_activity", json!(elsewhere)).await);
    assert_eq!(refused.error_type, "ConnectError", "{refused:?}");
    assert!(refused.message.contains(&elsewhere), "{}", refused.message);
    let called = run(&t, "call_http_get", json!(hello)).await;
    assert_eq!(completed(&called), json!(200));
    let keyed = run(
        &t,
        "call_with_key_via_activity",
        json!(format!("{origin}/key")),
    )
    .await;
    assert_eq!(completed(&keyed), json!(200));

    // The same component moved to the app `other`, which the operator named nothing for.
    t.host
        .deploy_labelled(&component, as_app("other"))
        .await
        .unwrap();
    let fetch = failure_of(run(&t, "fetch_via_activity", json!(hello)).await);
    assert!(
        fetch
            .message
            .contains("outbound HTTP to `127.0.0.1` is not allowed for app `other`")
            && fetch
                .message
                .contains("under `[apps.other]` in the grants file"),
        "{}",
        fetch.message
    );
    let connect = failure_of(run(&t, "connect_via_activity", json!(pong)).await);
    assert_eq!(connect.error_type, "ConnectError", "{connect:?}");
    let call = failure_of(run(&t, "call_http_get", json!(hello)).await);
    assert_eq!(call.error_type, "HttpNotAllowed", "{call:?}");
    assert!(call.message.contains("for app `other`"), "{}", call.message);
    let key = failure_of(
        run(
            &t,
            "call_with_key_via_activity",
            json!(format!("{origin}/key")),
        )
        .await,
    );
    assert_eq!(key.error_type, "Misconfigured", "{key:?}");

    // Redeploying without an app keeps the one it has; a malformed name is refused.
    let record = t.host.deploy(&component).await.unwrap();
    assert_eq!(record.app.as_deref(), Some("other"));
    let deployments = t.client().deployments().await.unwrap();
    assert_eq!(deployments[0].app.as_deref(), Some("other"));
    let bad = t.host.deploy_labelled(&component, as_app("no/such")).await;
    assert!(
        bad.unwrap_err().to_string().contains("is not an app name"),
        "a malformed app name is refused"
    );
    t.stop().await;
}

/// One HTTP/1.1 server on a thread that answers every request with `hello`. Its port.
fn hello_server() -> u16 {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut head = [0u8; 4096];
            let _ = stream.read(&mut head);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
            );
        }
    });
    port
}

#[test]
fn a_grants_file_gives_one_app_what_it_does_not_give_another() {
    let durable = Durable::new();
    let port = hello_server();
    let grants = durable.path("grants.toml");
    std::fs::write(
        &grants,
        format!("[apps.checker]\nallow_http = [\"127.0.0.1:{port}\"]\n"),
    )
    .unwrap();
    let component = guest("outbound");
    let url = json!(format!("http://127.0.0.1:{port}/")).to_string();
    let run_as = |app: &str, grants: &std::path::Path| {
        durable.run([
            "run",
            "--component",
            component.to_str().unwrap(),
            "--app",
            app,
            "--grants",
            grants.to_str().unwrap(),
            "--orchestrator",
            "fetch_via_activity",
            "--input",
            &url,
        ])
    };
    let reached = run_as("checker", &grants);
    assert!(reached.ok().contains("\"body\": \"hello\""), "{reached:#?}");
    let listed = durable.run(["deployments"]);
    assert!(listed.ok().contains("  app: checker\n"), "{listed:#?}");

    let refused = run_as("other", &grants);
    assert!(
        refused
            .err()
            .contains("is not allowed for app `other`; the operator can allow it with"),
        "{refused:#?}"
    );

    // What is wrong with a grants file, or with grants, stops the host before it starts.
    let bad = durable.path("bad.toml");
    std::fs::write(&bad, "[apps.checker]\nallow_htp = [\"x\"]\n").unwrap();
    let out = run_as("checker", &bad);
    let err = out.err();
    assert!(
        err.contains("bad.toml") && err.contains("unknown field `allow_htp`"),
        "{out:#?}"
    );
    let out = durable.run([
        "run",
        "--component",
        component.to_str().unwrap(),
        "--allow-network",
    ]);
    assert!(
        out.err()
            .contains("network access is granted but no host is allowed"),
        "{out:#?}"
    );

    // `serve --component APP=PATH` deploys as the app; `deploy --url --app` through the HTTP
    // API too, and a malformed name is refused there with the rule, deploying nothing.
    let other = guest("hello-sequence");
    let (mut serve, origin) = durable.serve_listening(
        "serve.log",
        [
            "--grants".into(),
            grants.into_os_string(),
            "--component".into(),
            format!("greeter={}", other.display()).into(),
            "--api-key".into(),
            "k".into(),
        ],
    );
    let listed = durable.run(["deployments"]);
    assert!(listed.ok().contains("  app: greeter\n"), "{listed:#?}");
    let remote = |app: &str| {
        let component = component.to_str().unwrap();
        let args = [
            "--url",
            &origin,
            "--key",
            "k",
            "deploy",
            "--component",
            component,
            "--app",
            app,
        ];
        durable.run(args)
    };
    let refused = remote("no/such");
    let err = refused.err();
    assert!(
        err.contains("`no/such` is not an app name") && err.contains("HTTP 400"),
        "{refused:#?}"
    );
    let listed = durable.run(["deployments"]);
    assert!(
        listed.ok().contains("  app: other\n") && !listed.ok().contains("no/such"),
        "the component keeps the app of its last deployment: {listed:#?}"
    );
    remote("checker").ok();
    let listed = durable.run(["--url", &origin, "--key", "k", "deployments"]);
    assert!(listed.ok().contains("  app: checker\n"), "{listed:#?}");
    serve.stop();
}
