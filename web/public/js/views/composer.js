// The composer of the open conversation: the text box (grows with its
// text; Enter sends, Shift+Enter starts a line), the character counter near
// the server's limit (GET /api/limits: the same number the server enforces),
// a clear refusal of an empty or too long message (the text is never cut),
// the draft of each conversation (kept for the tab across a reload) and
// `typing`.

import { parseKey } from '../chat.js';
import { $ } from '../dom.js';
import { limits } from '../limits.js';
import { sendMessage, state, subscribe } from '../store.js';

const COUNTER_FROM = 0.9; // the counter shows from this share of the limit on
const fmt = (n) => n.toLocaleString('en-US');

/** Characters as the server counts them (Unicode scalar values, not UTF-16 units). */
export const charCount = (text) => [...text].length;

let shownFor = null; // the conversation whose draft the box holds

const input = () => $('#composer-input');

function autosize() {
  const el = input();
  el.style.height = 'auto';
  el.style.height = `${Math.min(el.scrollHeight, 160)}px`;
}

/** A note under the box (`kind`: 'error' is announced at once), or none. */
function note(text, kind = 'info') {
  const el = $('#composer-note');
  el.textContent = text || '';
  el.dataset.kind = text ? kind : '';
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
}

/** How many characters over the limit the box is (0 when not, or while the limit is unknown). */
function over() {
  const max = limits()?.message_body_chars;
  return max ? Math.max(0, charCount(input().value) - max) : 0;
}

function renderCounter() {
  const max = limits()?.message_body_chars;
  const counter = $('#composer-count');
  const n = charCount(input().value);
  const send = $('#composer-send');
  if (!max || n < max * COUNTER_FROM) {
    counter.hidden = true;
    send.removeAttribute('aria-disabled');
    if ($('#composer-note').dataset.kind === 'too-long') note('');
    return;
  }
  const excess = n - max;
  counter.hidden = false;
  counter.textContent = excess > 0 ? `${fmt(excess)} over the limit` : `${fmt(n)} / ${fmt(max)}`;
  counter.dataset.over = String(excess > 0);
  counter.setAttribute('aria-label', excess > 0 ? `${fmt(n)} characters, ${fmt(excess)} over the limit of ${fmt(max)}` : `${fmt(n)} of ${fmt(max)} characters`);
  if (excess > 0) {
    send.setAttribute('aria-disabled', 'true');
    if ($('#composer-note').dataset.kind !== 'error') tooLong(n, max, 'too-long');
  } else {
    send.removeAttribute('aria-disabled');
    if (['too-long', 'error'].includes($('#composer-note').dataset.kind)) note('');
  }
}

function tooLong(n, max, kind) {
  note(`Too long to send: ${fmt(n)} characters, and a message holds at most ${fmt(max)}. Shorten it, or split it into several messages.`, kind);
}

/** Shows the draft of the open conversation (when another one opened). */
function showDraft() {
  const key = state.activeConv;
  if (key === shownFor) return;
  shownFor = key;
  input().value = key && state.tab ? state.tab.draft(key) : '';
  note('');
  autosize();
  renderCounter();
}

function submit() {
  const el = input();
  const body = el.value;
  if (!state.activeConv || !state.chat) return;
  if (!body.trim()) {
    note('Nothing to send: write a message first (spaces and empty lines alone are not sent).', 'error');
    el.focus();
    return;
  }
  if (over() > 0) {
    tooLong(charCount(body), limits().message_body_chars, 'error');
    el.focus();
    return;
  }
  sendMessage(parseKey(state.activeConv), body);
  el.value = '';
  state.tab?.setDraft(state.activeConv, '');
  note('');
  autosize();
  renderCounter();
  el.focus();
}

export function mount() {
  const el = input();
  el.addEventListener('input', () => {
    autosize();
    renderCounter();
    if ($('#composer-note').dataset.kind === 'error' && el.value.trim() && !over()) note('');
    if (!state.activeConv || !state.chat) return;
    state.tab?.setDraft(state.activeConv, el.value);
    if (el.value) state.chat.typing(parseKey(state.activeConv));
  });
  el.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      submit();
    }
  });
  $('#composer').addEventListener('submit', (ev) => {
    ev.preventDefault();
    submit();
  });

  subscribe((ev) => {
    if (ev.type === 'messages' || ev.type === 'render') showDraft();
    else if (ev.type === 'limits') renderCounter();
    else if (ev.type === 'signed-out') {
      shownFor = null;
      el.value = '';
      note('');
      renderCounter();
    }
  });
}
