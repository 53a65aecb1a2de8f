//! The HTTP management API, compatible with Azure Durable Functions' webhook
//! API, so existing clients and tools work unchanged.
//!
//! [`router`] builds an axum [`Router`] over an [`ApiState`] (a
//! [`Client`] plus [`ApiConfig`]); [`serve`] runs it on a listener until a
//! shutdown future resolves. The same routes answer under [`BASE_PATH`]
//! (`/runtime/webhooks/durabletask`, the webhook URLs) and
//! [`RPC_BASE_PATH`] (`/durabletask`, what the language SDK clients call),
//! each with or without a trailing slash; on the RPC routes a body that is a
//! JSON string holding JSON text, as the SDK clients send values, is that
//! JSON ([`request::serialized_value`]).
//!
//! A request flows through the body limit and the optional API-key check
//! (`auth`), then to a handler: starting instances (`orchestrators`),
//! reading, listing and purging them (`instances`), or acting on one
//! (`operations`). Handlers call the [`Client`] and turn its errors into
//! the one [`ApiError`] enum, which maps each to a status code and never
//! sends internal error text. [`payload`] holds the JSON shapes (Durable
//! Functions' field names). Every route is in one table, [`routes`], that
//! the router is built from and that a test checks against the hand-written
//! OpenAPI document served at `{BASE_PATH}/openapi.json`.
//!
//! Beside the API, the same server answers `GET /metrics` (Prometheus, `metrics`; behind the
//! same keys) and serves the web dashboard at `/` ([`crate::dashboard`]).

mod auth;
mod deployments;
mod entities;
mod error;
mod instances;
mod metrics;
mod operations;
mod orchestrators;
pub mod payload;
#[cfg(test)]
mod properties;
mod request;
#[cfg(test)]
mod tests;
pub mod time;

pub use error::ApiError;
pub use instances::CONTINUATION_HEADER;
pub use request::encode;

use crate::client::Client;
use crate::dashboard;
use crate::host::Deployer;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Extension};
use axum::handler::Handler;
use axum::http::Method;
use axum::response::IntoResponse;
use axum::routing::{MethodFilter, MethodRouter};
use request::ApiBase;
use std::future::Future;
use std::sync::Arc;

/// Where Durable Functions serves its webhook API.
pub const BASE_PATH: &str = "/runtime/webhooks/durabletask";
/// The base URL Durable Functions' language SDK clients call.
pub const RPC_BASE_PATH: &str = "/durabletask";
/// Default request body limit: 4 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 4 << 20;

/// The API's settings.
#[derive(Clone)]
pub struct ApiConfig {
    /// With keys, every request must carry one of them.
    pub api_keys: Vec<String>,
    /// Larger request bodies get 413.
    pub body_limit: usize,
    /// Where the dashboard served at `/` comes from.
    pub dashboard: dashboard::Assets,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            api_keys: Vec::new(),
            body_limit: DEFAULT_BODY_LIMIT,
            dashboard: dashboard::Assets::default(),
        }
    }
}

impl std::fmt::Debug for ApiConfig {
    /// Keys are secrets: only their number is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field(
                "api_keys",
                &format_args!("[{} hidden]", self.api_keys.len()),
            )
            .field("body_limit", &self.body_limit)
            .field("dashboard", &self.dashboard)
            .finish()
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct ApiState {
    client: Client,
    config: Arc<ApiConfig>,
    /// What `POST /deployments` checks and deploys through; without one it answers 403.
    deployer: Option<Arc<dyn Deployer>>,
}

impl ApiState {
    /// The state of an API that acts through `client`, with these settings.
    pub fn new(client: Client, config: ApiConfig) -> Self {
        ApiState {
            client,
            config: Arc::new(config),
            deployer: None,
        }
    }

    /// Lets `POST /deployments` deploy through `deployer` (the host the API serves for).
    pub fn with_deployer(mut self, deployer: Arc<dyn Deployer>) -> Self {
        self.deployer = Some(deployer);
        self
    }
}

/// One route of the API: a method and a path relative to the base.
pub struct Route {
    /// The HTTP method it answers.
    pub method: Method,
    /// Its path relative to the base, with `{name}` placeholders.
    pub path: &'static str,
    handler: MethodRouter<ApiState>,
}

