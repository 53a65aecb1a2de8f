// Structured failures and the errors that carry them.
//
// A `Failure` keeps its `type` end to end: an activity's exception becomes one (its error name
// is the type), the host records it in the history as-is, the orchestrator sees it again as a
// `TaskFailedError`, and an uncaught one becomes the orchestration's own failure unchanged.

export const INVALID_INPUT = 'InvalidInput';
export const UNKNOWN_FUNCTION = 'UnknownFunction';
export const TIMEOUT = 'Timeout';
export const RETRY_POLICY = 'RetryPolicy';

/** One cause in a failure's chain of inner failures. */
export class FailureCause {
  constructor(type, message, details = null) {
    this.type = type;
    this.message = message;
    this.details = details;
  }
}

/** What an activity, orchestration or entity operation returns when it does not succeed. */
export class Failure {
  constructor(type, message, { details = null, stack = null, nonRetriable = false, inner = [] } = {}) {
    this.type = type;
    this.message = message;
    this.details = details;
    this.stack = stack;
    this.nonRetriable = nonRetriable;
    this.inner = inner;
  }

  withCause(cause) {
    return new Failure(this.type, this.message, {
      details: this.details,
      stack: this.stack,
      nonRetriable: this.nonRetriable,
      inner: [...this.inner, cause],
    });
  }

  /**
   * The failure an uncaught exception stands for: a `TaskFailedError` gives back the failure it
   * carries; an `Error` becomes one typed by its name (or its class name when the name is just
   * `Error`); anything else thrown is an `Error` with its text as the message.
   */
  static fromException(error) {
    if (error instanceof TaskFailedError) return error.failure;
    if (!(error instanceof Error)) {
      return new Failure('Error', String(error));
    }
    let type = error.name;
    if (!type || type === 'Error') type = error.constructor?.name || 'Error';
    let details = error.details === undefined ? null : error.details;
    try {
      JSON.stringify(details);
    } catch {
      details = String(details);
    }
    return new Failure(type, String(error.message ?? ''), {
      details,
      stack: typeof error.stack === 'string' ? error.stack : null,
      nonRetriable: Boolean(error.nonRetriable),
    });
  }
}

/**
 * Base for errors that carry structured details: `throw new InsufficientFunds('...', { details:
 * { balance: 3 } })` (with `class InsufficientFunds extends DurableError {}`) fails with type
 * `InsufficientFunds` and those details.
 */
export class DurableError extends Error {
  constructor(message = '', { details = null, nonRetriable = false } = {}) {
    super(message);
    this.name = new.target.name;
    this.details = details;
    this.nonRetriable = nonRetriable;
  }
}

/**
 * Thrown at the `yield` of a task that failed (an activity, a sub-orchestration, a retried call,
 * a timed wait); `failure` is the structured failure, unchanged.
 */
export class TaskFailedError extends Error {
  constructor(failure) {
    super(failure.message);
    this.name = 'TaskFailedError';
    this.failure = failure;
  }

  get type() {
    return this.failure.type;
  }

  get details() {
    return this.failure.details;
  }
}
