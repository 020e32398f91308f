// The session: the token and profile kept for the tab (sessionStorage), the
// start of a session (the Chat and its socket, the first loads) and its end
// (log out, or back to log in when the token expired).

import { ApiError } from './sdk.js';
import { Chat } from './chat.js';
import { api, onUnauthorized } from './client.js';
import { $ } from './dom.js';
import { ensureUser, userById } from './names.js';
import { beginSession, chatChanged, endSession, setConnection, setSession, state } from './store.js';
import { learnSeqs, onSocial, refreshAll, refreshGroupsSoon } from './sync.js';

const SESSION_KEY = 'confab.v1.session';

export function saveSession() {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({ token: state.token, me: state.me }));
}

/** Starts the page: resumes the tab's session, or shows the log-in form. */
export async function boot() {
  onUnauthorized((err) => sessionEnded(err.code));
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
      startSession();
      return;
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) {
        // The server is unreachable: start anyway with what we have; it reconnects.
        if (state.me) {
          startSession();
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
  startSession();
}

function startSession() {
  const chat = new Chat({
    me: state.me,
    token: () => state.token,
    onChange: onChatChange,
    onConnection: setConnection,
    onSessionEnd: sessionEnded,
    isVisible: (key) =>
      state.view === 'chats' && state.activeConv === key && document.visibilityState === 'visible' && !$('#app-view').hidden,
    onSocial,
    // What was pushed while the socket was down is read again.
    onReconnect: () => refreshAll(),
  });
  // Conversations kept from before come back (groups may have been left since).
  beginSession(chat);
  refreshAll();
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
  }
  chatChanged(change);
}
