// Retry policies, as Durable Functions' `RetryOptions`.
//
// A retrying call is a generator run beside the orchestrator: it schedules attempt 1 at once
// and, after each failure the policy accepts, waits on a durable timer for the backoff delay and
// schedules the next attempt as a new action, so every attempt and every wait is in the history.
// After the last attempt (or past the total timeout, or for a non-retriable failure) it fails at
// once with the last failure: no timer is left behind.

import { FailureCause, RETRY_POLICY, TaskFailedError } from './failure.js';

/**
 * After attempt n fails, wait `min(firstRetryIntervalInMilliseconds * backoffCoefficient^(n-1),
 * maxRetryIntervalInMilliseconds)`, up to `maxNumberOfAttempts` attempts in all, and only while
 * the next attempt starts within `retryTimeoutInMilliseconds` of the first. `handle(failure)`
 * returning false (or a non-retriable failure) stops at once.
 */
export class RetryOptions {
  constructor(firstRetryIntervalInMilliseconds, maxNumberOfAttempts, options = {}) {
    if (!(firstRetryIntervalInMilliseconds > 0)) {
      throw new RangeError('firstRetryIntervalInMilliseconds must be greater than 0');
    }
    this.firstRetryIntervalInMilliseconds = firstRetryIntervalInMilliseconds;
    this.maxNumberOfAttempts = maxNumberOfAttempts;
    this.backoffCoefficient = options.backoffCoefficient ?? 1;
    this.maxRetryIntervalInMilliseconds = options.maxRetryIntervalInMilliseconds ?? null;
    this.retryTimeoutInMilliseconds = options.retryTimeoutInMilliseconds ?? null;
    this.handle = options.handle ?? null;
  }

  /** Milliseconds to wait once attempt `attempt` (1 for the first) failed. */
  delayAfter(attempt) {
    let coefficient = this.backoffCoefficient;
    if (!(Number.isFinite(coefficient) && coefficient > 0)) coefficient = 1;
    let delay = Math.floor(this.firstRetryIntervalInMilliseconds * coefficient ** (attempt - 1));
    if (this.maxRetryIntervalInMilliseconds !== null) delay = Math.min(delay, this.maxRetryIntervalInMilliseconds);
    return delay;
  }

  /** The delay before the next attempt (a number), or (a string) why there is none. */
  nextDelay(failure, attempt, startedMs, nowMs) {
    if (failure.nonRetriable) return 'the failure is not retriable';
    if (this.handle !== null && !this.handle(failure)) return 'the retry policy does not handle this failure';
    const attempts = Math.max(this.maxNumberOfAttempts, 1);
    if (attempt >= attempts) return `all ${attempts} attempts failed`;
    const delay = this.delayAfter(attempt);
    const timeout = this.retryTimeoutInMilliseconds;
    if (timeout !== null && nowMs + delay > startedMs + timeout) {
      return `the next attempt would start after the retry timeout of ${timeout} ms`;
    }
    return delay;
  }
}

export function* runWithRetry(state, createTimerAtMs, options, startAttempt) {
  const startedMs = state.currentTimeMs;
  let attempt = 1;
  for (;;) {
    let failure;
    try {
      return yield startAttempt();
    } catch (error) {
      if (!(error instanceof TaskFailedError)) throw error;
      failure = error.failure;
    }
    const nowMs = state.currentTimeMs;
    const decision = options.nextDelay(failure, attempt, startedMs, nowMs);
    if (typeof decision === 'number') {
      yield createTimerAtMs(nowMs + decision);
      attempt += 1;
    } else if (attempt > 1) {
      throw new TaskFailedError(failure.withCause(new FailureCause(RETRY_POLICY, `gave up after attempt ${attempt}: ${decision}`)));
    } else {
      throw new TaskFailedError(failure);
    }
  }
}
