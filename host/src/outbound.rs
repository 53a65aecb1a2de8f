//! What activity code may reach over HTTP: the operator's one policy for `wasi:http` requests
//! (an activity's own client: `wstd`, Python's or JavaScript's `fetch`) and for the built-in
//! `call_http` ([`crate::builtin_http`]).
//!
//! The policy is an allow-list of hosts ([`AllowList`], `--allow-http`; per app in the grants
//! file, [`crate::grants`]), a response size cap and timeouts. The same list governs the
//! sockets of activities granted network access (`--allow-network`). `wasi:http` requests are made by the host's own client (reqwest: the
//! system's root certificates, proxies from the environment), never redirected behind the
//! guest's back (`wasi:http` hands redirects to the code), and a refused one fails in the
//! guest with a message naming the host and the flag that would allow it. Orchestrators and
//! entities never get `wasi:http`: their sandbox traps the import like files and sockets.

use bytes::Bytes;
use futures_util::TryStreamExt as _;
use http_body_util::{BodyExt as _, StreamBody};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// What a refused HTTP request is called in its refusal.
pub(crate) const HTTP: &str = "outbound HTTP";

/// Which hosts activity code may reach: `host`, `*.domain` (any host under it), either with
/// `:port`, or `*` (anywhere).
#[derive(Debug, Clone, Default)]
pub struct AllowList(Arc<Vec<String>>);

/// A pattern split into its host and port parts.
fn split_pattern(pattern: &str) -> (&str, Option<u16>) {
    match pattern.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() && !h.ends_with(':') => (
            h.trim_start_matches('[').trim_end_matches(']'),
            p.parse().ok(),
        ),
        _ => (pattern.trim_start_matches('[').trim_end_matches(']'), None),
    }
}

impl AllowList {
    /// A list of patterns; empty allows nothing.
    pub fn new(patterns: Vec<String>) -> Self {
        AllowList(Arc::new(patterns))
    }

    /// Whether `url`'s host and port (explicit or the scheme's default) match a pattern,
    /// ignoring ASCII case.
    pub fn allows(&self, url: &reqwest::Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = url.port_or_known_default().unwrap_or(0);
        self.0.iter().any(|pattern| {
            if pattern == "*" {
                return true;
            }
            let (host_pattern, port_pattern) = split_pattern(pattern);
            let host_matches = match host_pattern.strip_prefix("*.") {
                Some(domain) => host.len().checked_sub(domain.len() + 1).is_some_and(|dot| {
                    host.as_bytes()[dot] == b'.' && host[dot + 1..].eq_ignore_ascii_case(domain)
                }),
                None => host_pattern.eq_ignore_ascii_case(host),
            };
            host_matches && port_pattern.is_none_or(|p| p == port)
        })
    }

    /// Whether an activity granted network access may talk to `addr` over a socket: `*`, an
    /// IP address pattern naming it, or a host name pattern resolving to it (ports as for
    /// HTTP). `*.domain` patterns never match a bare address.
    pub async fn allows_address(&self, addr: SocketAddr) -> bool {
        for pattern in self.0.iter() {
            if pattern == "*" {
                return true;
            }
            let (host, port) = split_pattern(pattern);
            if port.is_some_and(|p| p != addr.port()) || host.starts_with("*.") {
                continue;
            }
            if let Ok(ip) = host.parse::<IpAddr>() {
                if ip == addr.ip() {
                    return true;
                }
                continue;
            }
            let resolved = tokio::net::lookup_host((host, addr.port())).await;
            if resolved.is_ok_and(|mut found| found.any(|a| a.ip() == addr.ip())) {
                return true;
            }
        }
        false
    }

    /// Why `what` (`outbound HTTP`, `a socket`) to `host` is refused: the host and the
    /// settings that would allow it, for every app or for `app` alone.
    pub fn refusal(what: &str, host: &str, app: Option<&str>) -> String {
        match app {
            None => format!(
                "{what} to `{host}` is not allowed; the operator can allow it with \
                 `--allow-http {host}`"
            ),
            Some(app) => format!(
                "{what} to `{host}` is not allowed for app `{app}`; the operator can allow it \
                 with `--allow-http {host}`, or for this app alone with \
                 `allow_http = [\"{host}\"]` under `[apps.{app}]` in the grants file"
            ),
        }
    }

    /// The check of the sockets of an activity of `app`: connections and datagrams only to
    /// allowed addresses (a refusal is logged with the setting that would allow it, and kept
    /// in `refused`); binding and listening are local and allowed.
    pub fn socket_check(
        &self,
        app: Option<Arc<str>>,
        refused: Refusals,
    ) -> impl Fn(SocketAddr, SocketAddrUse) -> Pin<Box<dyn Future<Output = bool> + Send + Sync>>
    + Send
    + Sync
    + 'static {
        let allowed = self.clone();
        move |addr, used| {
            let (allowed, app, refused) = (allowed.clone(), app.clone(), refused.clone());
            Box::pin(async move {
                if matches!(
                    used,
                    SocketAddrUse::TcpBind | SocketAddrUse::TcpListen | SocketAddrUse::UdpBind
                ) || allowed.allows_address(addr).await
                {
                    return true;
                }
                let refusal =
                    AllowList::refusal("a socket", &addr.ip().to_string(), app.as_deref());
                tracing::warn!("an activity's socket was refused ({used:?} {addr}): {refusal}");
                refused.record(refusal);
                false
            })
        }
    }
}

