// The frame of the app: the top bar (name, connection dot, Log out), the
// section tabs with their badges, and the connection banner.

import { confirmAction } from '../dialog.js';
import { $, $$ } from '../dom.js';
import { showView } from '../nav.js';
import { logout } from '../session.js';
import { reconnectNow, state, subscribe } from '../store.js';
import { invalidateAll } from './common.js';

function renderTopbar() {
  $('#me-name').textContent = state.me ? `${state.me.display_name} (@${state.me.username})` : '';
}

function renderTabs() {
  for (const b of $$('.tabs .tab')) {
    const on = b.dataset.view === state.view;
    b.classList.toggle('active', on);
    if (on) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  for (const v of ['chats', 'friends', 'groups', 'profile']) $(`#view-${v}`).hidden = state.view !== v;
  const unread = state.chat?.totalUnread() || 0;
  const bc = $('#badge-chats');
  bc.hidden = unread === 0;
  bc.textContent = String(unread);
  bc.setAttribute('aria-label', `${unread} unread`);
  const reqs = state.requests.incoming.length;
  const bf = $('#badge-friends');
  bf.hidden = reqs === 0;
  bf.textContent = String(reqs);
  bf.setAttribute('aria-label', `${reqs} friend requests`);
  document.title = unread ? `(${unread}) Confab` : 'Confab';
}

function renderConnection() {
  const st = state.conn;
  const dot = $('#conn-state');
  const label = {
    open: 'Connected',
    connecting: 'Connecting',
    waiting: 'Disconnected',
    fatal: 'Disconnected',
    idle: 'Not connected',
  }[st.status];
  dot.dataset.state = st.status;
  dot.setAttribute('aria-label', `Connection: ${label}`);
  dot.title = label;
  const banner = $('#banner');
  let text = '';
  if (st.status === 'waiting') {
    const secs = Math.max(0, Math.ceil((st.retryAt - Date.now()) / 1000));
    const why = st.offline ? 'You are offline' : `Connection lost (${st.reason})`;
    text = `${why}. Reconnecting${secs > 0 ? ` in ${secs} s` : '…'} — unsent messages will be sent then.`;
  } else if (st.status === 'connecting' && (state.everConnected || st.attempt > 0)) {
    text = 'Reconnecting…';
  } else if (st.status === 'fatal') {
    text = st.reason;
  }
  banner.hidden = !text || !state.token;
  banner.dataset.state = st.status;
  $('#banner-text').textContent = text;
  $('#banner-retry').hidden = st.status !== 'waiting' && st.status !== 'fatal';
}

export function mount() {
  $('#logout-btn').addEventListener('click', async () => {
    const pending = state.chat?.pendingCount() || 0;
    const text = `${pending} message${pending === 1 ? ' is' : 's are'} not sent yet and will be lost.`;
    if (pending && !(await confirmAction({ title: 'Log out?', text, confirm: 'Log out anyway' }))) return;
    logout({ forget: true });
  });

  for (const b of $$('.tabs .tab')) b.addEventListener('click', () => showView(b.dataset.view));

  $('#banner-retry').addEventListener('click', () => reconnectNow());

  subscribe((ev) => {
    if (ev.type === 'render') {
      renderTopbar();
      renderTabs();
      renderConnection();
    } else if (ev.type === 'connection') {
      renderConnection();
    } else if (ev.type === 'signed-out') {
      invalidateAll(); // the next session builds every list afresh
    }
  });
}
