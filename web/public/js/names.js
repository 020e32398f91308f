// Names of users and conversations, for the views. A profile not seen yet is
// fetched (once; again 30 s after a fetch at the earliest).

import { parseKey } from './chat.js';
import { api } from './client.js';
import { state, userLoaded } from './store.js';

const fetches = new Map(); // user id → the fetch under way (or just done)

export function userById(id) {
  if (state.me && id === state.me.id) return state.me;
  return state.users.get(id) || null;
}

export function nameOf(id) {
  const u = userById(id);
  if (u) return u.display_name || u.username;
  ensureUser(id);
  return `User ${id}`;
}

export function ensureUser(id) {
  if (state.users.has(id) || fetches.has(id) || !state.token) return;
  const p = api
    .user(id)
    .then((u) => {
      userLoaded(u);
    })
    .catch(() => {})
    .finally(() => setTimeout(() => fetches.delete(id), 30_000));
  fetches.set(id, p);
}

export function convTitle(key) {
  const to = parseKey(key);
  if (to.group !== undefined) {
    return state.groupById.get(to.group)?.name || state.chat?.convs.get(key)?.title || `Group ${to.group}`;
  }
  return nameOf(to.user);
}
