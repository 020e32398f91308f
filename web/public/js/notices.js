// Notices: the toast, friendly texts for the REST error codes, and act(),
// which runs a user's action and reports its failure.

import { ApiError } from './sdk.js';
import { $ } from './dom.js';
import { limits } from './limits.js';
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

// Lengths come from the server's limits (limits.js), once read.
const withLimits = (known, unknown) => {
  const l = limits();
  return l ? known(l) : unknown;
};

export const FRIENDLY = {
  invalid_credentials: 'Wrong username or password.',
  username_taken: 'That username is taken.',
  get invalid_username() {
    return withLimits((l) => `Usernames are ${l.username_chars.min}–${l.username_chars.max} letters, digits, _ . or -.`, 'Usernames are letters, digits, _ . or -.');
  },
  get weak_password() {
    return withLimits((l) => `Passwords are ${l.password_chars.min}–${l.password_chars.max} characters.`, 'That password is too short or too long.');
  },
  get invalid_display_name() {
    return withLimits((l) => `Display names are 1–${l.display_name_chars} characters, not only spaces.`, 'Display names cannot be empty or too long.');
  },
  get invalid_bio() {
    return withLimits((l) => `The bio is at most ${l.bio_chars} characters.`, 'The bio is too long.');
  },
  invalid_avatar_url: 'The avatar must be an http(s) URL.',
  get invalid_search() {
    return withLimits((l) => `Search for 1–${l.search_chars} characters.`, 'That search is empty or too long.');
  },
  already_friends: 'You are friends already.',
  request_pending: 'A request is already pending between you two.',
  cannot_befriend_self: 'That is you.',
  request_not_pending: 'That request was already answered.',
  not_friends: 'Only friends can be added.',
  insufficient_role: 'Your role does not allow that.',
  owner_must_transfer: 'The owner must first give ownership to someone else.',
  get invalid_name() {
    return withLimits((l) => `Group names are 1–${l.group_name_chars} characters.`, 'Group names cannot be empty or too long.');
  },
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
