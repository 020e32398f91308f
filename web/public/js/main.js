// Confab web client: the entry point (index.html loads it as a module).
// Written against docs/protocol.md only. No framework, no build step.
//
// Only wiring here. The state lives in store.js and changes only through its
// actions, which notify the subscribed views (views/*.js); session.js starts
// and ends sessions, sync.js loads (nothing is polled: the server pushes),
// chat.js carries the messages.

import { boot } from './session.js';
import { markRead, state } from './store.js';
import { refreshConversations } from './sync.js';
import * as auth from './views/auth.js';
import * as chats from './views/chats.js';
import * as composer from './views/composer.js';
import * as conversation from './views/conversation.js';
import * as friends from './views/friends.js';
import * as groups from './views/groups.js';
import * as profile from './views/profile.js';
import * as shell from './views/shell.js';

// The order of subscription is the order of rendering.
for (const view of [shell, chats, conversation, composer, friends, groups, profile, auth]) view.mount();

// Back in the tab: the open conversation is read, and the counts refreshed.
document.addEventListener('visibilitychange', () => {
  if (!state.token) return;
  if (document.visibilityState === 'visible') {
    if (state.view === 'chats' && state.activeConv) markRead(state.activeConv);
    refreshConversations().catch(() => {});
  }
});

boot();
