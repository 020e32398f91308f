// Chats: the conversation list, and the open conversation (header, messages
// with their read marks, older pages on demand, who is typing, composer).

import { parseKey } from '../chat.js';
import { $, h, replaceChildren, avatar, formatTime } from '../dom.js';
import { convTitle, nameOf, userById } from '../names.js';
import { openConversation, openGroup } from '../nav.js';
import { closeConversation, markRead, retryMessage, sendMessage, state, subscribe } from '../store.js';
import { loadHistory } from '../sync.js';
import { changed, presenceDot } from './common.js';

// ---- The list ---------------------------------------------------------------

function conversationEntries() {
  const keys = new Set();
  for (const g of state.groups) keys.add(`g:${g.id}`);
  for (const f of state.friends) keys.add(`u:${f.user.id}`);
  for (const c of state.chat?.convs.values() || []) if (c.messages.length || c.unread || c.lastSeq) keys.add(c.key);
  const entries = [];
  for (const key of keys) {
    const conv = state.chat?.convs.get(key);
    const last = conv?.messages[conv.messages.length - 1];
    const to = parseKey(key);
    entries.push({
      key,
      to,
      title: convTitle(key),
      unread: conv?.unread || 0,
      last,
      lastTs: last?.ts || 0,
      online: to.user !== undefined ? state.friendById.get(to.user)?.online : undefined,
      isFriend: to.user !== undefined ? state.friendById.has(to.user) : undefined,
      inGroup: to.group !== undefined ? state.groupById.has(to.group) : undefined,
    });
  }
  entries.sort((a, b) => b.lastTs - a.lastTs || a.title.localeCompare(b.title));
  return entries;
}

function preview(m) {
  if (!m) return '';
  const who = m.own ? 'You: ' : m.to?.group !== undefined ? `${nameOf(m.from)}: ` : '';
  return who + m.body.replace(/\s+/g, ' ').slice(0, 80);
}

function renderChats() {
  if (!state.chat) return;
  const entries = conversationEntries();
  const sig = JSON.stringify([entries.map((e) => [e.key, e.title, e.unread, e.online, e.last?.body, e.last?.status, e.last?.ts]), state.activeConv]);
  if (changed('convs', sig)) {
    const list = $('#conv-list');
    replaceChildren(
      list,
      entries.map((e) => {
        const user = e.to.user !== undefined ? userById(e.to.user) : null;
        const label = `${e.title}${e.to.group !== undefined ? ' (group)' : ''}${e.unread ? `, ${e.unread} unread` : ''}${
          e.online ? ', online' : ''
        }`;
        return h(
          'li',
          {},
          h(
            'button',
            {
              type: 'button',
              class: `conv-item${e.key === state.activeConv ? ' active' : ''}`,
              dataset: { key: e.key },
              'aria-label': label,
              'aria-current': e.key === state.activeConv ? 'true' : false,
              onclick: () => openConversation(e.to),
            },
            e.to.group !== undefined
              ? h('span', { class: 'avatar avatar-md group-avatar', 'aria-hidden': 'true' }, '#')
              : h('span', { class: 'avatar-wrap' }, avatar(user), presenceDot(e.online)),
            h(
              'span',
              { class: 'conv-text' },
              h('span', { class: 'conv-title' }, e.title),
              h('span', { class: 'conv-preview muted small' }, preview(e.last) || (e.to.group !== undefined ? 'Group' : 'Say hello')),
            ),
            h('span', { class: 'conv-side' }, e.last ? h('time', { class: 'muted small' }, formatTime(e.last.ts)) : null, e.unread ? h('span', { class: 'badge unread', dataset: { unread: e.unread } }, String(e.unread)) : null),
          ),
        );
      }),
    );
    $('#conv-empty').hidden = entries.length > 0;
  }
  $('#view-chats').classList.toggle('detail-open', !!state.activeConv);
  renderChatHeader();
}

// ---- The open conversation ------------------------------------------------------

function renderChatHeader() {
  const key = state.activeConv;
  $('#chat').hidden = !key;
  $('#chat-empty').hidden = !!key;
  if (!key) return;
  const to = parseKey(key);
  $('#chat-title').textContent = convTitle(key);
  let sub = '';
  if (to.group !== undefined) {
    const g = state.groupById.get(to.group);
    sub = g ? `Group · ${g.member_count} member${g.member_count === 1 ? '' : 's'}` : 'You are not in this group';
  } else {
    const f = state.friendById.get(to.user);
    sub = f ? (f.online ? 'Online' : 'Offline') : 'Not your friend';
  }
  $('#chat-sub').textContent = sub;
  $('#chat-info').hidden = !(to.group !== undefined && state.groupById.has(to.group));
}

