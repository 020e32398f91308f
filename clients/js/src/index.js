// Confab's JavaScript client. See README.md.

export { Confab } from './client.js';
export { Rest } from './rest.js';
export { ApiError, SendError, ClosedError } from './errors.js';
export { backoffDelay, retryDelay } from './backoff.js';
export { SeenIds } from './seen.js';
export { Outbox } from './outbox.js';
export { target, convKey, parseConvKey, conversationOf } from './conv.js';
