//! The WIT bindings, generated once from `wit/durable.wit`, and the conversions between their
//! records and the SDK's own types.
//!
//! Nothing here is public API: authors see [`crate::Failure`], [`crate::LogLevel`] and the
//! context types. The `component!` macro reaches the generated `Guest` traits and the `export!`
//! macro through `durable_sdk::__private::bindings`, so user crates need no direct wit-bindgen
//! dependency.

// The generated ABI glue needs `unsafe` and is not ours to lint.
#![allow(unsafe_code, clippy::all)]

wit_bindgen::generate!({
    path: "../wit",
    world: "durable-component",
    pub_export_macro: true,
    default_bindings_module: "durable_sdk::__private::bindings",
    runtime_path: "durable_sdk::__private::wit_bindgen::rt",
    additional_derives: [PartialEq],
});

use serde_json::Value;

use crate::failure::{Failure, FailureCause};
use crate::log::LogLevel;

pub(crate) use durable::core::orchestration_types as wit_orch;
pub(crate) use durable::core::types as wit_types;

/// WIT carries details as JSON text; text that is not JSON is kept as a JSON string.
fn details_from_wit(details: Option<String>) -> Option<Value> {
    details.map(|text| serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn details_to_wit(details: Option<Value>) -> Option<String> {
    details.map(|value| value.to_string())
}

impl From<wit_types::Failure> for Failure {
    fn from(f: wit_types::Failure) -> Self {
        Failure {
            error_type: f.error_type,
            message: f.message,
            details: details_from_wit(f.details).map(Box::new),
            stack: f.stack,
            non_retriable: f.non_retriable,
            inner: f
                .inner
                .into_iter()
                .map(|c| FailureCause {
                    error_type: c.error_type,
                    message: c.message,
                    details: details_from_wit(c.details),
                })
                .collect(),
        }
    }
}

impl From<Failure> for wit_types::Failure {
    fn from(f: Failure) -> Self {
        wit_types::Failure {
            error_type: f.error_type,
            message: f.message,
            details: details_to_wit(f.details.map(|d| *d)),
            stack: f.stack,
            non_retriable: f.non_retriable,
            inner: f
                .inner
                .into_iter()
                .map(|c| wit_types::FailureCause {
                    error_type: c.error_type,
                    message: c.message,
                    details: details_to_wit(c.details),
                })
                .collect(),
        }
    }
}

impl From<LogLevel> for durable::core::host::LogLevel {
    fn from(level: LogLevel) -> Self {
        use durable::core::host::LogLevel as Wit;
        match level {
            LogLevel::Trace => Wit::Trace,
            LogLevel::Debug => Wit::Debug,
            LogLevel::Info => Wit::Info,
            LogLevel::Warn => Wit::Warn,
            LogLevel::Error => Wit::Error,
        }
    }
}

/// Sends one line to the host's log (the `host.log` import).
pub(crate) fn host_log(level: LogLevel, message: &str) {
    durable::core::host::log(level.into(), message);
}

/// The running orchestration's version (the `host.version` import).
pub(crate) fn host_version() -> Option<String> {
    durable::core::host::version()
}
