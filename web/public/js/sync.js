// Loading: the REST reads that keep the state current. Nothing is polled:
// the server pushes friends' presence, social events and read receipts
// (docs/protocol.md, "Presence", "Events", "Read receipts"), and what a
// pushed frame does not carry, or what was missed while the socket was down
// (a reconnect), is read again here.

import { ApiError } from './sdk.js';
import { convKey, parseKey } from './chat.js';
import { api } from './client.js';
import { ensureUser } from './names.js';
import { forgetGroup, setFriendOnline, setFriends, setGroupDetails, setGroups, setRequests, state } from './store.js';

let groupsSoonTimer = null;
const historyLoading = new Map(); // conversation key → the page being read
const learning = new Map(); // conversation key → the timer of the next seq lookup
const LEARN_AFTER_MS = 300; // lets a burst of sends be looked up at once
const LEARN_TRIES = 6; // 0.3 s, 0.6 s, … ≈ 19 s in all: the dispatcher stores in well under that

export async function refreshFriends() {
  const friends = await api.friends();
  setFriends(friends);
}

export async function refreshRequests() {
  const requests = await api.friendRequests();
  setRequests(requests);
  for (const r of [...requests.incoming, ...requests.outgoing]) {
    ensureUser(r.from === state.me.id ? r.to : r.from);
  }
}

export async function refreshGroups() {
  const groups = await api.groups();
  setGroups(groups);
}

export async function refreshGroup(id) {
  try {
    const d = await api.group(id);
    setGroupDetails(d);
  } catch (e) {
    if (e instanceof ApiError && (e.code === 'no_such_group' || e.code === 'not_member')) {
      forgetGroup(id);
      await refreshGroups().catch(() => {});
    }
    throw e;
  }
}

/** The conversation list: unread counts, read positions, last messages. */
export async function refreshConversations() {
  const list = await api.conversations();
  state.chat?.applyConversations(list);
}

export function refreshAll() {
  return Promise.allSettled([refreshFriends(), refreshRequests(), refreshGroups(), refreshConversations()]);
}

/** Groups again shortly (a message for an unknown group, a change of members). */
export function refreshGroupsSoon() {
  if (groupsSoonTimer) return;
  groupsSoonTimer = setTimeout(() => {
    groupsSoonTimer = null;
    if (state.token) refreshGroups().catch(() => {});
  }, 300);
}

/**
 * The newest page of `to`'s history (opening it), the page before what is
 * shown (`older`), or the messages after seq `after`. Own messages learn
 * their seq from it too. A page of the conversation already being read is
 * not asked for twice: the call waits for that one.
 */
export async function loadHistory(to, { older = false, after } = {}) {
  const chat = state.chat;
  const key = convKey(to);
  if (!chat) return;
  if (historyLoading.has(key)) {
    await historyLoading.get(key);
    return;
  }
  const read = (async () => {
    const { min } = chat.oldest(key);
    const opts = older && min !== null ? { before: min } : after != null ? { after } : {};
    const page = await api.history(to, opts);
    if (state.chat === chat) chat.applyHistory(to, page);
  })();
  historyLoading.set(key, read);
  try {
    await read;
  } catch (e) {
    // Not (or no longer) a participant: nothing to show from the server.
    if (!(e instanceof ApiError && e.status < 500)) throw e;
  } finally {
    historyLoading.delete(key);
  }
}

/** A `presence` or `event` frame from the socket. */
export function onSocial(frame) {
  if (frame.type === 'presence') {
    setFriendOnline(frame.user, frame.online === true);
    return;
  }
  const groupId = frame.group_id ?? frame.group?.id;
  switch (frame.kind) {
    case 'friend_request':
    case 'friend_request_answered':
      refreshRequests().catch(() => {});
      if (frame.request?.status === 'accepted') refreshFriends().catch(() => {});
      break;
    case 'friend_removed':
      refreshFriends().catch(() => {});
      break;
    case 'group_added':
    case 'member_added':
    case 'member_removed':
    case 'group_renamed':
    case 'role_changed':
      if (frame.group) setGroupDetails(frame.group);
      refreshGroupsSoon();
      if (groupId !== undefined && state.groupDetails.has(groupId) && !frame.group) refreshGroup(groupId).catch(() => {});
      break;
    case 'group_removed':
    case 'group_disbanded':
      if (groupId !== undefined) forgetGroup(groupId);
      refreshGroups().catch(() => {});
      break;
    default:
      break; // kinds v1 may add
  }
}

/**
 * The open conversation's own messages need their seq: their place in the
 * server's order, and read marks. Looked up shortly after (several sends
 * at once), and again, less and less often, while some are still unknown
 * (the dispatcher stores a message just after the broker confirmed it).
 */
export function learnSeqs(key, attempt = 0) {
  if (!key || learning.has(key)) return;
  const timer = setTimeout(async () => {
    const chat = state.chat;
    if (!chat || state.activeConv !== key || !chat.needsSeqs(key)) {
      learning.delete(key);
      return;
    }
    await loadHistory(parseKey(key), { after: chat.unnumberedAfter(key) }).catch(() => {});
    learning.delete(key);
    if (state.chat === chat && chat.needsSeqs(key) && attempt + 1 < LEARN_TRIES) learnSeqs(key, attempt + 1);
  }, LEARN_AFTER_MS * 2 ** attempt);
  learning.set(key, timer);
}
