// The client's state, and the one place that changes it.
//
// Every other module reads `state` (read-only: assigning to it throws) and
// changes it only through the actions below. An action that changes what is
// shown tells the subscribers, which redraw from `state`:
//
//   {type: 'render'}               anything may have changed: every view re-renders
//                                  (each skips what did not change)
//   {type: 'messages'}             the open conversation changed (opened, or its
//                                  section shown again): its message list is rebuilt
//   {type: 'message', conv, msg}   one message was added or changed (chat.js)
//   {type: 'marks', conv}          read marks or typing in a conversation changed
//   {type: 'connection'}           the WebSocket's state changed (state.conn)
//   {type: 'search'}               new search results (the Friends view only)
//   {type: 'limits'}               the server's limits were read (state.limits)
//   {type: 'signed-in'}            a session starts: the app is shown
//   {type: 'signed-out', notice}   no session (any more): views clear, the log-in form shows
//
// After a user's action 'render' is sent at once; for data from the network
// at most once per animation frame (renderSoon), and only while logged in.

import { convKey } from './chat.js';

const S = {
  token: null,
  me: null,
  chat: null, // the Chat (chat.js): conversations, outbox, the socket
  friends: [], // [Friend]
  friendById: new Map(),
  requests: { incoming: [], outgoing: [] },
  groups: [], // [Group summary]
  groupById: new Map(),
  groupDetails: new Map(), // id → Group details
  users: new Map(), // id → User (profiles seen anywhere)
  view: 'chats',
  activeConv: null, // 'u:2' | 'g:1'
  activeGroup: null, // group id in the Groups view
  searchResults: null, // {query, users, more}
  conn: { status: 'idle' },
  limits: null, // GET /api/limits, once read
  tab: null, // prefs.js TabMemory: the open section and conversation, drafts
  prefs: null, // prefs.js UserPrefs: notifications, muted conversations
  everConnected: false,
};

const readOnly = (key) => {
  throw new TypeError(`state.${String(key)} is read-only: change it through an action of store.js`);
};

/** The state, for reading. */
export const state = new Proxy(S, {
  set: (_, key) => readOnly(key),
  defineProperty: (_, key) => readOnly(key),
  deleteProperty: (_, key) => readOnly(key),
});

// ---------------------------------------------------------------------------
// Subscribers

const listeners = [];

/** Calls fn(event) on every change (in the order of subscription); returns the unsubscribe. */
export function subscribe(fn) {
  listeners.push(fn);
  return () => {
    const i = listeners.indexOf(fn);
    if (i >= 0) listeners.splice(i, 1);
  };
}

function notify(event) {
  for (const fn of [...listeners]) fn(event);
}

const render = () => notify({ type: 'render' });

let renderQueued = false;
function renderSoon() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    if (S.token) render();
  });
}

// ---------------------------------------------------------------------------
// Session

/** The credentials (log-in, or what the tab kept): nothing is shown yet. */
export function setSession(token, me) {
  S.token = token;
  S.me = me;
}

/**
 * A session starts with `chat`: the app is shown where the tab was before a
 * reload (`tab`), or at Chats, and the socket opens.
 */
export function beginSession(chat, { tab, prefs }) {
  rememberUser(S.me);
  S.tab = tab;
  S.prefs = prefs;
  S.view = ['chats', 'friends', 'groups', 'profile'].includes(tab.view) ? tab.view : 'chats';
  S.activeConv = /^[ug]:[0-9]+$/.test(tab.activeConv || '') ? tab.activeConv : null;
  S.activeGroup = null;
  S.everConnected = false;
  S.chat = chat;
  notify({ type: 'signed-in' });
  chat.start();
  render();
}

/**
 * No session (log out, an expired token, or none at start): the chat stops
 * (`forget` also erases what the tab kept for the user), the state is
 * emptied, and the log-in form shows `notice`.
 */
export function endSession({ forget = true, notice } = {}) {
  if (S.chat) S.chat.stop({ forget });
  if (forget) S.tab?.forget();
  S.chat = null;
  S.tab = null;
  S.prefs = null;
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
  notify({ type: 'signed-out', notice });
}

/** The user's own profile was saved. */
export function profileSaved(me) {
  S.me = me;
  rememberUser(me);
  render();
}

// ---------------------------------------------------------------------------
// Data from the server

/** A profile seen anywhere (names, avatars): shown by the next render. */
export function rememberUser(user) {
  if (user && typeof user.id === 'number') S.users.set(user.id, user);
}

