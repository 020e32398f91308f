// Loading and polling: the REST reads that keep the state current (there is
// no push for friends, requests or groups). Friends (online dots) and
// requests every 5 s, groups every 2nd time, the open group's details every
// time; every 30 s in a hidden tab.

import { ApiError } from './api.js';
import { parseKey } from './chat.js';
import { api } from './client.js';
import { ensureUser } from './names.js';
import { forgetGroup, setFriends, setGroupDetails, setGroups, setRequests, state } from './store.js';

const POLL_MS = 5_000; // friends (online dots) and requests
const POLL_HIDDEN_MS = 30_000;
const GROUPS_EVERY = 2; // groups every 2nd poll

let pollTimer = null;
let pollCount = 0;
let groupsSoonTimer = null;

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

export function refreshAll() {
  return Promise.allSettled([refreshFriends(), refreshRequests(), refreshGroups()]);
}

/** Groups again shortly (a message for an unknown group, a change of members). */
export function refreshGroupsSoon() {
  if (groupsSoonTimer) return;
  groupsSoonTimer = setTimeout(() => {
    groupsSoonTimer = null;
    if (state.token) refreshGroups().catch(() => {});
  }, 300);
}

export function schedulePoll() {
  clearTimeout(pollTimer);
  const wait = document.visibilityState === 'visible' ? POLL_MS : POLL_HIDDEN_MS;
  pollTimer = setTimeout(poll, wait);
}

export function stopPolling() {
  clearTimeout(pollTimer);
}

export async function poll() {
  if (!state.token) return;
  pollCount += 1;
  const jobs = [refreshFriends(), refreshRequests()];
  if (pollCount % GROUPS_EVERY === 0) jobs.push(refreshGroups());
  const openGroup = state.view === 'groups' ? state.activeGroup : null;
  const chatGroup = state.view === 'chats' && state.activeConv?.startsWith('g:') ? parseKey(state.activeConv).group : null;
  for (const id of new Set([openGroup, chatGroup])) {
    if (id !== null && id !== undefined && state.groupById.has(id)) jobs.push(refreshGroup(id));
  }
  await Promise.allSettled(jobs);
  if (state.token) schedulePoll();
}
