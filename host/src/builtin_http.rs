//! The built-in activity behind `call_http` (Durable Functions' durable
//! HTTP): one outbound HTTP request per run, made by the host, only to hosts
//! the operator allowed.
//!
//! The guest SDK schedules it like any activity under the reserved name
//! [`HTTP_ACTIVITY`] with a JSON request, so each request is checkpointed;
//! the `202 Accepted` polling loop runs in the orchestration on durable
//! timers. Redirects are followed only to allowed hosts.

use crate::outbound::{AllowList, HTTP, MAX_RESPONSE_BODY, client_builder};
use crate::telemetry::{TRACEPARENT, traceparent_of};
use crate::types::{Failure, Json, failure_types};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The reserved activity name; components cannot offer it.
pub const HTTP_ACTIVITY: &str = "durable:http";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    method: String,
    uri: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    content: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    status_code: u16,
    headers: BTreeMap<String, String>,
    content: String,
}

/// Makes HTTP requests for `call_http`.
#[derive(Debug, Clone)]
pub struct HttpActivity {
    client: reqwest::Client,
    allowed: AllowList,
}

impl HttpActivity {
    /// Makes requests only to hosts `allowed` names (redirects too, at most 10), each given
    /// `timeout` to complete, trusting `extra_roots` besides the system's certificates.
    pub fn new(
        allowed: AllowList,
        extra_roots: &[Vec<u8>],
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let for_redirects = allowed.clone();
        let client = client_builder(extra_roots)?
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 10 {
                    attempt.error("too many redirects")
                } else if for_redirects.allows(attempt.url()) {
                    attempt.follow()
                } else {
                    attempt.stop()
                }
            }))
            .build()?;
        Ok(HttpActivity { client, allowed })
    }

    /// Runs one request for an orchestration of `app`; the error is the activity's failure.
    pub async fn run(&self, input: &str, app: Option<&str>) -> Result<Json, Failure> {
        let invalid = |message: String| Failure::fatal(failure_types::INVALID_INPUT, message);
        let request: Request = serde_json::from_str(input)
            .map_err(|e| invalid(format!("not a durable HTTP request: {e}")))?;
        let url = reqwest::Url::parse(&request.uri)
            .map_err(|e| invalid(format!("`{}` is not a URL: {e}", request.uri)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(format!("`{}` is not an http(s) URL", request.uri)));
        }
        if !self.allowed.allows(&url) {
            return Err(Failure::fatal(
                failure_types::HTTP_NOT_ALLOWED,
                AllowList::refusal(HTTP, url.host_str().unwrap_or_default(), app),
            ));
        }
        let method = reqwest::Method::from_bytes(request.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| invalid(format!("`{}` is not an HTTP method", request.method)))?;
        let mut builder = self.client.request(method, url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        // The callee joins the activity's trace, unless the code set its own context.
        let own_context =
            (request.headers.keys()).any(|name| name.eq_ignore_ascii_case(TRACEPARENT));
        if let Some(traceparent) =
            traceparent_of(&tracing::Span::current()).filter(|_| !own_context)
        {
            builder = builder.header(TRACEPARENT, traceparent);
        }
        if let Some(content) = request.content {
            builder = builder.body(content);
        }
        let mut response = builder.send().await.map_err(|e| {
            Failure::new(failure_types::HTTP_ERROR, format!("{}: {e}", request.uri))
        })?;
        let status_code = response.status().as_u16();
        let mut headers = BTreeMap::new();
        for (name, value) in response.headers() {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|v: &mut String| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        // Read as it arrives and stop past the cap: a huge (or endless) body never sits in
        // memory whole, and is refused rather than cut.
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Failure::new(failure_types::HTTP_ERROR, format!("{}: {e}", request.uri)))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BODY {
                return Err(Failure::fatal(
                    failure_types::RESOURCE_LIMIT,
                    format!(
                        "the response body of {} is larger than the limit of {} MiB",
                        request.uri,
                        MAX_RESPONSE_BODY >> 20
                    ),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let content = String::from_utf8_lossy(&body).into_owned();
        serde_json::to_string(&Response {
            status_code,
            headers,
            content,
        })
        .map_err(|e| Failure::new(failure_types::HTTP_ERROR, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refused_and_malformed_requests_fail_with_their_type() {
        let http = HttpActivity::new(AllowList::default(), &[], Duration::from_secs(5)).unwrap();
        let err = http
            .run(r#"{"method":"GET","uri":"http://example.com/"}"#, None)
            .await
            .unwrap_err();
        assert_eq!(err.error_type, "HttpNotAllowed");
        assert!(err.non_retriable);
        let err = http
            .run(
                r#"{"method":"GET","uri":"http://example.com/"}"#,
                Some("billing"),
            )
            .await
            .unwrap_err();
        assert!(
            err.message.contains("not allowed for app `billing`")
                && err
                    .message
                    .contains("under `[apps.billing]` in the grants file"),
            "{}",
            err.message
        );
        let err = http.run("{", None).await.unwrap_err();
        assert_eq!(err.error_type, failure_types::INVALID_INPUT);
        let err = http
            .run(r#"{"method":"GET","uri":"ftp://example.com/"}"#, None)
            .await
            .unwrap_err();
        assert_eq!(err.error_type, failure_types::INVALID_INPUT);
    }

    /// A response body over the cap fails the call with `ResourceLimit`, and is not cut to
    /// the cap and passed off as the whole body; one at the cap arrives whole.
    #[tokio::test]
    async fn a_response_body_over_the_cap_is_refused_not_cut() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for size in [MAX_RESPONSE_BODY + 1, MAX_RESPONSE_BODY] {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n");
                socket.write_all(head.as_bytes()).await.unwrap();
                let _ = socket.write_all(&vec![b'x'; size]).await;
            }
        });
        let http = HttpActivity::new(
            AllowList::new(vec!["*".into()]),
            &[],
            Duration::from_secs(30),
        )
        .unwrap();
        let request = format!(r#"{{"method":"GET","uri":"http://{addr}/"}}"#);
        let err = http.run(&request, None).await.unwrap_err();
        assert_eq!(err.error_type, failure_types::RESOURCE_LIMIT, "{err:?}");
        assert!(err.message.contains("16 MiB"), "{}", err.message);
        let whole = http.run(&request, None).await.expect("a body at the cap");
        let response: serde_json::Value = serde_json::from_str(&whole).unwrap();
        assert_eq!(
            response["content"].as_str().unwrap().len(),
            MAX_RESPONSE_BODY
        );
    }
}
