// Browser notifications (the Notification API) for messages that arrive in
// a conversation that is not on screen: never asked for on load — only the
// user's click on "Turn on notifications" asks the browser — and never for
// a muted conversation (prefs.js, per user in this browser). One per
// conversation at a time (`tag`): a burst, or what a reconnect brings,
// replaces the previous one. A click opens the conversation. The title's
// "(N)" count is kept by views/shell.js as before.

import { convTitle, nameOf } from './names.js';
import { setNotify, state } from './store.js';

const BODY_CHARS = 140;

/** 'unsupported', or the browser's permission: 'default', 'granted', 'denied'. */
export function permission() {
  return typeof window.Notification === 'function' ? window.Notification.permission : 'unsupported';
}

/** Whether notifications are shown now: turned on here and allowed by the browser. */
export function notifying() {
  return !!state.prefs?.notify && permission() === 'granted';
}

/** The user's click: asks the browser (if it has not been answered) and turns them on if allowed. */
export async function turnOn() {
  if (permission() === 'unsupported') return 'unsupported';
  const answer = await window.Notification.requestPermission();
  setNotify(answer === 'granted');
  return answer;
}

export function turnOff() {
  setNotify(false);
}

/**
 * A new message `frame` in conversation `key`; `onScreen` says whether the
 * user sees that conversation now; `open` opens it (the notification's click).
 */
export function notifyMessage(frame, key, { onScreen, open }) {
  if (!notifying() || onScreen || frame.from === state.me?.id || state.prefs.isMuted(key)) return;
  const group = frame.to?.group !== undefined;
  const title = group ? convTitle(key) : nameOf(frame.from);
  const text = String(frame.body ?? '').replace(/\s+/g, ' ');
  const body = `${group ? `${nameOf(frame.from)}: ` : ''}${[...text].slice(0, BODY_CHARS).join('')}${[...text].length > BODY_CHARS ? '…' : ''}`;
  let n;
  try {
    n = new window.Notification(title, { body, tag: key, icon: 'favicon.svg', lang: '', dir: 'auto' });
  } catch {
    return; // a browser that shows them only from a service worker (Android): the title count stays
  }
  n.addEventListener('click', () => {
    window.focus();
    open();
    n.close();
  });
}
