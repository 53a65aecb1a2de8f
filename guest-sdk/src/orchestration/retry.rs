//! Retry policies for activities and sub-orchestrations, as Durable Functions' `RetryOptions`.
//!
//! A retrying call is a spawned future (see `background.rs`) that schedules attempt 1 at once
//! and, after each failure the [`RetryPolicy`] accepts, starts a durable timer for the backoff
//! delay and then schedules the next attempt as a new action, so every attempt and every wait is
//! in the history. After the last attempt (or when the total timeout would be exceeded, or the
//! failure is not retriable) it fails at once with the last failure: no timer is left behind.

use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use serde_json::Value;

use super::context::OrchestrationContext;
use super::state::Outcome;
use super::task::Task;
use crate::failure::{Failure, FailureCause};

/// Decides which failures a [`RetryPolicy`] retries (true: retry).
pub type RetryHandle = Rc<dyn Fn(&Failure) -> bool>;

/// The failure type of the cause a retrying call adds to its final failure's `inner` chain
/// when it made more than one attempt.
pub const RETRY_POLICY: &str = "RetryPolicy";

/// How a retrying call retries: after attempt `n` fails, wait
/// `min(first_retry_interval * backoff_coefficient^(n-1), max_retry_interval)` on a durable
/// timer, then try again, up to `max_number_of_attempts` attempts in all and only while the next
/// attempt would start within `retry_timeout` of the first one.
///
/// A failure marked `non_retriable` is never retried, nor one for which `handle` returns false.
///
/// ```
/// use std::time::Duration;
/// use durable_sdk::RetryPolicy;
/// let policy = RetryPolicy::new(5, Duration::from_secs(1))
///     .with_backoff_coefficient(2.0)
///     .with_max_retry_interval(Duration::from_secs(30))
///     .with_retry_timeout(Duration::from_secs(300))
///     .with_handle(|failure| !failure.is("InvalidInput"));
/// assert_eq!(policy.delay_after(3), Duration::from_secs(4));
/// ```
#[derive(Clone)]
pub struct RetryPolicy {
    /// The delay after the first failed attempt.
    pub first_retry_interval: Duration,
    /// Each further delay is the previous one times this (1.0: constant delays). Values that are
    /// not finite and positive count as 1.0.
    pub backoff_coefficient: f64,
    /// The longest delay (none: no cap).
    pub max_retry_interval: Option<Duration>,
    /// Attempts in all, the first included (0 counts as 1).
    pub max_number_of_attempts: u32,
    /// No attempt starts later than this after the first one started (none: no limit).
    pub retry_timeout: Option<Duration>,
    /// Only failures for which this returns true are retried (none: every retriable failure).
    pub handle: Option<RetryHandle>,
}

impl RetryPolicy {
    /// Up to `max_number_of_attempts` attempts, `first_retry_interval` apart, no backoff, no cap,
    /// no timeout, every retriable failure retried.
    pub fn new(max_number_of_attempts: u32, first_retry_interval: Duration) -> Self {
        RetryPolicy {
            first_retry_interval,
            backoff_coefficient: 1.0,
            max_retry_interval: None,
            max_number_of_attempts,
            retry_timeout: None,
            handle: None,
        }
    }

    /// Multiplies each delay by `coefficient` (exponential backoff).
    pub fn with_backoff_coefficient(mut self, coefficient: f64) -> Self {
        self.backoff_coefficient = coefficient;
        self
    }

    /// Caps every delay at `max`.
    pub fn with_max_retry_interval(mut self, max: Duration) -> Self {
        self.max_retry_interval = Some(max);
        self
    }

    /// Starts no attempt later than `timeout` after the first.
    pub fn with_retry_timeout(mut self, timeout: Duration) -> Self {
        self.retry_timeout = Some(timeout);
        self
    }

    /// Retries only failures for which `handle` returns true.
    pub fn with_handle(mut self, handle: impl Fn(&Failure) -> bool + 'static) -> Self {
        self.handle = Some(Rc::new(handle));
        self
    }

    /// The delay before the next attempt once attempt `attempt` (1 for the first) failed.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let coefficient = if self.backoff_coefficient.is_finite() && self.backoff_coefficient > 0.0
        {
            self.backoff_coefficient
        } else {
            1.0
        };
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let seconds = self.first_retry_interval.as_secs_f64() * coefficient.powi(exponent);
        let delay = Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX);
        match self.max_retry_interval {
            Some(max) => delay.min(max),
            None => delay,
        }
    }

    /// After attempt `attempt` failed with `failure` at `now_ms`, for a call whose first attempt
    /// started at `started_ms`: the delay before the next attempt, or why there is none.
    pub(crate) fn next_delay(
        &self,
        failure: &Failure,
        attempt: u32,
        started_ms: u64,
        now_ms: u64,
    ) -> Result<Duration, String> {
        if failure.non_retriable {
            return Err("the failure is not retriable".into());
        }
        if let Some(handle) = &self.handle
            && !handle(failure)
        {
            return Err("the retry policy does not handle this failure".into());
        }
        let attempts = self.max_number_of_attempts.max(1);
        if attempt >= attempts {
            return Err(format!("all {attempts} attempts failed"));
        }
        let delay = self.delay_after(attempt);
        if let Some(timeout) = self.retry_timeout {
            let next_start = now_ms.saturating_add(millis(delay));
            if next_start > started_ms.saturating_add(millis(timeout)) {
                return Err(format!(
                    "the next attempt would start after the retry timeout of {timeout:?}"
                ));
            }
        }
        Ok(delay)
    }
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("first_retry_interval", &self.first_retry_interval)
            .field("backoff_coefficient", &self.backoff_coefficient)
            .field("max_retry_interval", &self.max_retry_interval)
            .field("max_number_of_attempts", &self.max_number_of_attempts)
            .field("retry_timeout", &self.retry_timeout)
            .field(
                "handle",
                &self.handle.as_ref().map(|_| "Fn(&Failure) -> bool"),
            )
            .finish()
    }
}

pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Runs attempts (each a new task from `attempt`) until one succeeds or `policy` gives up.
/// Meant to be spawned: the first attempt is scheduled on the first poll.
pub(crate) async fn run_with_retry(
    ctx: OrchestrationContext,
    policy: RetryPolicy,
    mut start_attempt: impl FnMut() -> Task<Value>,
) -> Outcome {
    let started_ms = ctx.current_time_ms();
    let mut attempt = 1;
    loop {
        let failure = match start_attempt().await {
            Ok(value) => return Ok(value),
            Err(failure) => failure,
        };
        match policy.next_delay(&failure, attempt, started_ms, ctx.current_time_ms()) {
            Ok(delay) => {
                let fire_at = ctx.current_time_ms().saturating_add(millis(delay));
                ctx.create_timer_at_ms(fire_at).await?;
                attempt += 1;
            }
            Err(reason) if attempt > 1 => {
                let cause = FailureCause::new(
                    RETRY_POLICY,
                    format!("gave up after attempt {attempt}: {reason}"),
                );
                return Err(failure.with_cause(cause));
            }
            Err(_) => return Err(failure),
        }
    }
}
