// Chats: the conversation list, and the open conversation's header (title,
// presence or members, mute, group details). Its messages are drawn by
// conversation.js, its composer by composer.js.

import { parseKey } from '../chat.js';
import { $, h, replaceChildren, avatar, formatTime } from '../dom.js';
import { convTitle, nameOf, userById } from '../names.js';
import { openConversation, openGroup, showView } from '../nav.js';
import { closeConversation, setMuted, state, subscribe } from '../store.js';
import { notifying, permission, turnOff, turnOn } from '../notify.js';
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
  const muted = (key) => !!state.prefs?.isMuted(key);
  const sig = JSON.stringify([entries.map((e) => [e.key, e.title, e.unread, e.online, e.last?.body, e.last?.status, e.last?.ts, muted(e.key)]), state.activeConv]);
  if (changed('convs', sig)) {
    const list = $('#conv-list');
    replaceChildren(
      list,
      entries.map((e) => {
        const user = e.to.user !== undefined ? userById(e.to.user) : null;
        const label = `${e.title}${e.to.group !== undefined ? ' (group)' : ''}${e.unread ? `, ${e.unread} unread` : ''}${
          e.online ? ', online' : ''
        }${muted(e.key) ? ', muted' : ''}`;
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
              h('span', { class: 'conv-title', dir: 'auto', title: e.title }, e.title),
              h('span', { class: 'conv-preview muted small', dir: 'auto' }, preview(e.last) || (e.to.group !== undefined ? 'Group' : 'Say hello')),
            ),
            h(
              'span',
              { class: 'conv-side' },
              e.last ? h('time', { class: 'muted small' }, formatTime(e.last.ts)) : null,
              muted(e.key) ? h('span', { class: 'muted-mark muted small', title: 'Muted', dataset: { muted: 'true' } }, 'Muted') : null,
              e.unread ? h('span', { class: 'badge unread', dataset: { unread: e.unread } }, String(e.unread)) : null,
            ),
          ),
        );
      }),
    );
    $('#conv-empty').hidden = entries.length > 0;
  }
  $('#view-chats').classList.toggle('detail-open', !!state.activeConv);
  renderNotifyButton();
  renderChatHeader();
}

/** The notifications switch: hidden where the browser has none; explains a refusal. */
function renderNotifyButton() {
  const p = permission();
  const btn = $('#notify-btn');
  btn.hidden = p === 'unsupported';
  btn.textContent = notifying() ? 'Turn off notifications' : 'Turn on notifications';
  btn.dataset.on = String(notifying());
  const note = $('#notify-note');
  note.hidden = p !== 'denied';
  note.textContent = p === 'denied' ? 'Notifications are blocked for this site in the browser’s settings.' : '';
}

// ---- The open conversation's header ------------------------------------------

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
  const muted = !!state.prefs?.isMuted(key);
  const mute = $('#chat-mute');
  mute.textContent = muted ? 'Unmute' : 'Mute';
  mute.title = muted ? 'No notifications come for this conversation' : 'Stop notifications for this conversation';
  mute.dataset.muted = String(muted);
}

// ---- Wiring -------------------------------------------------------------------------

export function mount() {
  $('#chat-back').addEventListener('click', () => closeConversation());
  $('#chat-info').addEventListener('click', () => {
    const to = state.activeConv && parseKey(state.activeConv);
    if (to?.group !== undefined) openGroup(to.group);
  });
  $('#chat-mute').addEventListener('click', () => {
    const key = state.activeConv;
    if (key && state.prefs) setMuted(key, !state.prefs.isMuted(key));
  });
  $('#notify-btn').addEventListener('click', async () => {
    if (notifying()) turnOff();
    else await turnOn();
    renderNotifyButton();
  });
  $('#find-people').addEventListener('click', () => {
    showView('friends');
    $('#search-input').focus();
  });

  subscribe((ev) => {
    if (ev.type === 'render') renderChats();
  });
}
