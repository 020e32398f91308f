// Groups: the list, the form for a new group, and the open group's details
// (rename, members and roles, invite, leave or disband).

import { api } from '../client.js';
import { $, $$, h, replaceChildren, avatar } from '../dom.js';
import { openConversation, openGroup } from '../nav.js';
import { confirmAction } from '../dialog.js';
import { limits } from '../limits.js';
import { act, toast } from '../notices.js';
import { closeGroup, forgetGroup, setGroupDetails, state, subscribe } from '../store.js';
import { refreshGroup, refreshGroups, refreshGroupsSoon } from '../sync.js';
import { changed, invalidate, moreMenu, presenceDot } from './common.js';

function renderGroups() {
  if (!state.me) return;
  const gsig = JSON.stringify([state.groups, state.activeGroup]);
  if (changed('groups', gsig)) {
    replaceChildren(
      $('#group-list'),
      state.groups.length
        ? state.groups.map((g) =>
            h(
              'li',
              {},
              h(
                'button',
                {
                  type: 'button',
                  class: `conv-item${g.id === state.activeGroup ? ' active' : ''}`,
                  dataset: { groupId: g.id },
                  'aria-current': g.id === state.activeGroup ? 'true' : false,
                  'aria-label': `${g.name}, ${g.member_count} members, you are ${g.role}`,
                  onclick: () => openGroup(g.id),
                },
                h('span', { class: 'avatar avatar-md group-avatar', 'aria-hidden': 'true' }, '#'),
                h('span', { class: 'conv-text' }, h('span', { class: 'conv-title', dir: 'auto', title: g.name }, g.name), h('span', { class: 'muted small' }, `${g.member_count} member${g.member_count === 1 ? '' : 's'} · ${g.role}`)),
              ),
            ),
          )
        : h('li', { class: 'empty' }, 'No groups yet.'),
    );
  }
  // Friends to pick for a new group (keeps the boxes already ticked).
  const csig = JSON.stringify(state.friends.map((f) => [f.user.id, f.user.display_name]));
  if (changed('groupCreateFriends', csig)) {
    const box = $('#group-create-friends');
    const ticked = new Set($$('input:checked', box).map((i) => Number(i.value)));
    replaceChildren(
      box,
      state.friends.length
        ? state.friends.map((f) =>
            h('label', { class: 'check' }, h('input', { type: 'checkbox', value: f.user.id, checked: ticked.has(f.user.id), dataset: { username: f.user.username } }), ' ', h('bdi', {}, f.user.display_name), ` (@${f.user.username})`),
          )
        : h('p', { class: 'muted small' }, 'Add friends first; a group of just you is fine too.'),
    );
  }
  $('#view-groups').classList.toggle('detail-open', state.activeGroup !== null);
  renderGroupDetails();
}

