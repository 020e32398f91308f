// What the views share: render signatures (a list is rebuilt only when what
// it shows changed, which keeps focus and scroll otherwise) and the presence dot.

import { h } from '../dom.js';

let sigs = {};

/** True when `sig` differs from last time for `name` (then build it). */
export function changed(name, sig) {
  if (sigs[name] === sig) return false;
  sigs[name] = sig;
  return true;
}

/** The next changed(name, …) is true. */
export function invalidate(name) {
  sigs[name] = null;
}

export function invalidateAll() {
  sigs = {};
}

export function presenceDot(online) {
  if (online === undefined) return null;
  return h('span', { class: `presence ${online ? 'online' : 'offline'}`, role: 'img', 'aria-label': online ? 'online' : 'offline', dataset: { online: String(!!online) } });
}
