//! The web dashboard: a single page (`assets/`: HTML, JavaScript, CSS written by hand, no
//! build step) served at `/` by the HTTP server, built into the binary so it works offline
//! and needs nothing beside `durable serve`.
//!
//! The page holds no data of its own: it reads and acts through the HTTP management API
//! ([`crate::http::BASE_PATH`]) with the API key the user typed into its login form (kept in
//! the tab's session storage, sent as `x-functions-key`, never in a URL), so the API's key
//! check guards everything it shows. The assets themselves are public.
//!
//! With [`Assets::Dir`] (`DURABLE_DASHBOARD_ASSETS=<dir>` on `durable serve`) the files are
//! read from that directory on every request instead, so the page can be edited without
//! rebuilding the host.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::path::PathBuf;

/// Where the dashboard's files come from.
#[derive(Debug, Clone, Default)]
pub enum Assets {
    /// The copies built into the binary.
    #[default]
    Embedded,
    /// A directory read on every request (for working on the dashboard).
    Dir(PathBuf),
}

/// The dashboard's files: name, content type, embedded content.
const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("assets/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("assets/app.css"),
    ),
];

/// Scripts and styles from this origin only; the page may not be framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
    style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// `/` (the page) and `/dashboard/{file}` (its script and style sheet).
pub fn router(assets: Assets) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/dashboard/{file}", get(file))
        .with_state(assets)
}

async fn index(State(assets): State<Assets>) -> Response {
    serve(&assets, "index.html").await
}

async fn file(State(assets): State<Assets>, Path(name): Path<String>) -> Response {
    if name == "index.html" {
        return StatusCode::NOT_FOUND.into_response();
    }
    serve(&assets, &name).await
}

async fn serve(assets: &Assets, name: &str) -> Response {
    let Some(&(name, content_type, embedded)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let body = match assets {
        Assets::Embedded => embedded.to_owned(),
        Assets::Dir(dir) => match read(dir.join(name)).await {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!(
                    "cannot read dashboard file {name} from {}: {e}",
                    dir.display()
                );
                return StatusCode::NOT_FOUND.into_response();
            }
        },
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        ],
        body,
    )
        .into_response()
}

/// Reads a file off the async runtime's threads.
async fn read(path: PathBuf) -> std::io::Result<String> {
    tokio::task::spawn_blocking(move || std::fs::read_to_string(path))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}
