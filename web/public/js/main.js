// Confab web client: the page's state, rendering and event handlers.
// Written against docs/protocol.md only. No framework, no build step.

import { Api, ApiError } from './api.js';
import { Chat, convKey, parseKey } from './chat.js';
import { $, $$, h, replaceChildren, avatar, formatTime } from './dom.js';

const SESSION_KEY = 'confab.v1.session';
const POLL_MS = 5_000; // friends (online dots) and requests
const POLL_HIDDEN_MS = 30_000;
const GROUPS_EVERY = 2; // groups every 2nd poll

// ---------------------------------------------------------------------------
// State

const S = {
  token: null,
  me: null,
  chat: null,
  friends: [], // [Friend]
  friendById: new Map(),
  requests: { incoming: [], outgoing: [] },
  groups: [], // [Group summary]
  groupById: new Map(),
  groupDetails: new Map(), // id → Group details
  users: new Map(), // id → User (profiles seen anywhere)
  userFetches: new Map(),
  view: 'chats',
  activeConv: null, // 'u:2' | 'g:1'
  activeGroup: null, // group id in the Groups view
  searchResults: null,
  conn: { status: 'idle' },
  everConnected: false,
  pollTimer: null,
  pollCount: 0,
  lastTokenCheck: 0,
  sigs: {}, // render signatures, to skip re-rendering unchanged lists
};

const api = new Api({
  token: () => S.token,
  onUnauthorized: (err) => {
    if (S.token && (err.code === 'token_expired' || err.code === 'invalid_token' || err.code === 'missing_token')) {
      logout({ forget: false, notice: 'Your session has expired. Please log in again.' });
    }
  },
});

// ---------------------------------------------------------------------------
// Notices

let toastTimer = null;
function toast(text, kind = 'error') {
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

const FRIENDLY = {
  invalid_credentials: 'Wrong username or password.',
  username_taken: 'That username is taken.',
  invalid_username: 'Usernames are 3–32 letters, digits, _ . or -.',
  weak_password: 'Passwords are 8–128 characters.',
  invalid_display_name: 'Display names are 1–64 characters.',
  invalid_bio: 'The bio is at most 500 characters.',
  invalid_avatar_url: 'The avatar must be an http(s) URL.',
  invalid_search: 'Search for 1–32 characters.',
  already_friends: 'You are friends already.',
  request_pending: 'A request is already pending between you two.',
  cannot_befriend_self: 'That is you.',
  request_not_pending: 'That request was already answered.',
  not_friends: 'Only friends can be added.',
  insufficient_role: 'Your role does not allow that.',
  owner_must_transfer: 'The owner must first give ownership to someone else.',
  invalid_name: 'Group names are 1–64 characters.',
  group_full: 'The group is full.',
  no_such_group: 'That group no longer exists.',
  not_member: 'You are not in that group any more.',
  wrong_password: 'The current password is wrong.',
  network: 'The server cannot be reached. Check your connection.',
  rate_limited: 'Too many requests; try again in a moment.',
};
const errorText = (e) => (e instanceof ApiError ? FRIENDLY[e.code] || e.message : String(e?.message || e));

/** Runs a user action, reporting a failure as a notice. */
async function act(fn, { errorEl } = {}) {
  try {
    if (errorEl) errorEl.textContent = '';
    return await fn();
  } catch (e) {
    // An expired session is handled by onUnauthorized (back to log in).
    if (e instanceof ApiError && e.status === 401 && e.code !== 'invalid_credentials' && !S.token) return undefined;
    if (errorEl) errorEl.textContent = errorText(e);
    else toast(errorText(e));
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// Users and names

function rememberUser(user) {
  if (user && typeof user.id === 'number') S.users.set(user.id, user);
}

function userById(id) {
  if (S.me && id === S.me.id) return S.me;
  return S.users.get(id) || null;
}

function nameOf(id) {
  const u = userById(id);
  if (u) return u.display_name || u.username;
  ensureUser(id);
  return `User ${id}`;
}

function ensureUser(id) {
  if (S.users.has(id) || S.userFetches.has(id) || !S.token) return;
  const p = api
    .user(id)
    .then((u) => {
      rememberUser(u);
      renderSoon();
    })
    .catch(() => {})
    .finally(() => setTimeout(() => S.userFetches.delete(id), 30_000));
  S.userFetches.set(id, p);
}

function convTitle(key) {
  const to = parseKey(key);
  if (to.group !== undefined) {
    return S.groupById.get(to.group)?.name || S.chat?.convs.get(key)?.title || `Group ${to.group}`;
  }
  return nameOf(to.user);
}

// ---------------------------------------------------------------------------
// Session

function saveSession() {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({ token: S.token, me: S.me }));
}

async function boot() {
  wireStatic();
  let saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
  } catch {
    saved = null;
  }
  if (saved?.token) {
    S.token = saved.token;
    S.me = saved.me;
    try {
      S.me = await api.me();
      saveSession();
      startSession();
      return;
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) {
        // The server is unreachable: start anyway with what we have; it reconnects.
        if (S.me) {
          startSession();
          return;
        }
      }
      S.token = null;
      S.me = null;
      sessionStorage.removeItem(SESSION_KEY);
    }
  }
  showAuth();
}

