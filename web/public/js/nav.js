// Moving around the app, from any view: open a conversation, a group, a
// section. The state changes in store.js; here what comes with them (loading
// the group's details, focus).

import { $ } from './dom.js';
import { errorText, toast } from './notices.js';
import * as store from './store.js';
import { loadHistory, refreshGroup } from './sync.js';

const wide = () => window.matchMedia('(min-width: 720px)').matches;

/** Opens a conversation (its newest page is read); on a wide screen the composer takes the focus unless `focus` is false. */
export function openConversation(to, { focus = true } = {}) {
  const { state } = store;
  if (to.group !== undefined && !state.groupDetails.has(to.group) && state.groupById.has(to.group)) refreshGroup(to.group).catch(() => {});
  store.openConversation(to);
  loadHistory(to).catch(() => {});
  if (focus && wide()) $('#composer-input').focus();
}

/**
 * After logging in: the focus goes to the first useful control — the open
 * conversation's composer (a wide screen), else the first conversation,
 * else "Find people" — unless the user has already moved it.
 */
export function focusStart() {
  const at = document.activeElement;
  if (at && at !== document.body && at.id !== 'main' && !$('#auth-view').contains(at)) return;
  if (store.state.view !== 'chats') {
    $('#main').focus({ preventScroll: true });
    return;
  }
  if (store.state.activeConv && wide()) $('#composer-input').focus();
  else ($('#conv-list button') || $('#find-people')).focus();
}

export function openGroup(id) {
  store.openGroup(id);
  refreshGroup(id).catch((e) => toast(errorText(e)));
}

/** A tab of the section bar. */
export function showView(view) {
  store.setView(view);
  $('#main').focus({ preventScroll: true });
}
