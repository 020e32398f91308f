// Notices: the toast, friendly texts for the REST error codes, and act(),
// which runs a user's action and reports its failure.

import { ApiError } from './sdk.js';
import { $ } from './dom.js';
import { state } from './store.js';

let toastTimer = null;
export function toast(text, kind = 'error') {
  const el = $('#toast');
  el.textContent = text;
  el.className = `toast toast-${kind}`;
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.hidden = true;
  }, 5000);
}

export const FRIENDLY = {
  invalid_credentials: 'Wrong username or password.',
  username_taken: 'That username is taken.',
  invalid_username: 'Usernames are 3–32 letters, digits, _ . or -.',
  weak_password: 'Passwords are 8–128 characters.',
  invalid_display_name: 'Display names are 1–64 characters.',
  invalid_bio: 'The bio is at most 500 characters.',
  invalid_avatar_url: 'The avatar must be an http(s) URL.',
  invalid_search: 'Search for 1–32 characters.',
  already_friends: 'You are friends already.',
  request_pending: 'A request is already pending between you two.',
  cannot_befriend_self: 'That is you.',
  request_not_pending: 'That request was already answered.',
  not_friends: 'Only friends can be added.',
  insufficient_role: 'Your role does not allow that.',
  owner_must_transfer: 'The owner must first give ownership to someone else.',
  invalid_name: 'Group names are 1–64 characters.',
  group_full: 'The group is full.',
  no_such_group: 'That group no longer exists.',
  not_member: 'You are not in that group any more.',
  wrong_password: 'The current password is wrong.',
  network: 'The server cannot be reached. Check your connection.',
  rate_limited: 'Too many requests; try again in a moment.',
};

export const errorText = (e) => (e instanceof ApiError ? FRIENDLY[e.code] || e.message : String(e?.message || e));

/** Runs a user action, reporting a failure as a notice (or in `errorEl`). */
export async function act(fn, { errorEl } = {}) {
  try {
    if (errorEl) errorEl.textContent = '';
    return await fn();
  } catch (e) {
    // An expired session is handled by onUnauthorized (back to log in).
    if (e instanceof ApiError && e.status === 401 && e.code !== 'invalid_credentials' && !state.token) return undefined;
    if (errorEl) errorEl.textContent = errorText(e);
    else toast(errorText(e));
    return undefined;
  }
}
