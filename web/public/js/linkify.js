// Message text with its web addresses as links, and nothing else as markup:
// the text goes into text nodes (never innerHTML), and an address becomes
// an <a> only if it parses as an http(s) URL. Links open in a new tab
// without giving it the page (`noopener`) or the address it came from
// (`noreferrer`).

import { h } from './dom.js';

// A candidate: `http(s)://…` or `www.…`, up to whitespace or a character
// that cannot be part of an address written in text.
const CANDIDATE = /\b(?:https?:\/\/|www\.)[^\s<>"'`]+/giu;
// Punctuation that ends a sentence rather than the address.
const TRAILING = /[.,;:!?…'"»)\]}]+$/u;

/** `text` cut where it stops being the address (trailing punctuation; an unbalanced closing bracket). */
function trimCandidate(text) {
  let url = text;
  for (;;) {
    const m = url.match(TRAILING);
    if (!m) return url;
    let cut = m[0].length;
    // Keep a `)` that closes a `(` inside the address (Wikipedia links).
    if (m[0].startsWith(')') && count(url, '(') > count(url.slice(0, -cut), ')')) cut -= 1;
    if (cut <= 0) return url;
    url = url.slice(0, -cut);
  }
}

const count = (s, c) => s.split(c).length - 1;

/** The http(s) URL `text` is, or null. */
export function toUrl(text) {
  try {
    const url = new URL(/^www\./i.test(text) ? `https://${text}` : text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
  } catch {
    return null;
  }
}

/** Nodes for `text`: text, with every address in it as a link. */
export function linkify(text) {
  const out = [];
  let at = 0;
  for (const m of text.matchAll(CANDIDATE)) {
    const shown = trimCandidate(m[0]);
    const url = shown.length > 4 ? toUrl(shown) : null;
    if (!url) continue;
    if (m.index > at) out.push(text.slice(at, m.index));
    out.push(h('a', { href: url.href, target: '_blank', rel: 'noopener noreferrer', dir: 'auto' }, shown));
    at = m.index + shown.length;
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}
