// Reconnect timing ("Reconnecting" in docs/protocol.md).

export const BASE_DELAY_MS = 500;
export const MAX_DELAY_MS = 30_000;

/**
 * The wait before reconnect attempt `attempt` (0-based):
 * random(0.5, 1) × min(30 s, 0.5 s × 2^attempt).
 * @param {number} attempt
 * @param {() => number} [random]  a source in [0, 1)
 */
export function backoffDelay(attempt, random = Math.random) {
  const cap = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.min(Math.max(attempt, 0), 16));
  return Math.round(cap * (0.5 + random() * 0.5));
}

/**
 * The wait before re-sending a send answered `unavailable` or `rate_limited`
 * for the `n`-th time (1-based): random(0.5, 1) × min(10 s, 0.5 s × 2^n).
 * @param {number} n
 * @param {() => number} [random]
 */
export function retryDelay(n, random = Math.random) {
  const cap = Math.min(10_000, BASE_DELAY_MS * 2 ** Math.min(Math.max(n, 0), 5));
  return Math.round(cap * (0.5 + random() * 0.5));
}
