//! Logging through the host: lines go to the `host.log` import, which tags them with the running
//! instance. Activities call [`log`] directly; orchestrators use `OrchestrationContext::log`,
//! which drops lines while replaying so each is recorded once.

/// How important a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogLevel {
    /// Very fine detail.
    Trace,
    /// Detail for debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the code handled.
    Warn,
    /// Something failed.
    Error,
}

/// Records a log line with the host. Use it from activities; in orchestrators prefer
/// `ctx.log(..)`, which is silent while replaying.
pub fn log(level: LogLevel, message: impl AsRef<str>) {
    crate::bindings::host_log(level, message.as_ref());
}
