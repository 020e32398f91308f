// Log in / create an account: the two tabs and their forms. Shown when there
// is no session; hidden while the app is. Every field's problem shows at
// once, beside the field (the rules' lengths from GET /api/limits); what the
// server refuses goes beside the field it is about.

import { ApiError } from '../sdk.js';
import { api } from '../client.js';
import { $, $$ } from '../dom.js';
import { limits } from '../limits.js';
import { act, errorText, FRIENDLY } from '../notices.js';
import { onAuthenticated } from '../session.js';
import { subscribe } from '../store.js';

function setAuthTab(which) {
  const login = which === 'login';
  $('#tab-login').setAttribute('aria-selected', String(login));
  $('#tab-register').setAttribute('aria-selected', String(!login));
  $('#login-form').hidden = !login;
  $('#register-form').hidden = login;
}

const USERNAME_CHARS = /^[A-Za-z0-9_.-]*$/;
const chars = (s) => [...s].length;

/** Shows `errors` (field id → text) beside their fields; true if there were none. */
function showFieldErrors(form, errors) {
  for (const input of $$('input', form)) {
    const el = $(`#${input.id}-error`);
    if (!el) continue;
    el.textContent = errors[input.id] || '';
    if (errors[input.id]) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
  const first = $$('input', form).find((i) => errors[i.id]);
  first?.focus();
  return !first;
}

/** Every problem of the registration form at once (none while the limits are unknown: the server checks). */
function registrationErrors() {
  const l = limits();
  const errors = {};
  const username = $('#register-username').value;
  const display = $('#register-display').value.trim();
  const password = $('#register-password').value;
  if (!username) errors['register-username'] = 'Choose a username.';
  else if (!USERNAME_CHARS.test(username)) errors['register-username'] = 'Only letters (A–Z), digits, _ . and - are allowed.';
  else if (l && (username.length < l.username_chars.min || username.length > l.username_chars.max))
    errors['register-username'] = `${l.username_chars.min} to ${l.username_chars.max} characters (now ${username.length}).`;
  if (l && chars(display) > l.display_name_chars) errors['register-display'] = `At most ${l.display_name_chars} characters (now ${chars(display)}).`;
  if (!password) errors['register-password'] = 'Choose a password.';
  else if (l && (chars(password) < l.password_chars.min || chars(password) > l.password_chars.max))
    errors['register-password'] = `${l.password_chars.min} to ${l.password_chars.max} characters (now ${chars(password)}).`;
  return errors;
}

/** The field a refusal of the server is about. */
const FIELD_OF = {
  username_taken: 'register-username',
  invalid_username: 'register-username',
  invalid_display_name: 'register-display',
  weak_password: 'register-password',
};

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
    $('#login-error').textContent = '';
    const errors = {};
    if (!username) errors['login-username'] = 'Enter your username.';
    if (!password) errors['login-password'] = 'Enter your password.';
    if (!showFieldErrors(ev.target, errors)) return;
    const res = await act(() => api.login(username, password), { errorEl: $('#login-error') });
    if (res) authenticated(res);
  });

  $('#register-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    $('#register-error').textContent = '';
    if (!showFieldErrors(form, registrationErrors())) return;
    try {
      authenticated(await api.register($('#register-username').value, $('#register-password').value, $('#register-display').value.trim() || undefined));
    } catch (e) {
      const field = e instanceof ApiError ? FIELD_OF[e.code] : undefined;
      if (field) showFieldErrors(form, { [field]: FRIENDLY[e.code] || e.message });
      else $('#register-error').textContent = errorText(e);
    }
  });
  // A field's error goes once it is edited.
  for (const input of $$('#auth-view input')) {
    input.addEventListener('input', () => {
      const el = $(`#${input.id}-error`);
      if (el?.textContent) {
        el.textContent = '';
        input.removeAttribute('aria-invalid');
      }
    });
  }

  subscribe((ev) => {
    if (ev.type === 'signed-in') showApp();
    else if (ev.type === 'signed-out') showAuth(ev.notice);
  });
}
