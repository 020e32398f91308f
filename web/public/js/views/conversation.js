// The open conversation's messages: in the server's order (seq), each with
// its author, its text (links made clickable, each line laid out in its
// own script's direction), time and status (sending, sent, read by N,
// refused with Retry); older pages on demand; who is typing.

import { parseKey } from '../chat.js';
import { $, h, replaceChildren, formatTime } from '../dom.js';
import { linkify } from '../linkify.js';
import { nameOf } from '../names.js';
import { markRead, retryMessage, state, subscribe } from '../store.js';
import { loadHistory } from '../sync.js';

let msgEls = new WeakMap(); // message → its <li>

const list = () => $('#messages');
const openConv = () => (state.activeConv && state.chat?.convs.get(state.activeConv)) || null;

/** Rebuilds the open conversation; `keepScroll`: older messages joined above, the view stays where it was. */
function renderMessages({ keepScroll = false } = {}) {
  const ol = list();
  const fromBottom = ol.scrollHeight - ol.scrollTop;
  const atBottom = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 80;
  replaceChildren(ol);
  msgEls = new WeakMap();
  const conv = openConv();
  renderOlderButton();
  renderTyping();
  if (!conv) return;
  for (const m of conv.messages) ol.appendChild(messageEl(m));
  ol.scrollTop = keepScroll && !atBottom ? ol.scrollHeight - fromBottom : ol.scrollHeight;
}

function renderOlderButton() {
  const key = state.activeConv;
  $('#load-older').hidden = !(key && state.chat?.oldest(key).more);
}

function renderTyping() {
  const key = state.activeConv;
  const typists = key && state.chat ? state.chat.typists(key) : [];
  $('#typing').textContent = typists.length ? `${typists.map(nameOf).join(', ')} ${typists.length === 1 ? 'is' : 'are'} typing…` : '';
}

/** Read marks changed: the own messages' statuses are redrawn. */
function renderMarks() {
  const conv = openConv();
  if (!conv) return;
  for (const m of conv.messages) if (m.own && m.status === 'sent') upsertMessage(m, { quiet: true });
  renderTyping();
}

/** Draws `m` in its place (after the message before it in the conversation). */
function upsertMessage(m, { quiet = false } = {}) {
  const ol = list();
  const nearBottom = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 80;
  const old = msgEls.get(m);
  const el = messageEl(m);
  if (old && old.parentNode === ol) old.replaceWith(el);
  else {
    const messages = openConv()?.messages || [];
    const next = messages.slice(messages.indexOf(m) + 1).find((x) => msgEls.get(x)?.parentNode === ol);
    ol.insertBefore(el, next ? msgEls.get(next) : null);
  }
  msgEls.set(m, el);
  if (quiet) return;
  if (nearBottom || m.own) ol.scrollTop = ol.scrollHeight;
  if (!m.own && document.visibilityState === 'visible') markRead(state.activeConv);
  renderTyping();
}

/** How many others read own message `m` (0 for others' messages). */
function readersOf(m) {
  const conv = openConv();
  return m.own && conv ? state.chat.readCount(conv, m) : 0;
}

const FRIENDLY_WS = {
  not_friends: 'you are not friends',
  no_such_user: 'no such user',
  no_such_group: 'the group no longer exists',
  not_member: 'you are not in this group',
  too_large: 'the message is too long',
  invalid_frame: 'the message was refused',
};

function messageStatus(m, readers) {
  if (!m.own) return null;
  const connected = state.conn.status === 'open';
  if (m.status === 'pending') {
    const text = connected ? 'Sending…' : 'Waiting for connection…';
    return h('span', { class: 'status pending' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text);
  }
  if (m.status === 'sent') {
    if (readers > 0) {
      const text = m.to?.group !== undefined ? `Read by ${readers}` : 'Read';
      return h('span', { class: 'status read' }, h('span', { 'aria-hidden': 'true' }, '✓✓ '), text);
    }
    return h('span', { class: 'status sent' }, h('span', { 'aria-hidden': 'true' }, '✓ '), 'Sent');
  }
  if (m.status === 'failed') {
    return h(
      'span',
      { class: 'status failed' },
      h('span', { class: 'error-text' }, `Not sent: ${FRIENDLY_WS[m.error?.code] || m.error?.message || m.error?.code}`),
      ' ',
      h('button', { type: 'button', class: 'btn btn-small retry', 'aria-label': 'Retry sending this message', onclick: () => retryMessage(m.cid) }, 'Retry'),
    );
  }
  return null;
}

function messageEl(m) {
  const group = m.to?.group !== undefined;
  const readers = readersOf(m);
  const author = m.own ? 'You' : nameOf(m.from);
  const el = h(
    'li',
    {
      class: `msg ${m.own ? 'own' : 'theirs'} status-${m.status}`,
      dataset: {
        status: m.status,
        msgId: m.msgId || '',
        cid: m.cid || '',
        from: String(m.from),
        seq: typeof m.seq === 'number' ? String(m.seq) : '',
        readBy: m.own ? String(readers) : '',
      },
    },
    !m.own && group ? h('span', { class: 'author', dir: 'auto' }, author) : h('span', { class: 'sr-only' }, `${author}:`),
    // dir=auto plus `unicode-bidi: plaintext` (app.css): every line takes
    // the direction of its first strong character.
    h('p', { class: 'body', dir: 'auto' }, linkify(m.body)),
    h('span', { class: 'meta' }, h('time', { datetime: new Date(m.ts).toISOString(), title: new Date(m.ts).toLocaleString() }, formatTime(m.ts)), messageStatus(m, readers)),
  );
  msgEls.set(m, el);
  return el;
}

export function mount() {
  const loadOlder = () => {
    if (state.activeConv) loadHistory(parseKey(state.activeConv), { older: true }).catch(() => {});
  };
  $('#load-older').addEventListener('click', loadOlder);
  // Scrolled up to the top: the page before (the button stays for keyboards).
  list().addEventListener('scroll', (ev) => {
    if (ev.target.scrollTop < 40 && !$('#load-older').hidden) loadOlder();
  });

  subscribe((ev) => {
    switch (ev.type) {
      case 'messages':
        renderMessages({ keepScroll: ev.keepScroll });
        break;
      case 'marks':
        renderMarks();
        break;
      case 'message':
        if (ev.conv === state.activeConv && state.view === 'chats') upsertMessage(ev.msg);
        break;
      case 'connection':
        // Pending messages say whether they wait for the connection.
        for (const m of (state.view === 'chats' && openConv()?.messages) || []) if (m.status === 'pending') upsertMessage(m);
        break;
      case 'signed-out':
        replaceChildren(list());
        break;
      default:
        break;
    }
  });
}
