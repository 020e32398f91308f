// Tiny DOM helpers: no framework, and never innerHTML with data (every text
// from the server goes through textContent).

/**
 * h('button', {class: 'x', onclick: fn, 'aria-label': 'y'}, 'text', child...)
 * Attributes: `class`, `dataset` (object), `on<event>` (listener), booleans
 * (true → present, false/null/undefined → absent), anything else as an attribute.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'value') el.value = value;
    else if (key === 'checked') el.checked = !!value;
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/** Replaces the children of `el`. */
export function replaceChildren(el, ...children) {
  el.textContent = '';
  append(el, children);
}

/** Initials for an avatar placeholder. */
export function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : (parts[0] || '?').slice(0, 2);
  return letters.toUpperCase();
}

/** An avatar: the user's image when set (falls back to initials if it fails to load). */
export function avatar(user, size = 'md') {
  const name = user?.display_name || user?.username || '?';
  const box = h('span', { class: `avatar avatar-${size}`, 'aria-hidden': 'true' }, initials(name));
  if (user?.avatar_url && /^https?:\/\//i.test(user.avatar_url)) {
    const img = h('img', { src: user.avatar_url, alt: '', referrerpolicy: 'no-referrer', loading: 'lazy' });
    img.addEventListener('error', () => img.remove());
    box.appendChild(img);
  }
  return box;
}

export function formatTime(ts) {
  const d = new Date(ts);
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return sameDay ? time : `${d.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`;
}