/// A client builder that trusts the system's root certificates and `extra_roots` (PEM: a
/// private CA the operator names with `--ca-cert`).
pub fn client_builder(extra_roots: &[Vec<u8>]) -> anyhow::Result<reqwest::ClientBuilder> {
    let mut builder = reqwest::Client::builder();
    for pem in extra_roots {
        for certificate in certificates(pem)? {
            builder = builder.add_root_certificate(certificate);
        }
    }
    Ok(builder)
}

/// The certificates of a PEM file: at least one, or an error saying there is none.
pub fn certificates(pem: &[u8]) -> anyhow::Result<Vec<reqwest::Certificate>> {
    let certificates = reqwest::Certificate::from_pem_bundle(pem)
        .map_err(|e| anyhow::anyhow!("not PEM certificates: {e}"))?;
    if certificates.is_empty() {
        anyhow::bail!("holds no PEM certificate");
    }
    Ok(certificates)
}

/// Largest response body an activity may receive.
pub const MAX_RESPONSE_BODY: usize = 16 << 20;

/// How long a request may take to connect, and to send its first response byte, when the
/// code does not say.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The `wasi:http` policy of an activity store: it sends what the allow-list allows.
#[derive(Debug, Clone)]
pub struct OutboundHttp {
    client: reqwest::Client,
    allowed: AllowList,
    max_body: usize,
    /// The app whose activity sends (named in refusals).
    app: Option<Arc<str>>,
    /// The requests and sockets of its store refused.
    refused: Refusals,
}

/// Why an activity's requests and sockets were refused, kept for its failure: some clients
/// (JavaScript's `fetch`) hide the host's reason from the code, so a failed call is told it
/// ([`Refusals::explain`]). Shared by the store's `wasi:http` hooks and its socket check.
#[derive(Debug, Clone, Default)]
pub struct Refusals(Arc<std::sync::Mutex<Option<String>>>);

impl Refusals {
    /// Keeps `refusal`, the first since [`Refusals::clear`].
    fn record(&self, refusal: String) {
        self.lock().get_or_insert(refusal);
    }

    /// Forgets the refusals (a new call begins).
    pub fn clear(&self) {
        self.lock().take();
    }

