// Moving around the app, from any view: open a conversation, a group, a
// section. The state changes in store.js; here what comes with them (loading
// the group's details, focus).

import { $ } from './dom.js';
import { errorText, toast } from './notices.js';
import * as store from './store.js';
import { loadHistory, refreshGroup } from './sync.js';

export function openConversation(to) {
  const { state } = store;
  if (to.group !== undefined && !state.groupDetails.has(to.group) && state.groupById.has(to.group)) refreshGroup(to.group).catch(() => {});
  store.openConversation(to);
  loadHistory(to).catch(() => {});
  const input = $('#composer-input');
  if (window.matchMedia('(min-width: 720px)').matches) input.focus();
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