function renderGroupDetails() {
  const pane = $('#group-details');
  const id = state.activeGroup;
  const d = id !== null ? state.groupDetails.get(id) : null;
  $('#group-empty').hidden = id !== null;
  pane.hidden = id === null;
  if (id === null) {
    invalidate('groupDetails');
    return;
  }
  const invitable = state.friends.filter((f) => !d?.members.some((m) => m.user.id === f.user.id));
  const sig = JSON.stringify([id, d, invitable.map((f) => [f.user.id, f.user.display_name])]);
  if (!changed('groupDetails', sig)) return;

  // Keep what the user is typing or ticking across a refresh.
  const focusedId = pane.contains(document.activeElement) ? document.activeElement.id : null;
  const renameValue = $('#group-rename-input', pane)?.value;
  const renameDirty = $('#group-rename-input', pane)?.dataset.dirty === '1';
  const ticked = new Set($$('#group-invite input:checked', pane).map((i) => Number(i.value)));

  if (!d) {
    replaceChildren(pane, h('p', { class: 'muted' }, 'Loading…'));
    return;
  }
  const meId = state.me.id;
  const mine = d.members.find((m) => m.user.id === meId)?.role || 'member';
  const canRename = mine === 'owner' || mine === 'admin';

  const members = d.members.map((m) => {
    const name = m.user.display_name || m.user.username;
    const self = m.user.id === meId;
    const canRemove = !self && ((mine === 'owner' && m.role !== 'owner') || (mine === 'admin' && m.role === 'member'));
    const roleCtl =
      mine === 'owner' && !self
        ? h(
            'span',
            { class: 'role-ctl' },
            h('label', { for: `role-${m.user.id}`, class: 'sr-only' }, `Role of ${name}`),
            h(
              'select',
              { id: `role-${m.user.id}`, dataset: { userId: m.user.id }, onchange: (ev) => changeRole(d, m, ev.target.value, ev.target) },
              ['member', 'admin', 'owner'].map((r) => h('option', { value: r, selected: r === m.role }, r)),
            ),
          )
        : h('span', { class: `role role-${m.role}` }, m.role);
    return h(
      'li',
      { class: 'item', dataset: { userId: m.user.id, username: m.user.username, role: m.role, online: String(m.online) } },
      h('span', { class: 'avatar-wrap' }, avatar(m.user), presenceDot(m.online)),
      h(
        'span',
        { class: 'item-text' },
        h('span', { class: 'item-title', title: name }, h('bdi', {}, name), self ? ' (you)' : ''),
        h('span', { class: 'muted small' }, `@${m.user.username} · ${m.online ? 'online' : 'offline'}`),
      ),
      h(
        'span',
        { class: 'actions' },
        roleCtl,
        canRemove
          ? moreMenu(`More for ${name}`, h('button', { type: 'button', class: 'btn btn-small btn-danger', 'aria-label': `Remove ${name} from the group`, onclick: () => removeMember(d, m) }, 'Remove from group'))
          : null,
      ),
    );
  });

  replaceChildren(
    pane,
    h(
      'header',
      { class: 'chat-head' },
      h('button', { type: 'button', class: 'btn btn-icon back', 'aria-label': 'Back to groups', onclick: () => closeGroup() }, '←'),
      h('div', { class: 'chat-head-text' }, h('h2', { id: 'group-title', class: 'chat-title', dir: 'auto' }, d.name), h('span', { class: 'muted small' }, `${d.members.length} member${d.members.length === 1 ? '' : 's'} · you are ${mine}`)),
      h('button', { type: 'button', class: 'btn btn-primary btn-small', onclick: () => openConversation({ group: d.id }) }, 'Open chat'),
    ),
    canRename
      ? h(
          'form',
          { id: 'group-rename', class: 'inline-form', onsubmit: (ev) => renameGroup(ev, d) },
          h('label', { for: 'group-rename-input' }, 'Group name'),
          h('input', { id: 'group-rename-input', required: true, dir: 'auto', maxlength: limits()?.group_name_chars, value: renameDirty ? renameValue : d.name, dataset: { dirty: renameDirty ? '1' : '' }, oninput: (ev) => (ev.target.dataset.dirty = '1') }),
          h('button', { type: 'submit', class: 'btn' }, 'Rename'),
        )
      : null,
    h('h3', { class: 'sub' }, 'Members'),
    h('ul', { class: 'item-list', 'aria-label': 'Members', id: 'group-members' }, members),
    h(
      'form',
      { id: 'group-invite', class: 'form', onsubmit: (ev) => inviteMembers(ev, d) },
      h(
        'fieldset',
        {},
        h('legend', {}, 'Invite friends'),
        invitable.length
          ? h('div', { class: 'check-list' }, invitable.map((f) => h('label', { class: 'check' }, h('input', { type: 'checkbox', value: f.user.id, checked: ticked.has(f.user.id), dataset: { username: f.user.username } }), ' ', h('bdi', {}, f.user.display_name), ` (@${f.user.username})`)))
          : h('p', { class: 'muted small' }, 'All your friends are in this group.'),
      ),
      invitable.length ? h('button', { type: 'submit', class: 'btn' }, 'Invite') : null,
    ),
    h(
      'div',
      { class: 'danger-zone' },
      mine !== 'owner' ? h('button', { type: 'button', class: 'btn btn-danger', onclick: () => leaveGroup(d) }, 'Leave group') : null,
      mine === 'owner' ? h('button', { type: 'button', class: 'btn btn-danger', onclick: () => disbandGroup(d) }, 'Disband group') : null,
    ),
  );
  if (focusedId) document.getElementById(focusedId)?.focus();
}

