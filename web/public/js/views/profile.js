// Profile: the user's own profile (shown and edited) and the password form.

import { api } from '../client.js';
import { $, replaceChildren, avatar } from '../dom.js';
import { act, toast } from '../notices.js';
import { saveSession } from '../session.js';
import { profileSaved, state, subscribe } from '../store.js';
import { changed, invalidate } from './common.js';

function renderProfile() {
  if (!state.me) return;
  const me = state.me;
  if (!changed('profile', JSON.stringify(me))) return;
  replaceChildren($('#profile-avatar'), avatar(me, 'lg'));
  $('#profile-display').textContent = me.display_name;
  $('#profile-username').textContent = `@${me.username} · member since ${new Date(me.created_at).toLocaleDateString()}`;
  $('#profile-bio').textContent = me.bio || 'No bio yet.';
  $('#profile-display-input').value = me.display_name;
  $('#profile-bio-input').value = me.bio || '';
  $('#profile-avatar-input').value = me.avatar_url || '';
  $('#password-username').value = me.username;
}

async function saveProfile(ev) {
  ev.preventDefault();
  const fields = {
    display_name: $('#profile-display-input').value,
    bio: $('#profile-bio-input').value === '' ? null : $('#profile-bio-input').value,
    avatar_url: $('#profile-avatar-input').value.trim() === '' ? null : $('#profile-avatar-input').value.trim(),
  };
  await act(
    async () => {
      const me = await api.updateMe(fields);
      invalidate('profile'); // the form shows what the server kept, even if unchanged
      profileSaved(me);
      saveSession();
      toast('Profile saved.', 'info');
    },
    { errorEl: $('#profile-error') },
  );
}

async function changePassword(ev) {
  ev.preventDefault();
  await act(
    async () => {
      await api.changePassword($('#password-old').value, $('#password-new').value);
      ev.target.reset();
      toast('Password changed.', 'info');
    },
    { errorEl: $('#password-error') },
  );
}

export function mount() {
  $('#profile-form').addEventListener('submit', saveProfile);
  $('#password-form').addEventListener('submit', changePassword);

  subscribe((ev) => {
    if (ev.type === 'render') renderProfile();
  });
}