let msgEls = new WeakMap(); // message → its <li>

/** Rebuilds the open conversation; `keepScroll`: older messages joined above, the view stays where it was. */
function renderMessages({ keepScroll = false } = {}) {
  const list = $('#messages');
  const fromBottom = list.scrollHeight - list.scrollTop;
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  replaceChildren(list);
  msgEls = new WeakMap();
  const conv = state.activeConv && state.chat?.convs.get(state.activeConv);
  renderOlderButton();
  renderTyping();
  if (!conv) return;
  for (const m of conv.messages) list.appendChild(messageEl(m));
  list.scrollTop = keepScroll && !atBottom ? list.scrollHeight - fromBottom : list.scrollHeight;
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
  const conv = state.activeConv && state.chat?.convs.get(state.activeConv);
  if (!conv) return;
  for (const m of conv.messages) if (m.own && m.status === 'sent') upsertMessage(m, { quiet: true });
  renderTyping();
}

function upsertMessage(m, { quiet = false } = {}) {
  const list = $('#messages');
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const old = msgEls.get(m);
  const el = messageEl(m);
  if (old && old.parentNode === list) old.replaceWith(el);
  else list.appendChild(el);
  msgEls.set(m, el);
  if (quiet) return;
  if (nearBottom || m.own) list.scrollTop = list.scrollHeight;
  if (!m.own && document.visibilityState === 'visible') markRead(state.activeConv);
  renderTyping();
}

/** How many others read own message `m` (0 for others' messages). */
function readersOf(m) {
  const conv = state.chat?.convs.get(state.activeConv);
  return m.own && conv ? state.chat.readCount(conv, m) : 0;
}

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

const FRIENDLY_WS = {
  not_friends: 'you are not friends',
  no_such_user: 'no such user',
  no_such_group: 'the group no longer exists',
  not_member: 'you are not in this group',
  too_large: 'the message is too long',
  invalid_frame: 'the message was refused',
};

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
    !m.own && group ? h('span', { class: 'author' }, author) : h('span', { class: 'sr-only' }, `${author}:`),
    h('p', { class: 'body' }, m.body),
    h('span', { class: 'meta' }, h('time', { datetime: new Date(m.ts).toISOString(), title: new Date(m.ts).toLocaleString() }, formatTime(m.ts)), messageStatus(m, readers)),
  );
  msgEls.set(m, el);
  return el;
}

// ---- Wiring -------------------------------------------------------------------------

export function mount() {
  $('#chat-back').addEventListener('click', () => closeConversation());
  $('#chat-info').addEventListener('click', () => {
    const to = state.activeConv && parseKey(state.activeConv);
    if (to?.group !== undefined) openGroup(to.group);
  });

  const input = $('#composer-input');
  const autosize = () => {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  };
  input.addEventListener('input', () => {
    autosize();
    if (input.value && state.activeConv && state.chat) state.chat.typing(parseKey(state.activeConv));
  });
  const loadOlder = () => {
    if (state.activeConv) loadHistory(parseKey(state.activeConv), { older: true }).catch(() => {});
  };
  $('#load-older').addEventListener('click', loadOlder);
  // Scrolled up to the top: the page before (the button stays for keyboards).
  $('#messages').addEventListener('scroll', (ev) => {
    if (ev.target.scrollTop < 40 && !$('#load-older').hidden) loadOlder();
  });
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      $('#composer').requestSubmit();
    }
  });
  $('#composer').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const body = input.value;
    if (!body.trim() || !state.activeConv || !state.chat) return;
    sendMessage(parseKey(state.activeConv), body);
    input.value = '';
    autosize();
    input.focus();
  });

  subscribe((ev) => {
    switch (ev.type) {
      case 'render':
        renderChats();
        break;
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
        if (state.view === 'chats' && state.activeConv && state.chat) {
          for (const m of state.chat.convs.get(state.activeConv)?.messages || []) if (m.status === 'pending') upsertMessage(m);
        }
        break;
      case 'signed-out':
        replaceChildren($('#messages'));
        break;
      default:
        break;
    }
  });
}