async function createGroup(ev) {
  ev.preventDefault();
  const form = ev.target;
  const name = $('#group-create-name').value.trim();
  if (!name) return;
  const ids = $$('#group-create-friends input:checked').map((i) => Number(i.value));
  await act(async () => {
    const d = await api.createGroup(name, ids);
    form.reset();
    invalidate('groupCreateFriends');
    await refreshGroups();
    setGroupDetails(d);
    openGroup(d.id);
    toast(`Group “${d.name}” created.`, 'info');
  });
}

async function renameGroup(ev, d) {
  ev.preventDefault();
  const input = $('#group-rename-input');
  const name = input.value.trim();
  if (!name || name === d.name) return;
  await act(async () => {
    const nd = await api.renameGroup(d.id, name);
    input.dataset.dirty = '';
    setGroupDetails(nd);
    await refreshGroups();
    toast('Group renamed.', 'info');
  });
}

async function inviteMembers(ev, d) {
  ev.preventDefault();
  const ids = $$('#group-invite input:checked').map((i) => Number(i.value));
  if (!ids.length) return;
  await act(async () => {
    const nd = await api.addMembers(d.id, ids);
    setGroupDetails(nd);
    refreshGroupsSoon();
  });
}

async function removeMember(d, m) {
  const name = m.user.display_name || m.user.username;
  const sure = await confirmAction({ title: 'Remove from group?', text: `${name} (@${m.user.username}) will leave “${d.name}” and no longer get its messages.`, confirm: 'Remove from group' });
  if (!sure) return;
  await act(async () => {
    await api.removeMember(d.id, m.user.id);
    await refreshGroup(d.id);
    refreshGroupsSoon();
  });
}

async function changeRole(d, m, role, select) {
  const name = m.user.display_name || m.user.username;
  if (role === 'owner' && !(await confirmAction({ title: 'Hand over the group?', text: `${name} becomes the owner of “${d.name}”; you become an admin.`, confirm: 'Make owner' }))) {
    select.value = m.role;
    return;
  }
  const done = await act(async () => {
    const nd = await api.setRole(d.id, m.user.id, role);
    setGroupDetails(nd);
    refreshGroupsSoon();
    return true;
  });
  if (!done) select.value = m.role;
}

async function leaveGroup(d) {
  if (!(await confirmAction({ title: 'Leave group?', text: `You will no longer get the messages of “${d.name}”. A member can invite you back.`, confirm: 'Leave group' }))) return;
  await act(async () => {
    await api.removeMember(d.id, state.me.id);
    forgetGroup(d.id, { close: true });
    await refreshGroups();
    toast(`You left “${d.name}”.`, 'info');
  });
}

async function disbandGroup(d) {
  if (!(await confirmAction({ title: 'Disband group?', text: `“${d.name}” ends for all its members. This cannot be undone.`, confirm: 'Disband group' }))) return;
  await act(async () => {
    await api.disbandGroup(d.id);
    forgetGroup(d.id, { close: true });
    await refreshGroups();
    toast(`“${d.name}” was disbanded.`, 'info');
  });
}

export function mount() {
  $('#group-create').addEventListener('submit', createGroup);

  subscribe((ev) => {
    if (ev.type === 'render') renderGroups();
  });
}
