// The REST half of docs/protocol.md: a thin fetch wrapper.
//
// Every error has the body {"error":{"code","message"}}; it is thrown as an
// ApiError carrying the HTTP status and the code. A 429 from the gateway
// changed nothing (4xx), so it is retried after Retry-After, a few times.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Api {
  /**
   * @param {object} opts
   * @param {() => string|null} opts.token  the current token, or null
   * @param {(err: ApiError) => void} opts.onUnauthorized  called on 401 of an authenticated call
   */
  constructor({ token, onUnauthorized }) {
    this.token = token;
    this.onUnauthorized = onUnauthorized;
  }

  async request(method, path, body, { auth = true } = {}) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth) {
      const token = this.token();
      if (!token) throw new ApiError(401, 'missing_token', 'Not logged in.');
      headers.Authorization = `Bearer ${token}`;
    }
    const init = { method, headers, body: body === undefined ? undefined : JSON.stringify(body) };
    for (let attempt = 0; ; attempt++) {
      let res;
      try {
        res = await fetch(path, init);
      } catch (e) {
        throw new ApiError(0, 'network', 'The server cannot be reached. Check your connection.');
      }
      if (res.status === 429 && attempt < 4) {
        const after = Number(res.headers.get('Retry-After')) || 1;
        await sleep(after * 1000 * (0.8 + Math.random() * 0.4));
        continue;
      }
      // A read that found a dependency down may simply be retried.
      if (res.status === 503 && method === 'GET' && attempt < 2) {
        await sleep(500 * 2 ** attempt);
        continue;
      }
      if (res.status === 204) return null;
      let data = null;
      const text = await res.text();
      if (text) {
        try {
          data = JSON.parse(text);
        } catch {
          data = null;
        }
      }
      if (res.ok) return data;
      const code = data?.error?.code || `http_${res.status}`;
      const message = data?.error?.message || `The server answered ${res.status}.`;
      const err = new ApiError(res.status, code, message);
      if (res.status === 401 && auth) this.onUnauthorized(err);
      throw err;
    }
  }

  // Accounts
  register(username, password, displayName) {
    const body = { username, password };
    if (displayName) body.display_name = displayName;
    return this.request('POST', '/api/auth/register', body, { auth: false });
  }
  login(username, password) {
    return this.request('POST', '/api/auth/login', { username, password }, { auth: false });
  }
  /** Ends this token's session on the server (its sockets close with 4401). */
  logout() {
    return this.request('POST', '/api/auth/logout', {});
  }
  /** A single-use ticket for /ws?ticket=, so that the token never goes in a URL. */
  wsTicket() {
    return this.request('POST', '/api/auth/ws-ticket', {});
  }
  me() {
    return this.request('GET', '/api/me');
  }
  updateMe(fields) {
    return this.request('PATCH', '/api/me', fields);
  }
  changePassword(oldPassword, newPassword) {
    return this.request('POST', '/api/me/password', { old_password: oldPassword, new_password: newPassword });
  }

  // Users
  user(id) {
    return this.request('GET', `/api/users/${encodeURIComponent(id)}`);
  }
  searchUsers(prefix, limit = 20) {
    const q = new URLSearchParams({ search: prefix, limit: String(limit) });
    return this.request('GET', `/api/users?${q}`);
  }

  // Friends
  friends() {
    return this.request('GET', '/api/friends');
  }
  friendRequests() {
    return this.request('GET', '/api/friends/requests');
  }
  sendFriendRequest(userId) {
    return this.request('POST', '/api/friends/requests', { user_id: userId });
  }
  acceptRequest(id) {
    return this.request('POST', `/api/friends/requests/${id}/accept`);
  }
  declineRequest(id) {
    return this.request('POST', `/api/friends/requests/${id}/decline`);
  }
  removeFriend(userId) {
    return this.request('DELETE', `/api/friends/${userId}`);
  }

  // Groups
  groups() {
    return this.request('GET', '/api/groups');
  }
  group(id) {
    return this.request('GET', `/api/groups/${id}`);
  }
  createGroup(name, memberIds) {
    return this.request('POST', '/api/groups', { name, member_ids: memberIds });
  }
  renameGroup(id, name) {
    return this.request('PATCH', `/api/groups/${id}`, { name });
  }
  disbandGroup(id) {
    return this.request('DELETE', `/api/groups/${id}`);
  }
  addMembers(id, userIds) {
    return this.request('POST', `/api/groups/${id}/members`, { user_ids: userIds });
  }
  removeMember(id, userId) {
    return this.request('DELETE', `/api/groups/${id}/members/${userId}`);
  }
  setRole(id, userId, role) {
    return this.request('PATCH', `/api/groups/${id}/members/${userId}`, { role });
  }

  // Conversations and history
  conversations(limit = 200) {
    return this.request('GET', `/api/conversations?limit=${limit}`);
  }
  /** A page of a conversation (`to`: {user} or {group}): {before} newest first, {after} oldest first. */
  history(to, { before, after, limit = 50 } = {}) {
    const path = to.group !== undefined ? `group/${to.group}` : `user/${to.user}`;
    const q = new URLSearchParams({ limit: String(limit) });
    if (before !== undefined) q.set('before_seq', String(before));
    if (after !== undefined) q.set('after_seq', String(after));
    return this.request('GET', `/api/conversations/${path}/messages?${q}`);
  }
}
