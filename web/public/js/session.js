// The session: the token and profile kept for the tab (sessionStorage), the
// start of a session (the Chat and its socket, the first loads) and its end
// (log out, or back to log in when the token expired).

import { ApiError } from './sdk.js';
import { Chat, parseKey } from './chat.js';
import { api, onUnauthorized } from './client.js';
import { $ } from './dom.js';
import { loadLimits } from './limits.js';
import { ensureUser, userById } from './names.js';
import { focusStart, openConversation } from './nav.js';
import { notifyMessage } from './notify.js';
import { TabMemory, UserPrefs } from './prefs.js';
import { beginSession, chatChanged, endSession, setConnection, setSession, state } from './store.js';
import { learnSeqs, loadHistory, onSocial, refreshAll, refreshGroupsSoon } from './sync.js';

const SESSION_KEY = 'confab.v1.session';

export function saveSession() {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({ token: state.token, me: state.me }));
}

/** Starts the page: resumes the tab's session, or shows the log-in form. */
export async function boot() {
  onUnauthorized((err) => sessionEnded(err.code));
  loadLimits();
  let saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
  } catch {
    saved = null;
  }
  if (saved?.token) {
    setSession(saved.token, saved.me);
    try {
      const me = await api.me();
      setSession(state.token, me);
      saveSession();
      startSession({ resumed: true });
      return;
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) {
        // The server is unreachable: start anyway with what we have; it reconnects.
        if (state.me) {
          startSession({ resumed: true });
          return;
        }
      }
      sessionStorage.removeItem(SESSION_KEY);
    }
  }
  endSession(); // no session (the token and profile go): the log-in form
}

/** A log-in or registration succeeded. */
export function onAuthenticated({ token, user }) {
  setSession(token, user);
  saveSession();
  startSession({ resumed: false });
}

/** Whether conversation `key` is on the user's screen now. */
const onScreen = (key) =>
  state.view === 'chats' && state.activeConv === key && document.visibilityState === 'visible' && !$('#app-view').hidden;

/** `resumed`: the tab's session after a reload (back where it was), not a new log-in (focus to the first useful control). */
function startSession({ resumed }) {
  const chat = new Chat({
    me: state.me,
    token: () => state.token,
    onChange: onChatChange,
    onConnection: setConnection,
    onSessionEnd: sessionEnded,
    isVisible: onScreen,
    onSocial,
    onReconnect: () => {
      // What was pushed while the socket was down is read again, and own
      // messages sent meanwhile take their places in the server's order.
      refreshAll();
      learnSeqs(state.activeConv);
    },
  });
  // Conversations kept from before come back (groups may have been left since).
  beginSession(chat, { tab: new TabMemory(state.me.id), prefs: new UserPrefs(state.me.id) });
  if (state.activeConv && state.view === 'chats') openConversation(parseKey(state.activeConv), { focus: false });
  else if (state.activeConv) loadHistory(parseKey(state.activeConv)).catch(() => {});
  const loaded = refreshAll();
  if (!resumed) loaded.then(() => requestAnimationFrame(() => state.chat === chat && focusStart()));
}

export function logout({ forget = true, notice } = {}) {
  if (!state.token) return;
  // The button (not an expired or revoked token): end the session on the
  // server too, so that the token is refused from now on.
  if (forget) api.logout().catch(() => {});
  sessionStorage.removeItem(SESSION_KEY);
  endSession({ forget, notice });
}

/** The token was refused (a 401 of any call, the socket's ticket) or its session revoked (close 4401): back to log in. */
function sessionEnded(code) {
  if (!state.token) return;
  if (code === 'token_revoked') {
    logout({ forget: false, notice: 'You were logged out (from another tab or device, or after a password change). Please log in again.' });
  } else {
    // token_expired, invalid_token, missing_token: a 401 of an authenticated call always means the token is dead.
    logout({ forget: false, notice: 'Your session has expired. Please log in again.' });
  }
}

function onChatChange(change) {
  const { incoming } = change;
  if (change.needSeqs && change.conv === state.activeConv) learnSeqs(change.conv);
  if (incoming) {
    const to = incoming.to;
    if (to.group !== undefined && !state.groupById.has(to.group)) refreshGroupsSoon();
    if (!userById(incoming.from)) ensureUser(incoming.from);
    const key = change.conv;
    notifyMessage(incoming, key, { onScreen: onScreen(key), open: () => openConversation(parseKey(key)) });
  }
  chatChanged(change);
}
