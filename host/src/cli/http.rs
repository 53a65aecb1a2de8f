//! `durable serve`'s HTTP management API settings, and running the API beside
//! the dispatcher until shutdown.

use anyhow::Context as _;
use clap::Args;
use durable_host::client::Client;
use durable_host::dashboard::Assets;
use durable_host::host::Deployer;
use durable_host::http::{self, ApiConfig, ApiState};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Address of the HTTP management API (Durable Functions' webhook API).
    #[arg(long, env = "DURABLE_HTTP_ADDR", default_value = "127.0.0.1:7071")]
    http_addr: SocketAddr,
    /// Do not serve the HTTP API.
    #[arg(long)]
    no_http: bool,
    /// Require this API key on every HTTP request (repeatable; the
    /// environment variable takes a comma-separated list).
    #[arg(
        long = "api-key",
        value_name = "KEY",
        env = "DURABLE_API_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    api_keys: Vec<String>,
    /// Largest HTTP request body in bytes; larger ones get 413.
    #[arg(long, default_value_t = http::DEFAULT_BODY_LIMIT)]
    http_body_limit: usize,
    /// Serve the dashboard's files from this directory, read on every request, instead of
    /// the copies built in (for working on the dashboard).
    #[arg(
        long,
        env = "DURABLE_DASHBOARD_ASSETS",
        value_name = "DIR",
        hide = true
    )]
    dashboard_assets: Option<std::path::PathBuf>,
}

/// The API running in the background.
pub struct ApiServer {
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl HttpArgs {
    /// Binds the address (failing at once if it is taken) and serves the API
    /// in the background; `None` with `--no-http`.
    /// Serves the API for `client`; `POST /deployments` deploys through `deployer`.
    pub async fn start(
        &self,
        client: Client,
        deployer: Arc<dyn Deployer>,
    ) -> anyhow::Result<Option<ApiServer>> {
        if self.no_http {
            return Ok(None);
        }
        let api_keys: Vec<String> = self
            .api_keys
            .iter()
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .collect();
        let listener = tokio::net::TcpListener::bind(self.http_addr)
            .await
            .with_context(|| format!("cannot listen on {} (--http-addr)", self.http_addr))?;
        let addr = listener.local_addr()?;
        tracing::info!(
            "HTTP API on http://{addr}{}, dashboard on http://{addr}/ ({})",
            http::BASE_PATH,
            if api_keys.is_empty() {
                "no API key required".to_owned()
            } else {
                format!("{} API key(s) configured", api_keys.len())
            }
        );
        let state = ApiState::new(
            client,
            ApiConfig {
                api_keys,
                body_limit: self.http_body_limit,
                dashboard: match &self.dashboard_assets {
                    Some(dir) => Assets::Dir(dir.clone()),
                    None => Assets::Embedded,
                },
            },
        )
        .with_deployer(deployer);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(http::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Ok(Some(ApiServer { stop, task }))
    }
}

impl ApiServer {
    /// Stops accepting connections and waits for requests in flight.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("HTTP API stopped with an error: {e}"),
            Err(e) => tracing::warn!("HTTP API task failed: {e}"),
        }
    }
}
