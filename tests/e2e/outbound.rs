//! Activities reaching the world through `wasi:http` (a Rust activity using `wstd`, a
//! JavaScript one using `fetch`) against a local server: allowed and refused hosts, a response
//! over the cap, a server slower than the code's timeout, a secret from `wasi:config`, and
//! orchestrators that try, refused by their sandbox.

use crate::backend::{Backend, backend};
use crate::support::*;
use axum::Router;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use durable_host::grants::{ActivityCapabilities, ActivityConfig};
use durable_host::outbound::MAX_RESPONSE_BODY;
use durable_host::store::InstanceRecord;
use durable_host::types::Failure;
use durable_host::types::RuntimeStatus;
use serde_json::json;
use std::path::Path;
use std::sync::{Arc, Mutex};
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

/// A running host with `component` deployed, its activities granted what `grant` sets.
async fn host_with(component: &Path, grant: impl FnOnce(&mut ActivityCapabilities)) -> TestHost {
    let mut t = TestHost::with_config(|c| grant(&mut c.capabilities));
    t.deploy_component(&read(component)).await;
    t.run();
    t
}

/// A host running the Rust outbound guest, or the JavaScript conformance guest (whose
/// `fetch_via_activity` uses `fetch`), its activities allowed `hosts`.
async fn host_allowing(hosts: &[&str], lang: Lang) -> TestHost {
    let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
    let component = match lang {
        Lang::Rust => guest("outbound"),
        _ => lang.conformance_guest(),
    };
    host_with(&component, |c| c.http_hosts = hosts).await
}

/// Starts `orchestrator` with `input` and waits for it to end.
async fn run(t: &TestHost, orchestrator: &str, input: serde_json::Value) -> InstanceRecord {
    let id = t.start(orchestrator, input.to_string()).await;
    t.finish(&id).await
}

/// The failure `record` ended with; it must have failed.
fn failure_of(record: InstanceRecord) -> Failure {
    assert_eq!(record.status, RuntimeStatus::Failed, "{record:#?}");
    record.failure.expect("a failure")
}

per_language!(an_activity_reaches_an_allowed_host_through_wasi_http: rust, python, js);

async fn an_activity_reaches_an_allowed_host_through_wasi_http(lang: Lang) {
    let origin = server().await;
    let mut t = host_allowing(&["127.0.0.1"], lang).await;
    let record = run(&t, "fetch_via_activity", json!(format!("{origin}/hello"))).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    let authority = origin.trim_start_matches("http://");
    assert_eq!(
        output(&record),
        json!({"status": 200, "body": format!("hello from {authority}")})
    );
    t.stop().await;
}

per_language!(a_host_not_allowed_is_refused_with_the_setting_that_allows_it: rust, python, js);

async fn a_host_not_allowed_is_refused_with_the_setting_that_allows_it(lang: Lang) {
    let origin = server().await;
    // Another port of the same host is not the same grant.
    let mut t = host_allowing(&["127.0.0.1:1"], lang).await;
    let record = run(&t, "fetch_via_activity", json!(format!("{origin}/hello"))).await;
    let failure = failure_of(record);
    // wstd and `durable.http` show the host's reason; JavaScript's `fetch` rejects with a
    // TypeError of its own, which the host tells the reason.
    if lang != Lang::JavaScript {
        assert_eq!(failure.error_type, "HttpError");
    }
    let refusal = "outbound HTTP to `127.0.0.1` is not allowed; the operator can allow it \
                   with `--allow-http 127.0.0.1`";
    assert_eq!(
        failure.message.matches(refusal).count(),
        1,
        "{}",
        failure.message
    );
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
    let failure = failure_of(t.finish(&big).await);
    assert!(
        failure.message.contains("HttpResponseBodySize"),
        "refused, not cut: {}",
        failure.message
    );
    // Refused as it grows past the cap: the client sees a failed read, not a shorter body.
    let failure = failure_of(t.finish(&chunked).await);
    assert!(failure.message.contains("reading"), "{}", failure.message);
    let failure = failure_of(t.finish(&slow).await);
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
    let record = run(
        &t,
        "fetch_in_orchestrator",
        json!(format!("{origin}/hello")),
    )
    .await;
    refused_by_the_sandbox(record, "wasi:http/types");
    t.stop().await;
}

/// `record` failed: its orchestrator called `interface`, which its sandbox does not provide.
fn refused_by_the_sandbox(record: InstanceRecord, interface: &str) {
    let failure = failure_of(record);
    assert!(
        failure.message.contains(&format!("`{interface}"))
            && failure
                .message
                .contains("which the sandbox does not provide"),
        "{}",
        failure.message
    );
}

const SECRET: &str = "sk-live-4f9c2e7a1b";

