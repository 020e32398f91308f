// The page's one REST client (the SDK's `Rest`), authenticated with the
// session's token.

import { Rest } from './sdk.js';
import { state } from './store.js';

let unauthorized = () => {};

export const api = new Rest({
  token: () => state.token,
  onUnauthorized: (err) => unauthorized(err),
});

/** Sets what a 401 of an authenticated call does (session.js: back to log in). */
export function onUnauthorized(fn) {
  unauthorized = fn;
}