fn route<H, T>(method: Method, path: &'static str, handler: H) -> Route
where
    H: Handler<T, ApiState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("a standard HTTP method");
    Route {
        method,
        path,
        handler: axum::routing::on(filter, handler),
    }
}

/// Every route the API serves (relative to [`BASE_PATH`] and
/// [`RPC_BASE_PATH`]): the single list the router and the OpenAPI test use.
pub fn routes() -> Vec<Route> {
    use Method as M;
    vec![
        route(
            M::POST,
            "/orchestrators/{functionName}",
            orchestrators::start,
        ),
        route(
            M::POST,
            "/orchestrators/{functionName}/{instanceId}",
            orchestrators::start_with_id,
        ),
        route(M::GET, "/instances", instances::list),
        route(M::DELETE, "/instances", instances::purge_matching),
        route(M::GET, "/instances/{instanceId}", instances::status),
        route(M::GET, "/instances/{instanceId}/logs", instances::logs),
        route(
            M::GET,
            "/instances/{instanceId}/children",
            instances::children,
        ),
        route(M::GET, "/instances/{instanceId}/turns", instances::turns),
        route(M::DELETE, "/instances/{instanceId}", instances::purge),
        route(
            M::POST,
            "/instances/{instanceId}/raiseEvent/{eventName}",
            operations::raise_event,
        ),
        route(
            M::POST,
            "/instances/{instanceId}/terminate",
            operations::terminate,
        ),
        route(
            M::POST,
            "/instances/{instanceId}/suspend",
            operations::suspend,
        ),
        route(
            M::POST,
            "/instances/{instanceId}/resume",
            operations::resume,
        ),
        route(
            M::POST,
            "/instances/{instanceId}/rewind",
            operations::rewind,
        ),
        route(
            M::POST,
            "/instances/{instanceId}/restart",
            operations::restart,
        ),
        route(
            M::POST,
            "/instances/{instanceId}/upgrade",
            deployments::upgrade_one,
        ),
        route(M::POST, "/instances/upgrade", deployments::upgrade_all),
        route(M::GET, "/entities", entities::list_all),
        route(M::GET, "/entities/{entityName}", entities::list),
        route(M::GET, "/entities/{entityName}/{entityKey}", entities::get),
        route(
            M::POST,
            "/entities/{entityName}/{entityKey}",
            entities::signal,
        ),
        route(M::GET, "/deployments", deployments::list),
        Route {
            method: M::POST,
            path: "/deployments",
            handler: axum::routing::post(deployments::deploy)
                .layer(DefaultBodyLimit::max(deployments::BODY_LIMIT)),
        },
        route(M::POST, "/deployments/{digest}/retire", deployments::retire),
        route(M::POST, "/deployments/gc", deployments::gc),
        route(M::GET, "/openapi.json", openapi),
    ]
}

/// The hand-written OpenAPI 3 document of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
}

/// The API as a router, with its state applied.
pub fn router(state: ApiState) -> Router {
    let mut api = Router::new();
    for route in routes() {
        // Every route also answers with a trailing slash: the SDK clients list and purge at
        // `{rpcBaseUrl}instances/?...`, which Durable Functions' `instances/{instanceId?}` matches.
        api = api
            .route(&format!("{}/", route.path), route.handler.clone())
            .route(route.path, route.handler);
    }
    // The API's routes and `/metrics` need a key (when keys are configured); the dashboard's
    // files do not.
    let keys = axum::middleware::from_fn_with_state(state.clone(), auth::require_key);
    let api = api
        .layer(keys.clone())
        .layer(DefaultBodyLimit::max(state.config.body_limit));
    let metrics = Router::new()
        .route("/metrics", axum::routing::get(metrics::metrics))
        .layer(keys);
    Router::new()
        .nest(BASE_PATH, api.clone().layer(Extension(ApiBase::Webhook)))
        .nest(RPC_BASE_PATH, api.layer(Extension(ApiBase::Rpc)))
        .merge(metrics)
        .with_state(state.clone())
        .merge(dashboard::router(state.config.dashboard.clone()))
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes the
/// requests in flight and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
