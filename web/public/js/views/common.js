// What the views share: render signatures (a list is rebuilt only when what
// it shows changed, which keeps focus and scroll otherwise), the presence
// dot, how a person's name is shown, and the "More" menu of a row.

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

/** A person's name as shown everywhere: the display name (whole, in its script's direction) over @username. */
export function nameBlock(user, ...extra) {
  const name = user?.display_name || user?.username || '…';
  return h(
    'span',
    { class: 'item-text' },
    h('span', { class: 'item-title', dir: 'auto', title: name }, name),
    h('span', { class: 'muted small' }, user ? `@${user.username}` : ''),
    ...extra,
  );
}

/** A "More" disclosure holding the destructive actions of a row, set apart from the everyday ones. */
export function moreMenu(label, ...buttons) {
  return h('details', { class: 'more' }, h('summary', { class: 'btn btn-small btn-quiet', 'aria-label': label, title: label }, '⋯'), h('div', { class: 'more-menu' }, ...buttons));
}
