// The page's one Api (api.js), authenticated with the session's token.

import { Api } from './api.js';
import { state } from './store.js';

let unauthorized = () => {};

export const api = new Api({
  token: () => state.token,
  onUnauthorized: (err) => unauthorized(err),
});

/** Sets what a 401 of an authenticated call does (session.js: back to log in). */
export function onUnauthorized(fn) {
  unauthorized = fn;
}