function showAuth(notice) {
  $('#app-view').hidden = true;
  $('#auth-view').hidden = false;
  $('#banner').hidden = true;
  document.title = 'Confab';
  if (notice) $('#login-error').textContent = notice;
  setAuthTab('login');
  $('#login-username').focus();
}

function onAuthenticated({ token, user }) {
  S.token = token;
  S.me = user;
  saveSession();
  for (const f of $$('#auth-view form')) f.reset();
  startSession();
}

function startSession() {
  rememberUser(S.me);
  $('#auth-view').hidden = true;
  $('#app-view').hidden = false;
  S.view = 'chats';
  S.activeConv = null;
  S.activeGroup = null;
  S.everConnected = false;
  S.chat = new Chat({
    me: S.me,
    token: () => S.token,
    onChange: onChatChange,
    onConnection: onConnectionState,
    onHandshakeFailure: checkToken,
    isVisible: (key) =>
      S.view === 'chats' && S.activeConv === key && document.visibilityState === 'visible' && !$('#app-view').hidden,
  });
  // Names of conversations kept from before (groups may have been left since).
  S.chat.start();
  renderAll();
  refreshAll();
  schedulePoll();
}

function logout({ forget = true, notice } = {}) {
  if (!S.token) return;
  if (S.chat) S.chat.stop({ forget });
  S.chat = null;
  clearTimeout(S.pollTimer);
  S.token = null;
  S.me = null;
  S.friends = [];
  S.friendById = new Map();
  S.requests = { incoming: [], outgoing: [] };
  S.groups = [];
  S.groupById = new Map();
  S.groupDetails = new Map();
  S.users = new Map();
  S.searchResults = null;
  S.sigs = {};
  sessionStorage.removeItem(SESSION_KEY);
  replaceChildren($('#messages'));
  replaceChildren($('#search-results'));
  $('#search-input').value = '';
  showAuth(notice);
}

/** The socket could not open: if the token expired, go back to log in. */
async function checkToken() {
  if (Date.now() - S.lastTokenCheck < 5000) return;
  S.lastTokenCheck = Date.now();
  try {
    await api.me(); // a 401 logs out through onUnauthorized
  } catch {
    /* offline: keep trying */
  }
}

// ---------------------------------------------------------------------------
// Loading and polling

async function refreshFriends() {
  const friends = await api.friends();
  S.friends = friends;
  S.friendById = new Map(friends.map((f) => [f.user.id, f]));
  for (const f of friends) rememberUser(f.user);
  renderSoon();
}

async function refreshRequests() {
  S.requests = await api.friendRequests();
  for (const r of [...S.requests.incoming, ...S.requests.outgoing]) {
    ensureUser(r.from === S.me.id ? r.to : r.from);
  }
  renderSoon();
}

async function refreshGroups() {
  const groups = await api.groups();
  S.groups = groups;
  S.groupById = new Map(groups.map((g) => [g.id, g]));
  for (const g of groups) S.chat?.setTitle({ group: g.id }, g.name);
  for (const id of [...S.groupDetails.keys()]) if (!S.groupById.has(id)) S.groupDetails.delete(id);
  renderSoon();
}

async function refreshGroup(id) {
  try {
    const d = await api.group(id);
    setGroupDetails(d);
  } catch (e) {
    if (e instanceof ApiError && (e.code === 'no_such_group' || e.code === 'not_member')) {
      S.groupDetails.delete(id);
      if (S.activeGroup === id) S.activeGroup = null;
      await refreshGroups().catch(() => {});
    }
    throw e;
  }
}

function setGroupDetails(d) {
  S.groupDetails.set(d.id, d);
  for (const m of d.members) rememberUser(m.user);
  const summary = S.groupById.get(d.id);
  if (summary) {
    summary.name = d.name;
    summary.member_count = d.members.length;
    summary.owner_id = d.owner_id;
    summary.role = d.members.find((m) => m.user.id === S.me.id)?.role || summary.role;
  }
  S.chat?.setTitle({ group: d.id }, d.name);
  renderSoon();
}

function refreshAll() {
  return Promise.allSettled([refreshFriends(), refreshRequests(), refreshGroups()]);
}

let groupsSoonTimer = null;
function refreshGroupsSoon() {
  if (groupsSoonTimer) return;
  groupsSoonTimer = setTimeout(() => {
    groupsSoonTimer = null;
    if (S.token) refreshGroups().catch(() => {});
  }, 300);
}

function schedulePoll() {
  clearTimeout(S.pollTimer);
  const wait = document.visibilityState === 'visible' ? POLL_MS : POLL_HIDDEN_MS;
  S.pollTimer = setTimeout(poll, wait);
}

async function poll() {
  if (!S.token) return;
  S.pollCount += 1;
  const jobs = [refreshFriends(), refreshRequests()];
  if (S.pollCount % GROUPS_EVERY === 0) jobs.push(refreshGroups());
  const openGroup = S.view === 'groups' ? S.activeGroup : null;
  const chatGroup = S.view === 'chats' && S.activeConv?.startsWith('g:') ? parseKey(S.activeConv).group : null;
  for (const id of new Set([openGroup, chatGroup])) {
    if (id !== null && id !== undefined && S.groupById.has(id)) jobs.push(refreshGroup(id));
  }
  await Promise.allSettled(jobs);
  if (S.token) schedulePoll();
}