    /// `message` (a failed call's), with the first refusal since [`Refusals::clear`] when it
    /// does not say it already.
    pub fn explain(&self, message: String) -> String {
        match self.lock().as_deref() {
            Some(refusal) if !message.contains(refusal) => {
                format!("{message} (the host refused a request of this call: {refusal})")
            }
            _ => message,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl OutboundHttp {
    /// Sends requests to the hosts `allowed` names, trusting `extra_roots` besides the
    /// system's certificates; response bodies over `max_body` bytes fail the read.
    pub fn new(
        allowed: AllowList,
        extra_roots: &[Vec<u8>],
        max_body: usize,
    ) -> anyhow::Result<Self> {
        let client = client_builder(extra_roots)?
            // The code sees every redirect and decides, as `wasi:http` specifies.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(DEFAULT_TIMEOUT)
            .build()?;
        Ok(OutboundHttp {
            client,
            allowed,
            max_body,
            app: None,
            refused: Refusals::default(),
        })
    }

    /// This policy, for an activity of `app` (named when a request is refused).
    /// (Its refusals are its own.)
    pub fn for_app(&self, app: Option<&str>) -> OutboundHttp {
        OutboundHttp {
            app: app.map(Arc::from),
            refused: Refusals::default(),
            ..self.clone()
        }
    }

    /// Its refusals.
    pub fn refused(&self) -> &Refusals {
        &self.refused
    }

    /// The hosts it allows.
    pub fn allowed(&self) -> &AllowList {
        &self.allowed
    }

    /// The app it sends for.
    pub fn app(&self) -> Option<&Arc<str>> {
        self.app.as_ref()
    }

    async fn send(
        client: reqwest::Client,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        max_body: usize,
    ) -> Result<http::Response<WasiBody>, Error> {
        let options = options.unwrap_or_default();
        let (parts, body) = request.into_parts();
        let body = body.collect().await?.to_bytes();
        let url = reqwest::Url::parse(&parts.uri.to_string())
            .map_err(|_| Error::HttpRequestUriInvalid)?;
        let mut headers = parts.headers;
        // reqwest sets `host` from the URL.
        headers.remove(http::header::HOST);
        let request = client
            .request(parts.method, url)
            .headers(headers)
            .body(body);
        // From sending to the response's head; connecting counts in it unless the code gave
        // connecting a time of its own (the client gives up connecting after 30 s anyway).
        let first_byte = options
            .connect_timeout
            .unwrap_or_default()
            .saturating_add(options.first_byte_timeout.unwrap_or(DEFAULT_TIMEOUT));
        let response = match tokio::time::timeout(first_byte, request.send()).await {
            Err(_) => return Err(Error::ConnectionReadTimeout),
            Ok(Err(e)) => return Err(transport_error(&e)),
            Ok(Ok(response)) => response,
        };
        // A body announced over the cap is refused with the response, where the code sees
        // why; one that grows past it fails the read (a stream error, whose reason clients
        // rarely show).
        if let Some(length) = response.content_length().filter(|&l| l > max_body as u64) {
            return Err(Error::HttpResponseBodySize(Some(length)));
        }
        let between_bytes = options.between_bytes_timeout.unwrap_or(DEFAULT_TIMEOUT);
        let mut builder = http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        let chunks = futures_util::stream::try_unfold(
            (response, 0usize),
            move |(mut response, read)| async move {
                let chunk = match tokio::time::timeout(between_bytes, response.chunk()).await {
                    Err(_) => return Err(Error::ConnectionReadTimeout),
                    Ok(Err(e)) => return Err(Error::InternalError(Some(e.to_string()))),
                    Ok(Ok(None)) => return Ok(None),
                    Ok(Ok(Some(chunk))) => chunk,
                };
                let read = read + chunk.len();
                if read > max_body {
                    // The body is refused, not cut: the code never takes a prefix for the
                    // whole.
                    return Err(Error::HttpResponseBodySize(Some(read as u64)));
                }
                Ok(Some((chunk, (response, read))))
            },
        );
        let body = StreamBody::new(chunks.map_ok(http_body::Frame::<Bytes>::data));
        builder
            .body(body.boxed_unsync())
            .map_err(|e| Error::InternalError(Some(e.to_string())))
    }
}

/// The `wasi:http` error code of a request that failed in transport: refused connections and
/// untrusted certificates by their codes, anything else with the client's whole explanation
/// (a name that does not resolve, a reset).
fn transport_error(e: &reqwest::Error) -> Error {
    if e.is_timeout() {
        return Error::ConnectionTimeout;
    }
    let mut explanation = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return Error::ConnectionRefused;
        }
        explanation = format!("{explanation}: {cause}");
        source = cause.source();
    }
    if explanation.to_ascii_lowercase().contains("certificate") {
        return Error::TlsCertificateError;
    }
    Error::InternalError(Some(explanation))
}

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), Error>> + Send>,
                    ),
                    Error,
                >,
            > + Send,
    > {
        let client = self.client.clone();
        let max_body = self.max_body;
        let refused = match reqwest::Url::parse(&request.uri().to_string()) {
            Ok(url) if self.allowed.allows(&url) => None,
            Ok(url) => {
                // Some clients (JavaScript's `fetch`) hide the reason from the code: the
                // operator sees it here, and the call's failure says it (`Refusals`).
                let refusal = AllowList::refusal(
                    HTTP,
                    url.host_str().unwrap_or_default(),
                    self.app.as_deref(),
                );
                tracing::warn!("an activity's request was refused: {refusal}");
                self.refused.record(refusal.clone());
                Some(Error::InternalError(Some(refusal)))
            }
            Err(_) => Some(Error::HttpRequestUriInvalid),
        };
        Box::new(async move {
            if let Some(refused) = refused {
                return Err(refused);
            }
            let response = OutboundHttp::send(client, request, options, max_body).await?;
            let done: Box<dyn Future<Output = Result<(), Error>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, done))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_call_is_told_the_first_refusal_unless_it_says_it() {
        let refused = Refusals::default();
        assert_eq!(refused.explain("boom".into()), "boom");
        refused.record("HTTP to `a` is not allowed".into());
        refused.record("HTTP to `b` is not allowed".into());
        assert_eq!(
            refused.explain("TypeError: NetworkError".into()),
            "TypeError: NetworkError (the host refused a request of this call: HTTP to `a` is \
             not allowed)"
        );
        let said = "request failed: HTTP to `a` is not allowed".to_owned();
        assert_eq!(refused.explain(said.clone()), said);
        refused.clear();
        assert_eq!(refused.explain("boom".into()), "boom");
    }

    #[test]
    fn allow_list_matches_hosts_and_ports() {
        let list = AllowList::new(vec!["api.example.com".into(), "127.0.0.1:8080".into()]);
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(list.allows(&url("https://api.example.com/x")));
        assert!(list.allows(&url("http://127.0.0.1:8080/")));
        assert!(!list.allows(&url("http://127.0.0.1:9090/")));
        assert!(!list.allows(&url("https://evil.example.com/")));
        assert!(AllowList::new(vec!["*".into()]).allows(&url("http://x/")));
        assert!(!AllowList::default().allows(&url("http://x/")));
        let wild = AllowList::new(vec!["*.example.com".into(), "*.internal:8443".into()]);
        assert!(wild.allows(&url("https://api.example.com/")));
        assert!(wild.allows(&url("https://a.b.EXAMPLE.com:9000/")));
        assert!(
            !wild.allows(&url("https://example.com/")),
            "the domain itself is not under it"
        );
        assert!(!wild.allows(&url("https://badexample.com/")));
        assert!(wild.allows(&url("https://db.internal:8443/")));
        assert!(!wild.allows(&url("https://db.internal/")));
    }
}
