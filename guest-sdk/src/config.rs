//! Configuration and secrets for activities: values the operator gives the host
//! (`durable serve --config KEY=VALUE`, `--config KEY`, `--config-file`), read through
//! `wasi:config/store`. They live in the host's memory only: never in history, logs or the
//! dashboard, unless the code puts them there (an activity's result is history).
//!
//! Orchestrators and entities cannot read them: their sandbox refuses the import, since a
//! value that changes between replays would change their decisions.
//!
//! ```no_run
//! use durable_sdk::Failure;
//!
//! /// The payments API key, for an activity to call the API with.
//! fn payments_key() -> Result<String, Failure> {
//!     durable_sdk::config::get("payments_api_key")?
//!         .ok_or_else(|| Failure::new("Misconfigured", "no payments_api_key is configured"))
//! }
//! ```

use crate::Failure;

#[allow(unsafe_code, clippy::all, missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "wasi-config",
        world: "config",
        generate_all,
        runtime_path: "durable_sdk::__private::wit_bindgen::rt",
    });
}

use bindings::wasi::config::store;

/// The value of `key`, or `None` when the operator gave none.
pub fn get(key: &str) -> Result<Option<String>, Failure> {
    store::get(key).map_err(config_failure)
}

/// Every key and value the operator gave.
pub fn get_all() -> Result<Vec<(String, String)>, Failure> {
    store::get_all().map_err(config_failure)
}

fn config_failure(error: store::Error) -> Failure {
    let message = match error {
        store::Error::Upstream(message) | store::Error::Io(message) => message,
    };
    Failure::new("ConfigError", message)
}
