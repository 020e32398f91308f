// The errors the SDK throws. Programs branch on `code` (the protocol's
// stable strings), never on `message`.

/** A REST call answered with an error (or did not reach the server: status 0, code `network`). */
export class ApiError extends Error {
  /**
   * @param {number} status  the HTTP status (0: no answer)
   * @param {string} code  the error body's `code`, or `http_<status>` / `network`
   * @param {string} [message]
   * @param {number|null} [retryAfter]  seconds, from `Retry-After` (429, 503)
   */
  constructor(status, code, message, retryAfter = null) {
    super(message || code);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** A `send` the server refused for good (an `error` frame other than `unavailable` / `rate_limited`). */
export class SendError extends Error {
  /**
   * @param {string} id  the client id of the send
   * @param {string} code  the `error` frame's code (`not_friends`, `too_large`, …)
   * @param {string} [message]
   */
  constructor(id, code, message) {
    super(message || code);
    this.name = 'SendError';
    this.id = id;
    this.code = code;
  }
}

/** The client was closed (or its session ended) before a send was confirmed. */
export class ClosedError extends Error {
  constructor(message = 'the client was closed') {
    super(message);
    this.name = 'ClosedError';
    this.code = 'closed';
  }
}
