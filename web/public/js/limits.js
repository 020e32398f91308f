// The server's limits (GET /api/limits, no token needed): the one place the
// page takes lengths from — the composer's counter, the forms' checks and
// their `maxlength`s — so that the page never allows what the server refuses
// nor refuses what it allows. Until they are read nothing is checked here
// (the server still is); a failed read is tried again with back-off.

import { api } from './client.js';
import { $ } from './dom.js';
import { setLimits, state } from './store.js';

export const limits = () => state.limits;

/** `maxlength` of the plain fields (a message has none: it is never cut, it is refused). */
const MAXLENGTH = {
  '#register-username': (l) => l.username_chars.max,
  '#register-display': (l) => l.display_name_chars,
  '#register-password': (l) => l.password_chars.max,
  '#profile-display-input': (l) => l.display_name_chars,
  '#profile-bio-input': (l) => l.bio_chars,
  '#profile-avatar-input': (l) => l.avatar_url_chars,
  '#password-new': (l) => l.password_chars.max,
  '#group-create-name': (l) => l.group_name_chars,
  '#search-input': (l) => l.search_chars + 1, // a leading @ is allowed
};

function apply(l) {
  for (const [sel, of] of Object.entries(MAXLENGTH)) {
    const el = $(sel);
    const n = of(l);
    if (el && Number.isInteger(n)) el.maxLength = n;
  }
  $('#register-username-help').textContent = `${l.username_chars.min}–${l.username_chars.max} letters, digits, _ . or -`;
  $('#register-password-help').textContent = `${l.password_chars.min} to ${l.password_chars.max} characters`;
}

/** Reads the limits once (again after a failure, 1 s, 2 s, … up to 30 s apart). */
export async function loadLimits() {
  for (let wait = 1000; !state.limits; wait = Math.min(wait * 2, 30_000)) {
    try {
      const l = await api.limits();
      apply(l);
      setLimits(l);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
