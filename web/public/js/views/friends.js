// Friends: find people (by the name they show or their username), friend
// requests (received and sent), the friend list. Names are shown whole
// (wrapped); removing a friend sits apart, behind "More", and is confirmed.

import { api } from '../client.js';
import { $, h, replaceChildren, avatar } from '../dom.js';
import { userById } from '../names.js';
import { openConversation } from '../nav.js';
import { confirmAction } from '../dialog.js';
import { act, toast } from '../notices.js';
import { rememberUser, setSearchResults, state, subscribe } from '../store.js';
import { refreshFriends, refreshRequests } from '../sync.js';
import { changed, invalidate, moreMenu, nameBlock, presenceDot } from './common.js';

function requestBetween(userId) {
  const out = state.requests.outgoing.find((r) => r.to === userId);
  if (out) return { dir: 'out', req: out };
  const inc = state.requests.incoming.find((r) => r.from === userId);
  if (inc) return { dir: 'in', req: inc };
  return null;
}

const SEARCH_PAGE = 20;

function userLine(user, ...extra) {
  return [avatar(user), nameBlock(user, ...extra)];
}


function renderFriends() {
  if (!state.me) return;
  const me = state.me;
  const requests = state.requests;
  // Search results
  const results = state.searchResults?.users;
  const rsig = JSON.stringify([state.searchResults, requests, [...state.friendById.keys()]]);
  if (changed('search', rsig)) {
    const ul = $('#search-results');
    $('#search-more').hidden = !state.searchResults?.more;
    ul.setAttribute('aria-label', results ? `Results for “${state.searchResults.query}”` : 'Search results');
    if (!results) replaceChildren(ul);
    else if (!results.length) replaceChildren(ul, h('li', { class: 'empty' }, `Nobody found for “${state.searchResults.query}”.`));
    else
      replaceChildren(
        ul,
        results.map((u) => {
          let action;
          const rel = requestBetween(u.id);
          const name = u.display_name || u.username;
          if (u.id === me.id) action = h('span', { class: 'muted small' }, 'You');
          else if (state.friendById.has(u.id)) action = h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Message ${name}`, onclick: () => openConversation({ user: u.id }) }, 'Message');
          else if (rel?.dir === 'out') action = h('span', { class: 'muted small' }, 'Request sent');
          else if (rel?.dir === 'in')
            action = h('button', { type: 'button', class: 'btn btn-small btn-primary', 'aria-label': `Accept friend request from ${name}`, onclick: () => acceptRequest(rel.req) }, 'Accept');
          else
            action = h('button', { type: 'button', class: 'btn btn-small btn-primary', 'aria-label': `Add ${name} as a friend`, onclick: () => sendRequest(u) }, 'Add friend');
          return h('li', { class: 'item', dataset: { userId: u.id, username: u.username } }, userLine(u), action);
        }),
      );
  }

  // Requests
  const qsig = JSON.stringify([requests, [...requests.incoming, ...requests.outgoing].map((r) => userById(r.from === me.id ? r.to : r.from)?.display_name)]);
  if (changed('requests', qsig)) {
    const inc = requests.incoming;
    replaceChildren(
      $('#incoming-list'),
      inc.length
        ? inc.map((r) => {
            const u = userById(r.from);
            const name = u?.display_name || `User ${r.from}`;
            return h(
              'li',
              { class: 'item', dataset: { requestId: r.id, userId: r.from, username: u?.username || '' } },
              userLine(u),
              h(
                'span',
                { class: 'actions' },
                h('button', { type: 'button', class: 'btn btn-small btn-primary', 'aria-label': `Accept friend request from ${name}`, onclick: () => acceptRequest(r) }, 'Accept'),
                h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Decline friend request from ${name}`, onclick: () => declineRequest(r) }, 'Decline'),
              ),
            );
          })
        : h('li', { class: 'empty' }, 'No requests.'),
    );
    const out = requests.outgoing;
    replaceChildren(
      $('#outgoing-list'),
      out.length
        ? out.map((r) => h('li', { class: 'item', dataset: { requestId: r.id, userId: r.to } }, userLine(userById(r.to)), h('span', { class: 'muted small' }, 'Waiting')))
        : h('li', { class: 'empty' }, 'None pending.'),
    );
  }

  // Friend list
  const friends = state.friends;
  const fsig = JSON.stringify(friends);
  if (changed('friends', fsig)) {
    replaceChildren(
      $('#friend-list'),
      friends.length
        ? friends.map((f) => {
            const name = f.user.display_name || f.user.username;
            return h(
              'li',
              { class: 'item', dataset: { userId: f.user.id, username: f.user.username, online: String(f.online) } },
              h('span', { class: 'avatar-wrap' }, avatar(f.user), presenceDot(f.online)),
              h(
                'span',
                { class: 'item-text' },
                h('span', { class: 'item-title', dir: 'auto', title: name }, name),
                h('span', { class: 'muted small' }, `@${f.user.username} · ${f.online ? 'online' : 'offline'}`),
                f.user.bio ? h('span', { class: 'small bio-line', dir: 'auto' }, f.user.bio) : null,
              ),
              h(
                'span',
                { class: 'actions' },
                h('button', { type: 'button', class: 'btn btn-small btn-primary', 'aria-label': `Message ${name}`, onclick: () => openConversation({ user: f.user.id }) }, 'Message'),
                moreMenu(
                  `More for ${name}`,
                  h('button', { type: 'button', class: 'btn btn-small btn-danger', 'aria-label': `Remove ${name} from friends`, onclick: () => removeFriend(f.user) }, 'Remove friend'),
                ),
              ),
            );
          })
        : h('li', { class: 'empty' }, 'No friends yet: search for people above.'),
    );
  }
}