// ---------------------------------------------------------------------------
// Chat events

function onChatChange({ conv, msg, list, incoming }) {
  if (incoming) {
    const to = incoming.to;
    if (to.group !== undefined && !S.groupById.has(to.group)) refreshGroupsSoon();
    if (!userById(incoming.from)) ensureUser(incoming.from);
  }
  if (conv && msg && conv === S.activeConv && S.view === 'chats') upsertMessage(msg);
  if (list) renderSoon();
}

function onConnectionState(state) {
  S.conn = state;
  if (state.status === 'open') S.everConnected = true;
  renderConnection();
  // Pending messages say whether they wait for the connection.
  if (S.view === 'chats' && S.activeConv && S.chat) {
    for (const m of S.chat.convs.get(S.activeConv)?.messages || []) if (m.status === 'pending') upsertMessage(m);
  }
}

// ---------------------------------------------------------------------------
// Rendering

let renderQueued = false;
function renderSoon() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    if (S.token) renderAll();
  });
}

function renderAll() {
  renderTopbar();
  renderTabs();
  renderConnection();
  renderChats();
  renderFriends();
  renderGroups();
  renderProfile();
}

/** Calls build() only when sig differs from last time (keeps focus and scroll otherwise). */
function changed(name, sig) {
  if (S.sigs[name] === sig) return false;
  S.sigs[name] = sig;
  return true;
}

function renderTopbar() {
  $('#me-name').textContent = S.me ? `${S.me.display_name} (@${S.me.username})` : '';
}

