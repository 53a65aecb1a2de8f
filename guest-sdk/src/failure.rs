//! Structured failures: what activities, orchestrations and entity operations return when they
//! do not succeed.
//!
//! A [`Failure`] keeps its `type` end to end: an activity returns one, the host records it in the
//! history as-is, the orchestrator's task resolves to the same value, and an uncaught one becomes
//! the orchestration's own failure. The JSON form (`type`, `message`, `details`, `stack`,
//! `nonRetriable`, `inner`) is what clients see; conversions to and from the WIT record live in
//! `bindings.rs`.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Failure type of an input (or task result) that does not deserialise into the expected type.
pub const INVALID_INPUT: &str = "InvalidInput";
/// Failure type of a call to an orchestrator, activity or entity the component does not offer.
pub const UNKNOWN_FUNCTION: &str = "UnknownFunction";
/// Failure type of `Failure::from(String)` and `Failure::from(&str)`.
pub const GENERIC_ERROR: &str = "Error";
/// Failure type of a wait that ran out of time, e.g.
/// `OrchestrationContext::wait_for_external_event_with_timeout`.
pub const TIMEOUT: &str = "Timeout";

/// A structured failure. Build one with [`Failure::new`] and the builder methods, or convert a
/// string or a `serde_json::Error` into one.
///
/// ```
/// use durable_sdk::Failure;
/// let f = Failure::new("InsufficientFunds", "balance is 3, needed 5")
///     .with_details(serde_json::json!({ "balance": 3 }))
///     .non_retriable();
/// assert_eq!(f.error_type, "InsufficientFunds");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// The error's type name, e.g. `ValueError` or `InsufficientFunds`. Match on it.
    #[serde(rename = "type")]
    pub error_type: String,
    /// A message for people.
    pub message: String,
    /// Optional structured details. Boxed to keep `Result<T, Failure>` small.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Box<Value>>,
    /// Optional stack trace or backtrace text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// True when retrying cannot help.
    #[serde(default)]
    pub non_retriable: bool,
    /// The chain of inner failures, outermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inner: Vec<FailureCause>,
}

/// One cause in a failure's chain of inner failures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureCause {
    /// The cause's type name.
    #[serde(rename = "type")]
    pub error_type: String,
    /// A message for people.
    pub message: String,
    /// Optional structured details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl Failure {
    /// A retriable failure with this type and message and nothing else.
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            error_type: error_type.into(),
            message: message.into(),
            details: None,
            stack: None,
            non_retriable: false,
            inner: Vec::new(),
        }
    }

    /// Attaches structured details.
    pub fn with_details(mut self, details: impl Serialize) -> Self {
        self.details = Some(Box::new(
            serde_json::to_value(details).unwrap_or(Value::Null),
        ));
        self
    }

    /// Attaches a stack trace or backtrace text.
    pub fn with_stack(mut self, stack: impl Into<String>) -> Self {
        self.stack = Some(stack.into());
        self
    }

    /// Appends an inner cause (outermost first).
    pub fn with_cause(mut self, cause: FailureCause) -> Self {
        self.inner.push(cause);
        self
    }

    /// Marks the failure as one retrying cannot fix.
    pub fn non_retriable(mut self) -> Self {
        self.non_retriable = true;
        self
    }

    /// True when the failure's type is `error_type`.
    pub fn is(&self, error_type: &str) -> bool {
        self.error_type == error_type
    }

    /// The non-retriable `InvalidInput` failure for a value that is not a valid `T`.
    pub(crate) fn invalid_input<T>(what: &str, err: &serde_json::Error) -> Self {
        Failure::new(
            INVALID_INPUT,
            format!(
                "{what} is not a valid `{}`: {err}",
                std::any::type_name::<T>()
            ),
        )
        .non_retriable()
    }

    /// The non-retriable `UnknownFunction` failure for a name the component does not offer.
    pub(crate) fn unknown_function(kind: &str, name: &str) -> Self {
        Failure::new(
            UNKNOWN_FUNCTION,
            format!("this component has no {kind} named `{name}`"),
        )
        .non_retriable()
    }
}

impl FailureCause {
    /// A cause with this type and message.
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        FailureCause {
            error_type: error_type.into(),
            message: message.into(),
            details: None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl std::error::Error for Failure {}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Failure::new(GENERIC_ERROR, message)
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::new(GENERIC_ERROR, message)
    }
}

impl From<serde_json::Error> for Failure {
    fn from(err: serde_json::Error) -> Self {
        Failure::new(INVALID_INPUT, err.to_string()).non_retriable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_field_names_follow_the_contract() {
        let f = Failure::new("BadThing", "it broke")
            .with_details(json!({"code": 7}))
            .non_retriable()
            .with_cause(FailureCause::new("Io", "disk"));
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(
            v,
            json!({"type": "BadThing", "message": "it broke", "details": {"code": 7},
                   "nonRetriable": true, "inner": [{"type": "Io", "message": "disk"}]})
        );
        let back: Failure = serde_json::from_value(v).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn conversions() {
        assert_eq!(Failure::from("x").error_type, GENERIC_ERROR);
        assert_eq!(Failure::from(String::from("x")).message, "x");
        let e = serde_json::from_str::<u32>("\"a\"").unwrap_err();
        let f = Failure::from(e);
        assert_eq!(f.error_type, INVALID_INPUT);
        assert!(f.non_retriable);
        assert_eq!(Failure::new("A", "b").to_string(), "A: b");
    }
}