async function sendRequest(user) {
  await act(async () => {
    await api.sendFriendRequest(user.id);
    toast(`Friend request sent to ${user.display_name || user.username}.`, 'info');
    await refreshRequests();
  });
}

async function acceptRequest(r) {
  await act(async () => {
    const friend = await api.acceptRequest(r.id);
    rememberUser(friend.user);
    toast(`You and ${friend.user.display_name} are now friends.`, 'info');
    await Promise.allSettled([refreshFriends(), refreshRequests()]);
  });
}

async function declineRequest(r) {
  await act(async () => {
    await api.declineRequest(r.id);
    await refreshRequests();
  });
}

async function removeFriend(user) {
  const name = user.display_name || user.username;
  const sure = await confirmAction({
    title: 'Remove friend?',
    text: `${name} (@${user.username}) will no longer be your friend: you cannot message each other until one of you sends a new friend request.`,
    confirm: 'Remove friend',
  });
  if (!sure) return;
  await act(async () => {
    await api.removeFriend(user.id);
    await refreshFriends();
  });
}

export function mount() {
  $('#search-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const q = $('#search-input').value.trim();
    if (!q) return;
    await act(async () => {
      const users = await api.searchUsers(q, { limit: SEARCH_PAGE });
      setSearchResults(q, users, { more: users.length === SEARCH_PAGE });
    });
  });
  // The next page of the same search: after the last username shown.
  $('#search-more').addEventListener('click', async () => {
    const { query, users: shown } = state.searchResults || {};
    if (!query || !shown?.length) return;
    await act(async () => {
      const users = await api.searchUsers(query, { limit: SEARCH_PAGE, after: shown[shown.length - 1].username });
      setSearchResults(query, users, { more: users.length === SEARCH_PAGE, append: true });
    });
  });

  subscribe((ev) => {
    if (ev.type === 'render') {
      renderFriends();
    } else if (ev.type === 'search') {
      invalidate('search');
      renderFriends();
    } else if (ev.type === 'signed-out') {
      replaceChildren($('#search-results'));
      $('#search-input').value = '';
    }
  });
}
