// Log in / create an account: the two tabs and their forms. Shown when there
// is no session; hidden while the app is.

import { api } from '../client.js';
import { $, $$ } from '../dom.js';
import { act, FRIENDLY } from '../notices.js';
import { onAuthenticated } from '../session.js';
import { subscribe } from '../store.js';

function setAuthTab(which) {
  const login = which === 'login';
  $('#tab-login').setAttribute('aria-selected', String(login));
  $('#tab-register').setAttribute('aria-selected', String(!login));
  $('#login-form').hidden = !login;
  $('#register-form').hidden = login;
}

function showAuth(notice) {
  $('#app-view').hidden = true;
  $('#auth-view').hidden = false;
  $('#banner').hidden = true;
  document.title = 'Confab';
  if (notice) $('#login-error').textContent = notice;
  setAuthTab('login');
  $('#login-username').focus();
}

function showApp() {
  $('#auth-view').hidden = true;
  $('#app-view').hidden = false;
}

function authenticated(res) {
  for (const f of $$('#auth-view form')) f.reset();
  onAuthenticated(res);
}

export function mount() {
  $('#tab-login').addEventListener('click', () => setAuthTab('login'));
  $('#tab-register').addEventListener('click', () => setAuthTab('register'));
  // Arrow keys move between the two tabs.
  for (const t of $$('[role=tab]')) {
    t.addEventListener('keydown', (ev) => {
      if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') {
        const next = t.id === 'tab-login' ? 'register' : 'login';
        setAuthTab(next);
        $(`#tab-${next}`).focus();
      }
    });
  }

  $('#login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const username = $('#login-username').value.trim();
    const password = $('#login-password').value;
    if (!username || !password) {
      $('#login-error').textContent = 'Enter your username and password.';
      return;
    }
    const res = await act(() => api.login(username, password), { errorEl: $('#login-error') });
    if (res) authenticated(res);
  });

  $('#register-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    if (!form.checkValidity()) {
      const bad = form.querySelector(':invalid');
      $('#register-error').textContent =
        bad?.id === 'register-username' ? FRIENDLY.invalid_username : bad?.id === 'register-password' ? FRIENDLY.weak_password : 'Check the fields.';
      bad?.focus();
      return;
    }
    const res = await act(() => api.register($('#register-username').value, $('#register-password').value, $('#register-display').value.trim() || undefined), {
      errorEl: $('#register-error'),
    });
    if (res) authenticated(res);
  });

  subscribe((ev) => {
    if (ev.type === 'signed-in') showApp();
    else if (ev.type === 'signed-out') showAuth(ev.notice);
  });
}