function renderTabs() {
  for (const b of $$('.tabs .tab')) {
    const on = b.dataset.view === S.view;
    b.classList.toggle('active', on);
    if (on) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  for (const v of ['chats', 'friends', 'groups', 'profile']) $(`#view-${v}`).hidden = S.view !== v;
  const unread = S.chat?.totalUnread() || 0;
  const bc = $('#badge-chats');
  bc.hidden = unread === 0;
  bc.textContent = String(unread);
  bc.setAttribute('aria-label', `${unread} unread`);
  const reqs = S.requests.incoming.length;
  const bf = $('#badge-friends');
  bf.hidden = reqs === 0;
  bf.textContent = String(reqs);
  bf.setAttribute('aria-label', `${reqs} friend requests`);
  document.title = unread ? `(${unread}) Confab` : 'Confab';
}

function renderConnection() {
  const st = S.conn;
  const dot = $('#conn-state');
  const label = {
    open: 'Connected',
    connecting: 'Connecting',
    waiting: 'Disconnected',
    fatal: 'Disconnected',
    idle: 'Not connected',
  }[st.status];
  dot.dataset.state = st.status;
  dot.setAttribute('aria-label', `Connection: ${label}`);
  dot.title = label;
  const banner = $('#banner');
  let text = '';
  if (st.status === 'waiting') {
    const secs = Math.max(0, Math.ceil((st.retryAt - Date.now()) / 1000));
    const why = st.offline ? 'You are offline' : `Connection lost (${st.reason})`;
    text = `${why}. Reconnecting${secs > 0 ? ` in ${secs} s` : '…'} — unsent messages will be sent then.`;
  } else if (st.status === 'connecting' && (S.everConnected || st.attempt > 0)) {
    text = 'Reconnecting…';
  } else if (st.status === 'fatal') {
    text = st.reason;
  }
  banner.hidden = !text || !S.token;
  banner.dataset.state = st.status;
  $('#banner-text').textContent = text;
  $('#banner-retry').hidden = st.status !== 'waiting' && st.status !== 'fatal';
}

// ---- Chats ------------------------------------------------------------------

function conversationEntries() {
  const keys = new Set();
  for (const g of S.groups) keys.add(`g:${g.id}`);
  for (const f of S.friends) keys.add(`u:${f.user.id}`);
  for (const c of S.chat?.convs.values() || []) if (c.messages.length || c.unread) keys.add(c.key);
  const entries = [];
  for (const key of keys) {
    const conv = S.chat?.convs.get(key);
    const last = conv?.messages[conv.messages.length - 1];
    const to = parseKey(key);
    entries.push({
      key,
      to,
      title: convTitle(key),
      unread: conv?.unread || 0,
      last,
      lastTs: last?.ts || 0,
      online: to.user !== undefined ? S.friendById.get(to.user)?.online : undefined,
      isFriend: to.user !== undefined ? S.friendById.has(to.user) : undefined,
      inGroup: to.group !== undefined ? S.groupById.has(to.group) : undefined,
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
  if (!S.chat) return;
  const entries = conversationEntries();
  const sig = JSON.stringify([entries.map((e) => [e.key, e.title, e.unread, e.online, e.last?.body, e.last?.status, e.last?.ts]), S.activeConv]);
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
              class: `conv-item${e.key === S.activeConv ? ' active' : ''}`,
              dataset: { key: e.key },
              'aria-label': label,
              'aria-current': e.key === S.activeConv ? 'true' : false,
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
  $('#view-chats').classList.toggle('detail-open', !!S.activeConv);
  renderChatHeader();
}

function presenceDot(online) {
  if (online === undefined) return null;
  return h('span', { class: `presence ${online ? 'online' : 'offline'}`, role: 'img', 'aria-label': online ? 'online' : 'offline', dataset: { online: String(!!online) } });
}

function renderChatHeader() {
  const key = S.activeConv;
  $('#chat').hidden = !key;
  $('#chat-empty').hidden = !!key;
  if (!key) return;
  const to = parseKey(key);
  $('#chat-title').textContent = convTitle(key);
  let sub = '';
  if (to.group !== undefined) {
    const g = S.groupById.get(to.group);
    sub = g ? `Group · ${g.member_count} member${g.member_count === 1 ? '' : 's'}` : 'You are not in this group';
  } else {
    const f = S.friendById.get(to.user);
    sub = f ? (f.online ? 'Online' : 'Offline') : 'Not your friend';
  }
  $('#chat-sub').textContent = sub;
  $('#chat-info').hidden = !(to.group !== undefined && S.groupById.has(to.group));
}

function openConversation(to) {
  const key = convKey(to);
  S.chat.conv(to);
  S.view = 'chats';
  S.activeConv = key;
  S.chat.markRead(key);
  if (to.group !== undefined && !S.groupDetails.has(to.group) && S.groupById.has(to.group)) refreshGroup(to.group).catch(() => {});
  renderAll();
  renderMessages();
  const input = $('#composer-input');
  if (window.matchMedia('(min-width: 720px)').matches) input.focus();
}

function renderMessages() {
  const list = $('#messages');
  replaceChildren(list);
  msgEls = new WeakMap();
  const conv = S.activeConv && S.chat?.convs.get(S.activeConv);
  if (!conv) return;
  for (const m of conv.messages) list.appendChild(messageEl(m));
  list.scrollTop = list.scrollHeight;
}

let msgEls = new WeakMap();

function upsertMessage(m) {
  const list = $('#messages');
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const old = msgEls.get(m);
  const el = messageEl(m);
  if (old && old.parentNode === list) old.replaceWith(el);
  else list.appendChild(el);
  msgEls.set(m, el);
  if (nearBottom || m.own) list.scrollTop = list.scrollHeight;
  if (!m.own && document.visibilityState === 'visible') S.chat.markRead(S.activeConv);
}

function messageStatus(m) {
  if (!m.own) return null;
  const connected = S.conn.status === 'open';
  if (m.status === 'pending') {
    const text = m.retrying ? 'Retrying…' : connected ? 'Sending…' : 'Waiting for connection…';
    return h('span', { class: 'status pending' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text);
  }
  if (m.status === 'sent') return h('span', { class: 'status sent' }, h('span', { 'aria-hidden': 'true' }, '✓ '), 'Sent');
  if (m.status === 'failed') {
    return h(
      'span',
      { class: 'status failed' },
      h('span', { class: 'error-text' }, `Not sent: ${FRIENDLY_WS[m.error?.code] || m.error?.message || m.error?.code}`),
      ' ',
      h('button', { type: 'button', class: 'btn btn-small retry', 'aria-label': 'Retry sending this message', onclick: () => S.chat.retry(m.cid) }, 'Retry'),
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
  const author = m.own ? 'You' : nameOf(m.from);
  const el = h(
    'li',
    {
      class: `msg ${m.own ? 'own' : 'theirs'} status-${m.status}`,
      dataset: { status: m.status, msgId: m.msgId || '', cid: m.cid || '', from: String(m.from) },
    },
    !m.own && group ? h('span', { class: 'author' }, author) : h('span', { class: 'sr-only' }, `${author}:`),
    h('p', { class: 'body' }, m.body),
    h('span', { class: 'meta' }, h('time', { datetime: new Date(m.ts).toISOString(), title: new Date(m.ts).toLocaleString() }, formatTime(m.ts)), messageStatus(m)),
  );
  msgEls.set(m, el);
  return el;
}

// ---- Friends ----------------------------------------------------------------

function requestBetween(userId) {
  const out = S.requests.outgoing.find((r) => r.to === userId);
  if (out) return { dir: 'out', req: out };
  const inc = S.requests.incoming.find((r) => r.from === userId);
  if (inc) return { dir: 'in', req: inc };
  return null;
}

function userLine(user, ...extra) {
  return [
    avatar(user),
    h('span', { class: 'item-text' }, h('span', { class: 'item-title' }, user?.display_name || user?.username || '…'), h('span', { class: 'muted small' }, user ? `@${user.username}` : ''), ...extra),
  ];
}

function renderFriends() {
  if (!S.me) return;
  // Search results
  const results = S.searchResults;
  const rsig = JSON.stringify([results, S.requests, [...S.friendById.keys()]]);
  if (changed('search', rsig)) {
    const ul = $('#search-results');
    if (!results) replaceChildren(ul);
    else if (!results.length) replaceChildren(ul, h('li', { class: 'empty' }, 'Nobody found.'));
    else
      replaceChildren(
        ul,
        results.map((u) => {
          let action;
          const rel = requestBetween(u.id);
          const name = u.display_name || u.username;
          if (u.id === S.me.id) action = h('span', { class: 'muted small' }, 'You');
          else if (S.friendById.has(u.id)) action = h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Message ${name}`, onclick: () => openConversation({ user: u.id }) }, 'Message');
          else if (rel?.dir === 'out') action = h('span', { class: 'muted small' }, 'Request sent');
          else if (rel?.dir === 'in')
            action = h('button', { type: 'button', class: 'btn btn-small btn-primary', 'aria-label': `Accept friend request from ${name}`, onclick: () => acceptRequest(rel.req) }, 'Accept');
          else
            action = h('button', { type: 'button', class: 'btn btn-small btn-primary', 'aria-label': `Add ${name} as a friend`, onclick: () => sendRequest(u) }, 'Add friend');
          return h('li', { class: 'item', dataset: { userId: u.id, username: u.username } }, userLine(u), action);
        }),
      );
  }

  // Requests
  const qsig = JSON.stringify([S.requests, [...S.requests.incoming, ...S.requests.outgoing].map((r) => userById(r.from === S.me.id ? r.to : r.from)?.display_name)]);
  if (changed('requests', qsig)) {
    const inc = S.requests.incoming;
    replaceChildren(
      $('#incoming-list'),
      inc.length
        ? inc.map((r) => {
            const u = userById(r.from);
            const name = u?.display_name || `User ${r.from}`;
            return h(
              'li',
              { class: 'item', dataset: { requestId: r.id, userId: r.from, username: u?.username || '' } },
              userLine(u),
              h(
                'span',
                { class: 'actions' },
                h('button', { type: 'button', class: 'btn btn-small btn-primary', 'aria-label': `Accept friend request from ${name}`, onclick: () => acceptRequest(r) }, 'Accept'),
                h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Decline friend request from ${name}`, onclick: () => declineRequest(r) }, 'Decline'),
              ),
            );
          })
        : h('li', { class: 'empty' }, 'No requests.'),
    );
    const out = S.requests.outgoing;
    replaceChildren(
      $('#outgoing-list'),
      out.length
        ? out.map((r) => h('li', { class: 'item', dataset: { requestId: r.id, userId: r.to } }, userLine(userById(r.to)), h('span', { class: 'muted small' }, 'Waiting')))
        : h('li', { class: 'empty' }, 'None pending.'),
    );
  }

  // Friend list
  const fsig = JSON.stringify(S.friends);
  if (changed('friends', fsig)) {
    replaceChildren(
      $('#friend-list'),
      S.friends.length
        ? S.friends.map((f) => {
            const name = f.user.display_name || f.user.username;
            return h(
              'li',
              { class: 'item', dataset: { userId: f.user.id, username: f.user.username, online: String(f.online) } },
              h('span', { class: 'avatar-wrap' }, avatar(f.user), presenceDot(f.online)),
              h('span', { class: 'item-text' }, h('span', { class: 'item-title' }, name), h('span', { class: 'muted small' }, `@${f.user.username} · ${f.online ? 'online' : 'offline'}`), f.user.bio ? h('span', { class: 'small bio-line' }, f.user.bio) : null),
              h(
                'span',
                { class: 'actions' },
                h('button', { type: 'button', class: 'btn btn-small btn-primary', 'aria-label': `Message ${name}`, onclick: () => openConversation({ user: f.user.id }) }, 'Message'),
                h('button', { type: 'button', class: 'btn btn-small btn-danger', 'aria-label': `Remove ${name} from friends`, onclick: () => removeFriend(f.user) }, 'Remove'),
              ),
            );
          })
        : h('li', { class: 'empty' }, 'No friends yet: search for people above.'),
    );
  }
}

async function sendRequest(user) {
  await act(async () => {
    await api.sendFriendRequest(user.id);
    toast(`Friend request sent to ${user.display_name || user.username}.`, 'info');
    await refreshRequests();
  });
}

async function acceptRequest(r) {
  await act(async () => {
    const friend = await api.acceptRequest(r.id);
    rememberUser(friend.user);
    toast(`You and ${friend.user.display_name} are now friends.`, 'info');
    await Promise.allSettled([refreshFriends(), refreshRequests()]);
  });
}

async function declineRequest(r) {
  await act(async () => {
    await api.declineRequest(r.id);
    await refreshRequests();
  });
}

async function removeFriend(user) {
  const name = user.display_name || user.username;
  if (!window.confirm(`Remove ${name} from your friends?`)) return;
  await act(async () => {
    await api.removeFriend(user.id);
    await refreshFriends();
  });
}

// ---- Groups -----------------------------------------------------------------

function renderGroups() {
  if (!S.me) return;
  const gsig = JSON.stringify([S.groups, S.activeGroup]);
  if (changed('groups', gsig)) {
    replaceChildren(
      $('#group-list'),
      S.groups.length
        ? S.groups.map((g) =>
            h(
              'li',
              {},
              h(
                'button',
                {
                  type: 'button',
                  class: `conv-item${g.id === S.activeGroup ? ' active' : ''}`,
                  dataset: { groupId: g.id },
                  'aria-current': g.id === S.activeGroup ? 'true' : false,
                  'aria-label': `${g.name}, ${g.member_count} members, you are ${g.role}`,
                  onclick: () => openGroup(g.id),
                },
                h('span', { class: 'avatar avatar-md group-avatar', 'aria-hidden': 'true' }, '#'),
                h('span', { class: 'conv-text' }, h('span', { class: 'conv-title' }, g.name), h('span', { class: 'muted small' }, `${g.member_count} member${g.member_count === 1 ? '' : 's'} · ${g.role}`)),
              ),
            ),
          )
        : h('li', { class: 'empty' }, 'No groups yet.'),
    );
  }
  // Friends to pick for a new group (keeps the boxes already ticked).
  const csig = JSON.stringify(S.friends.map((f) => [f.user.id, f.user.display_name]));
  if (changed('groupCreateFriends', csig)) {
    const box = $('#group-create-friends');
    const ticked = new Set($$('input:checked', box).map((i) => Number(i.value)));
    replaceChildren(
      box,
      S.friends.length
        ? S.friends.map((f) =>
            h('label', { class: 'check' }, h('input', { type: 'checkbox', value: f.user.id, checked: ticked.has(f.user.id), dataset: { username: f.user.username } }), ` ${f.user.display_name} (@${f.user.username})`),
          )
        : h('p', { class: 'muted small' }, 'Add friends first; a group of just you is fine too.'),
    );
  }
  $('#view-groups').classList.toggle('detail-open', S.activeGroup !== null);
  renderGroupDetails();
}

function openGroup(id) {
  S.view = 'groups';
  S.activeGroup = id;
  renderAll();
  refreshGroup(id).catch((e) => toast(errorText(e)));
}

function renderGroupDetails() {
  const pane = $('#group-details');
  const id = S.activeGroup;
  const d = id !== null ? S.groupDetails.get(id) : null;
  $('#group-empty').hidden = id !== null;
  pane.hidden = id === null;
  if (id === null) {
    S.sigs.groupDetails = null;
    return;
  }
  const invitable = S.friends.filter((f) => !d?.members.some((m) => m.user.id === f.user.id));
  const sig = JSON.stringify([id, d, invitable.map((f) => [f.user.id, f.user.display_name])]);
  if (!changed('groupDetails', sig)) return;

  // Keep what the user is typing or ticking across a refresh.
  const focusedId = pane.contains(document.activeElement) ? document.activeElement.id : null;
  const renameValue = $('#group-rename-input', pane)?.value;
  const renameDirty = $('#group-rename-input', pane)?.dataset.dirty === '1';
  const ticked = new Set($$('#group-invite input:checked', pane).map((i) => Number(i.value)));

  if (!d) {
    replaceChildren(pane, h('p', { class: 'muted' }, 'Loading…'));
    return;
  }
  const mine = d.members.find((m) => m.user.id === S.me.id)?.role || 'member';
  const canRename = mine === 'owner' || mine === 'admin';

  const members = d.members.map((m) => {
    const name = m.user.display_name || m.user.username;
    const self = m.user.id === S.me.id;
    const canRemove = !self && ((mine === 'owner' && m.role !== 'owner') || (mine === 'admin' && m.role === 'member'));
    const roleCtl =
      mine === 'owner' && !self
        ? h(
            'span',
            { class: 'role-ctl' },
            h('label', { for: `role-${m.user.id}`, class: 'sr-only' }, `Role of ${name}`),
            h(
              'select',
              { id: `role-${m.user.id}`, dataset: { userId: m.user.id }, onchange: (ev) => changeRole(d, m, ev.target.value, ev.target) },
              ['member', 'admin', 'owner'].map((r) => h('option', { value: r, selected: r === m.role }, r)),
            ),
          )
        : h('span', { class: `role role-${m.role}` }, m.role);
    return h(
      'li',
      { class: 'item', dataset: { userId: m.user.id, username: m.user.username, role: m.role, online: String(m.online) } },
      h('span', { class: 'avatar-wrap' }, avatar(m.user), presenceDot(m.online)),
      h('span', { class: 'item-text' }, h('span', { class: 'item-title' }, self ? `${name} (you)` : name), h('span', { class: 'muted small' }, `@${m.user.username} · ${m.online ? 'online' : 'offline'}`)),
      h(
        'span',
        { class: 'actions' },
        roleCtl,
        canRemove ? h('button', { type: 'button', class: 'btn btn-small btn-danger', 'aria-label': `Remove ${name} from the group`, onclick: () => removeMember(d, m) }, 'Remove') : null,
      ),
    );
  });

  replaceChildren(
    pane,
    h(
      'header',
      { class: 'chat-head' },
      h('button', { type: 'button', class: 'btn btn-icon back', 'aria-label': 'Back to groups', onclick: () => { S.activeGroup = null; renderAll(); } }, '←'),
      h('div', { class: 'chat-head-text' }, h('h2', { id: 'group-title', class: 'chat-title' }, d.name), h('span', { class: 'muted small' }, `${d.members.length} member${d.members.length === 1 ? '' : 's'} · you are ${mine}`)),
      h('button', { type: 'button', class: 'btn btn-primary btn-small', onclick: () => openConversation({ group: d.id }) }, 'Open chat'),
    ),
    canRename
      ? h(
          'form',
          { id: 'group-rename', class: 'inline-form', onsubmit: (ev) => renameGroup(ev, d) },
          h('label', { for: 'group-rename-input' }, 'Group name'),
          h('input', { id: 'group-rename-input', required: true, maxlength: 64, value: renameDirty ? renameValue : d.name, dataset: { dirty: renameDirty ? '1' : '' }, oninput: (ev) => (ev.target.dataset.dirty = '1') }),
          h('button', { type: 'submit', class: 'btn' }, 'Rename'),
        )
      : null,
    h('h3', { class: 'sub' }, 'Members'),
    h('ul', { class: 'item-list', 'aria-label': 'Members', id: 'group-members' }, members),
    h(
      'form',
      { id: 'group-invite', class: 'form', onsubmit: (ev) => inviteMembers(ev, d) },
      h(
        'fieldset',
        {},
        h('legend', {}, 'Invite friends'),
        invitable.length
          ? h('div', { class: 'check-list' }, invitable.map((f) => h('label', { class: 'check' }, h('input', { type: 'checkbox', value: f.user.id, checked: ticked.has(f.user.id), dataset: { username: f.user.username } }), ` ${f.user.display_name} (@${f.user.username})`)))
          : h('p', { class: 'muted small' }, 'All your friends are in this group.'),
      ),
      invitable.length ? h('button', { type: 'submit', class: 'btn' }, 'Invite') : null,
    ),
    h(
      'div',
      { class: 'danger-zone' },
      mine !== 'owner' ? h('button', { type: 'button', class: 'btn btn-danger', onclick: () => leaveGroup(d) }, 'Leave group') : null,
      mine === 'owner' ? h('button', { type: 'button', class: 'btn btn-danger', onclick: () => disbandGroup(d) }, 'Disband group') : null,
    ),
  );
  if (focusedId) document.getElementById(focusedId)?.focus();
}

async function createGroup(ev) {
  ev.preventDefault();
  const form = ev.target;
  const name = $('#group-create-name').value.trim();
  if (!name) return;
  const ids = $$('#group-create-friends input:checked').map((i) => Number(i.value));
  await act(async () => {
    const d = await api.createGroup(name, ids);
    form.reset();
    S.sigs.groupCreateFriends = null;
    await refreshGroups();
    setGroupDetails(d);
    openGroup(d.id);
    toast(`Group “${d.name}” created.`, 'info');
  });
}

async function renameGroup(ev, d) {
  ev.preventDefault();
  const input = $('#group-rename-input');
  const name = input.value.trim();
  if (!name || name === d.name) return;
  await act(async () => {
    const nd = await api.renameGroup(d.id, name);
    input.dataset.dirty = '';
    setGroupDetails(nd);
    await refreshGroups();
    toast('Group renamed.', 'info');
  });
}

async function inviteMembers(ev, d) {
  ev.preventDefault();
  const ids = $$('#group-invite input:checked').map((i) => Number(i.value));
  if (!ids.length) return;
  await act(async () => {
    const nd = await api.addMembers(d.id, ids);
    setGroupDetails(nd);
    refreshGroupsSoon();
  });
}

async function removeMember(d, m) {
  const name = m.user.display_name || m.user.username;
  if (!window.confirm(`Remove ${name} from “${d.name}”?`)) return;
  await act(async () => {
    await api.removeMember(d.id, m.user.id);
    await refreshGroup(d.id);
    refreshGroupsSoon();
  });
}

async function changeRole(d, m, role, select) {
  const name = m.user.display_name || m.user.username;
  if (role === 'owner' && !window.confirm(`Make ${name} the owner of “${d.name}”? You will become an admin.`)) {
    select.value = m.role;
    return;
  }
  const done = await act(async () => {
    const nd = await api.setRole(d.id, m.user.id, role);
    setGroupDetails(nd);
    refreshGroupsSoon();
    return true;
  });
  if (!done) select.value = m.role;
}

async function leaveGroup(d) {
  if (!window.confirm(`Leave “${d.name}”?`)) return;
  await act(async () => {
    await api.removeMember(d.id, S.me.id);
    S.groupDetails.delete(d.id);
    S.activeGroup = null;
    await refreshGroups();
    toast(`You left “${d.name}”.`, 'info');
  });
}

async function disbandGroup(d) {
  if (!window.confirm(`Disband “${d.name}” for everyone? This cannot be undone.`)) return;
  await act(async () => {
    await api.disbandGroup(d.id);
    S.groupDetails.delete(d.id);
    S.activeGroup = null;
    await refreshGroups();
    toast(`“${d.name}” was disbanded.`, 'info');
  });
}

// ---- Profile ----------------------------------------------------------------

function renderProfile() {
  if (!S.me) return;
  const me = S.me;
  if (!changed('profile', JSON.stringify(me))) return;
  replaceChildren($('#profile-avatar'), avatar(me, 'lg'));
  $('#profile-display').textContent = me.display_name;
  $('#profile-username').textContent = `@${me.username} · member since ${new Date(me.created_at).toLocaleDateString()}`;
  $('#profile-bio').textContent = me.bio || 'No bio yet.';
  $('#profile-display-input').value = me.display_name;
  $('#profile-bio-input').value = me.bio || '';
  $('#profile-avatar-input').value = me.avatar_url || '';
  $('#password-username').value = me.username;
}

async function saveProfile(ev) {
  ev.preventDefault();
  const fields = {
    display_name: $('#profile-display-input').value,
    bio: $('#profile-bio-input').value === '' ? null : $('#profile-bio-input').value,
    avatar_url: $('#profile-avatar-input').value.trim() === '' ? null : $('#profile-avatar-input').value.trim(),
  };
  await act(
    async () => {
      S.me = await api.updateMe(fields);
      rememberUser(S.me);
      saveSession();
      S.sigs.profile = null;
      renderAll();
      toast('Profile saved.', 'info');
    },
    { errorEl: $('#profile-error') },
  );
}

async function changePassword(ev) {
  ev.preventDefault();
  await act(
    async () => {
      await api.changePassword($('#password-old').value, $('#password-new').value);
      ev.target.reset();
      toast('Password changed.', 'info');
    },
    { errorEl: $('#password-error') },
  );
}

// ---------------------------------------------------------------------------
// Static wiring

function setAuthTab(which) {
  const login = which === 'login';
  $('#tab-login').setAttribute('aria-selected', String(login));
  $('#tab-register').setAttribute('aria-selected', String(!login));
  $('#login-form').hidden = !login;
  $('#register-form').hidden = login;
}

function setView(view) {
  S.view = view;
  renderAll();
  if (view === 'chats' && S.activeConv) {
    S.chat.markRead(S.activeConv);
    renderMessages();
  }
  $('#main').focus({ preventScroll: true });
}

function wireStatic() {
  $('#tab-login').addEventListener('click', () => setAuthTab('login'));
  $('#tab-register').addEventListener('click', () => setAuthTab('register'));
  // Arrow keys move between the two tabs.
  for (const t of $$('[role=tab]')) {
    t.addEventListener('keydown', (ev) => {
      if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') {
        const next = t.id === 'tab-login' ? 'register' : 'login';
        setAuthTab(next);
        $(`#tab-${next}`).focus();
      }
    });
  }

  $('#login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const username = $('#login-username').value.trim();
    const password = $('#login-password').value;
    if (!username || !password) {
      $('#login-error').textContent = 'Enter your username and password.';
      return;
    }
    const res = await act(() => api.login(username, password), { errorEl: $('#login-error') });
    if (res) onAuthenticated(res);
  });

  $('#register-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    if (!form.checkValidity()) {
      const bad = form.querySelector(':invalid');
      $('#register-error').textContent =
        bad?.id === 'register-username' ? FRIENDLY.invalid_username : bad?.id === 'register-password' ? FRIENDLY.weak_password : 'Check the fields.';
      bad?.focus();
      return;
    }
    const res = await act(() => api.register($('#register-username').value, $('#register-password').value, $('#register-display').value.trim() || undefined), {
      errorEl: $('#register-error'),
    });
    if (res) onAuthenticated(res);
  });

  $('#logout-btn').addEventListener('click', () => {
    const pending = S.chat?.pendingCount() || 0;
    if (pending && !window.confirm(`${pending} message${pending === 1 ? ' is' : 's are'} not sent yet and will be lost. Log out anyway?`)) return;
    logout({ forget: true });
  });

  for (const b of $$('.tabs .tab')) b.addEventListener('click', () => setView(b.dataset.view));

  $('#banner-retry').addEventListener('click', () => S.chat?.conn.connectNow());

  $('#chat-back').addEventListener('click', () => {
    S.activeConv = null;
    renderAll();
  });
  $('#chat-info').addEventListener('click', () => {
    const to = S.activeConv && parseKey(S.activeConv);
    if (to?.group !== undefined) openGroup(to.group);
  });

  const input = $('#composer-input');
  const autosize = () => {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  };
  input.addEventListener('input', autosize);
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      $('#composer').requestSubmit();
    }
  });
  $('#composer').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const body = input.value;
    if (!body.trim() || !S.activeConv || !S.chat) return;
    S.chat.send(parseKey(S.activeConv), body);
    input.value = '';
    autosize();
    input.focus();
  });

  $('#search-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const q = $('#search-input').value.trim();
    if (!q) return;
    await act(async () => {
      S.searchResults = await api.searchUsers(q);
      for (const u of S.searchResults) rememberUser(u);
      S.sigs.search = null;
      renderFriends();
    });
  });

  $('#group-create').addEventListener('submit', createGroup);
  $('#profile-form').addEventListener('submit', saveProfile);
  $('#password-form').addEventListener('submit', changePassword);

  document.addEventListener('visibilitychange', () => {
    if (!S.token) return;
    if (document.visibilityState === 'visible') {
      if (S.view === 'chats' && S.activeConv) S.chat.markRead(S.activeConv);
      poll();
    }
  });
}

boot();