/// An activity reads the operator's `api_key` through `wasi:config` and sends it; the key is
/// in no stored byte (history, results, logs: the whole SQLite file), and an orchestrator
/// cannot read it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_reaches_the_activity_and_no_stored_byte() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let keys = seen.clone();
    let app = Router::new().route(
        "/charge",
        post(move |headers: HeaderMap| {
            let keys = keys.clone();
            async move {
                let key = headers
                    .get("x-api-key")
                    .map(|v| v.to_str().unwrap().to_owned());
                keys.lock().unwrap().push(key);
                "charged"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut t = host_with(&guest("outbound"), |c| {
        c.http_hosts = vec!["127.0.0.1".into()];
        c.config = ActivityConfig::new([("api_key".into(), SECRET.into())]);
    })
    .await;
    let record = run(
        &t,
        "call_with_key_via_activity",
        json!(format!("{origin}/charge")),
    )
    .await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    assert_eq!(output(&record), json!(200));
    assert_eq!(*seen.lock().unwrap(), [Some(SECRET.to_owned())]);

    let refused = run(&t, "config_in_orchestrator", json!(null)).await;
    refused_by_the_sandbox(refused, "wasi:config/store");
    t.stop().await;

    if let Backend::Sqlite = backend() {
        let path = t.db_path().to_owned();
        let mut stored = std::fs::read(&path).unwrap();
        for suffix in ["-wal", "-shm"] {
            let mut side = path.clone().into_os_string();
            side.push(suffix);
            stored.extend(std::fs::read(side).unwrap_or_default());
        }
        assert!(
            !stored.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "the secret is in the database file"
        );
    }
}

/// A CA made for the test and an HTTPS server on `localhost` whose certificate it signed:
/// (the CA's PEM, the server's origin). The server answers every request with `hello over
/// TLS`.
async fn https_server() -> (Vec<u8>, String) {
    use openssl::asn1::Asn1Time;
    use openssl::bn::{BigNum, MsbOption};
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
    use openssl::x509::{X509, X509NameBuilder};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let key = || {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
    };
    let name = |cn: &str| {
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", cn).unwrap();
        name.build()
    };
    let certificate = |subject: &str, key: &PKey<_>, issuer: &str, signer: &PKey<_>, ca: bool| {
        let mut cert = X509::builder().unwrap();
        cert.set_version(2).unwrap();
        let mut serial = BigNum::new().unwrap();
        serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
        cert.set_serial_number(&serial.to_asn1_integer().unwrap())
            .unwrap();
        cert.set_subject_name(&name(subject)).unwrap();
        cert.set_issuer_name(&name(issuer)).unwrap();
        cert.set_pubkey(key).unwrap();
        cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        cert.set_not_after(&Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        if ca {
            let constraints = BasicConstraints::new().critical().ca().build().unwrap();
            cert.append_extension(constraints).unwrap();
        } else {
            let names = SubjectAlternativeName::new()
                .dns("localhost")
                .build(&cert.x509v3_context(None, None))
                .unwrap();
            cert.append_extension(names).unwrap();
        }
        cert.sign(signer, MessageDigest::sha256()).unwrap();
        cert.build()
    };
    let ca_key = key();
    let ca = certificate("durable test CA", &ca_key, "durable test CA", &ca_key, true);
    let server_key = key();
    let server = certificate("localhost", &server_key, "durable test CA", &ca_key, false);
    let identity = native_tls::Identity::from_pkcs8(
        &server.to_pem().unwrap(),
        &server_key.private_key_to_pem_pkcs8().unwrap(),
    )
    .unwrap();
    let acceptor = tokio_native_tls::TlsAcceptor::from(
        native_tls::TlsAcceptor::builder(identity).build().unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that does not trust the CA hangs up during the handshake.
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let mut head = [0u8; 4096];
                let _ = tls.read(&mut head).await;
                let body = "hello over TLS";
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (ca.to_pem().unwrap(), format!("https://localhost:{port}"))
}

/// HTTPS to a server whose certificate a private CA signed: refused until the operator trusts
/// the CA (`--ca-cert`), then answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_trusts_the_system_roots_and_the_ca_the_operator_adds() {
    let (ca, origin) = https_server().await;
    for trusted in [false, true] {
        let mut t = host_with(&guest("outbound"), |c| {
            c.http_hosts = vec!["localhost".into()];
            if trusted {
                c.ca_certs = vec![ca.clone()];
            }
        })
        .await;
        let record = run(&t, "fetch_via_activity", json!(format!("{origin}/"))).await;
        if trusted {
            assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
            assert_eq!(
                output(&record),
                json!({"status": 200, "body": "hello over TLS"})
            );
        } else {
            // Refused for the certificate, and said so (not a refused connection).
            let failure = failure_of(record);
            assert!(
                failure.message.contains("TlsCertificateError"),
                "{}",
                failure.message
            );
        }
        t.stop().await;
    }
}

per_language!(the_check_sites_example_reports_each_site: rust, python, js);

/// `examples/check-sites` (Rust, wstd), `examples/python/check_sites` (`durable.http.fetch`) and
/// `examples/js/check_sites` (fetch): a site that
/// answers, one that answers 404, and one the operator did not allow, in one fan-out.
async fn the_check_sites_example_reports_each_site(lang: Lang) {
    let origin = server().await;
    let mut t = host_with(&lang.example("check_sites"), |c| {
        c.http_hosts = vec!["127.0.0.1".into()];
    })
    .await;
    let refused = origin.replace("127.0.0.1", "localhost");
    let urls = json!([
        format!("{origin}/hello"),
        format!("{origin}/missing"),
        format!("{refused}/hello"),
    ]);
    let record = run(&t, "check_sites", urls).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    let reports = output(&record);
    let answered = |i: usize| (reports[i]["status"].clone(), reports[i]["bytes"].clone());
    let hello = format!("hello from {}", origin.trim_start_matches("http://"));
    assert_eq!(answered(0), (json!(200), json!(hello.len())), "{reports}");
    assert_eq!(answered(1).0, json!(404), "{reports}");
    assert_eq!(answered(2), (json!(null), json!(null)), "{reports}");
    assert!(reports[2]["error"].is_string(), "{reports}");
    t.stop().await;
}

per_language!(a_configured_secret_reaches_the_activity_not_the_orchestrator: python, js);

/// A Python (`durable.config.get`, `durable.http.fetch`) or JavaScript (`config.get`, `fetch`)
/// activity reads the operator's `api_key` through `wasi:config` and sends it to a local
/// server; an orchestrator reading it is refused by its sandbox.
async fn a_configured_secret_reaches_the_activity_not_the_orchestrator(lang: Lang) {
    let (origin, seen) = key_server().await;
    let mut t = host_with(&lang.conformance_guest(), |c| {
        c.http_hosts = vec!["127.0.0.1".into()];
        c.config = ActivityConfig::new([("api_key".into(), SECRET.into())]);
    })
    .await;
    let url = json!(format!("{origin}/charge"));
    let record = run(&t, "call_with_key_via_activity", url).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    assert_eq!(output(&record), json!(200));
    assert_eq!(*seen.lock().unwrap(), [Some(SECRET.to_owned())]);
    let refused = run(&t, "config_in_orchestrator", json!(null)).await;
    refused_by_the_sandbox(refused, "wasi:config/store");
    t.stop().await;
}

/// A server whose `POST /charge` records the `x-api-key` each request sent: its origin and the
/// keys seen.
async fn key_server() -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keys = seen.clone();
    let app = Router::new().route(
        "/charge",
        post(move |headers: HeaderMap| {
            let key = headers
                .get("x-api-key")
                .map(|v| v.to_str().unwrap().to_owned());
            keys.lock().unwrap().push(key);
            async { "charged" }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (origin, seen)
}

/// A Python activity reads the operator's `api_key` through `wasi:config` (`durable.config`)
/// and returns its digest and the configured keys; an orchestrator reading it is refused by its
/// sandbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_activity_reads_the_configured_secret_and_an_orchestrator_cannot() {
    use sha2::Digest as _;
    let mut t = host_with(&Lang::Python.conformance_guest(), |c| {
        c.config = ActivityConfig::new([("api_key".into(), SECRET.into())]);
    })
    .await;
    let record = run(&t, "config_digest_via_activity", json!(null)).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    let digest: String = sha2::Sha256::digest(SECRET)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        output(&record),
        json!({"api_key_sha256": digest, "keys": ["api_key"], "missing": null})
    );
    let refused = run(&t, "config_in_orchestrator", json!(null)).await;
    refused_by_the_sandbox(refused, "wasi:config/store");
    t.stop().await;
}

/// A Python activity's `durable.http.fetch` passes its timeout to the host (the server answers
/// after 30 s; the code waits 200 ms) and gets the host's refusal of a body over the cap, both
/// as `HttpError`s naming the `wasi:http` error code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_timeout_and_the_cap_fail_the_request_with_the_hosts_code() {
    let origin = server().await;
    let mut t = host_allowing(&["*"], Lang::Python).await;
    let slow = json!({"url": format!("{origin}/slow"), "timeout_ms": 200});
    let slow = t.start("fetch_via_activity", slow.to_string()).await;
    let big = json!(format!("{origin}/big")).to_string();
    let big = t.start("fetch_via_activity", big).await;
    for (id, code) in [
        (slow, "connection-read-timeout"),
        (big, "HTTP-response-body-size"),
    ] {
        let failure = failure_of(t.finish(&id).await);
        assert_eq!(failure.error_type, "HttpError", "{failure:?}");
        assert!(failure.message.contains(code), "{}", failure.message);
    }
    t.stop().await;
}

/// A Python orchestrator calling `durable.http.fetch` is refused by its sandbox, though the
/// host allows every destination to activities.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_orchestrator_cannot_use_durable_http() {
    let origin = server().await;
    let mut t = host_allowing(&["*"], Lang::Python).await;
    let url = json!(format!("{origin}/hello"));
    let record = run(&t, "fetch_in_orchestrator", url).await;
    refused_by_the_sandbox(record, "wasi:http/types");
    t.stop().await;
}