/** A profile fetched on its own (names.js). */
export function userLoaded(user) {
  rememberUser(user);
  renderSoon();
}

export function setFriends(friends) {
  S.friends = friends;
  S.friendById = new Map(friends.map((f) => [f.user.id, f]));
  for (const f of friends) rememberUser(f.user);
  renderSoon();
}

/** A friend's first device connected, or their last one went (a `presence` frame). */
export function setFriendOnline(userId, online) {
  const friend = S.friendById.get(userId);
  if (friend) friend.online = online;
  for (const d of S.groupDetails.values()) {
    for (const m of d.members) if (m.user.id === userId) m.online = online;
  }
  renderSoon();
}

export function setRequests(requests) {
  S.requests = requests;
  renderSoon();
}

export function setGroups(groups) {
  S.groups = groups;
  S.groupById = new Map(groups.map((g) => [g.id, g]));
  for (const g of groups) S.chat?.setTitle({ group: g.id }, g.name);
  for (const id of [...S.groupDetails.keys()]) if (!S.groupById.has(id)) S.groupDetails.delete(id);
  renderSoon();
}

export function setGroupDetails(d) {
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

/**
 * The user is no longer in group `id` (left, disbanded, removed): its details
 * go, and it closes if open (`close`: in any case). No render of its own:
 * the caller reloads the groups, which renders.
 */
export function forgetGroup(id, { close = false } = {}) {
  S.groupDetails.delete(id);
  if (close || S.activeGroup === id) S.activeGroup = null;
}

/** Results of a search for `query` (`more`: the next page may hold more); `append`: the next page of the same search. */
export function setSearchResults(query, users, { more = false, append = false } = {}) {
  const before = append && S.searchResults?.query === query ? S.searchResults.users : [];
  S.searchResults = { query, users: [...before, ...users], more };
  for (const u of users) rememberUser(u);
  notify({ type: 'search' });
}

/** The server's limits were read. */
export function setLimits(limits) {
  S.limits = limits;
  notify({ type: 'limits' });
}

/** Notifications for conversation `key` off (`muted`) or on again. */
export function setMuted(key, muted) {
  S.prefs?.setMuted(key, muted);
  render();
}

/** Browser notifications turned on or off (in this browser, for this user). */
export function setNotify(on) {
  S.prefs?.setNotify(on);
  render();
}

// ---------------------------------------------------------------------------
// Navigation

/** Shows a section (a tab); back at Chats, the open conversation is read. */
export function setView(view) {
  S.view = view;
  S.tab?.place(S.view, S.activeConv);
  render();
  if (view === 'chats' && S.activeConv) {
    S.chat.markRead(S.activeConv);
    notify({ type: 'messages' });
  }
}

export function openConversation(to) {
  const key = convKey(to);
  S.chat.conv(to);
  S.view = 'chats';
  S.activeConv = key;
  S.tab?.place(S.view, S.activeConv);
  S.chat.markRead(key);
  render();
  notify({ type: 'messages' });
}

export function closeConversation() {
  S.activeConv = null;
  S.tab?.place(S.view, S.activeConv);
  render();
}

export function openGroup(id) {
  S.view = 'groups';
  S.activeGroup = id;
  render();
}

export function closeGroup() {
  S.activeGroup = null;
  render();
}

// ---------------------------------------------------------------------------
// The chat (its own state lives in chat.js; it reports changes here)

export function markRead(key) {
  S.chat.markRead(key);
}

export function sendMessage(to, body) {
  S.chat.send(to, body);
}

/** Re-sends a failed message with the same client id. */
export function retryMessage(cid) {
  S.chat.retry(cid);
}

export function reconnectNow() {
  S.chat?.reconnectNow();
}

/**
 * Chat's onChange: {conv, msg} one message to redraw; `history` messages
 * joined a conversation, or `reordered` its messages took their places by
 * seq (it is rebuilt); `reads`/`typing` its marks changed;
 * `list` the conversation list and counts.
 */
export function chatChanged({ conv, msg, list, history, reordered, reads, typing }) {
  if (conv && msg && !reordered) notify({ type: 'message', conv, msg });
  if ((history || reordered) && (!conv || conv === S.activeConv)) notify({ type: 'messages', keepScroll: true });
  if ((reads || typing) && conv === S.activeConv) notify({ type: 'marks', conv });
  if (list) renderSoon();
}

/** Chat's onConnection: the socket's state (for the dot, the banner, pending messages). */
export function setConnection(st) {
  S.conn = st;
  if (st.status === 'open') S.everConnected = true;
  notify({ type: 'connection' });
}
