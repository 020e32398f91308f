// The REST half of docs/protocol.md: one method per route. Errors are thrown
// as `ApiError {status, code, retryAfter}`. A 429 changed nothing, so it is
// retried after `Retry-After` (a few times); a GET answered 503 is retried
// after a short back-off.

import { ApiError } from './errors.js';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const id = (n) => encodeURIComponent(String(n));

/** The base URL of a Confab server: as given, else the page's origin. */
export function baseUrl(url) {
  if (url) return String(url).replace(/\/+$/, '');
  if (globalThis.location?.origin) return globalThis.location.origin;
  throw new TypeError('no server URL: pass `url` (for instance http://127.0.0.1:8080)');
}

export class Rest {
  /**
   * @param {object} opts
   * @param {string} [opts.url]  the server, e.g. `https://chat.example.com` (default: the page's origin)
   * @param {string | (() => string | null)} [opts.token]  the token, or a function returning the current one
   * @param {(err: ApiError) => void} [opts.onUnauthorized]  called on a 401 of an authenticated call
   * @param {typeof fetch} [opts.fetch]
   * @param {number} [opts.retries]  how many times a 429 is retried (default 4)
   */
  constructor({ url, token = null, onUnauthorized = () => {}, fetch: fetchImpl, retries = 4 } = {}) {
    this.url = baseUrl(url);
    this.token = typeof token === 'function' ? token : () => token;
    this.onUnauthorized = onUnauthorized;
    this.fetch = fetchImpl || globalThis.fetch.bind(globalThis);
    this.retries = retries;
  }

  /** One call: `body` is sent as JSON; resolves with the parsed answer (null for 204). */
  async request(method, path, body, { auth = true } = {}) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth) {
      const token = this.token();
      if (!token) throw new ApiError(401, 'missing_token', 'not logged in');
      headers.Authorization = `Bearer ${token}`;
    }
    const init = { method, headers, body: body === undefined ? undefined : JSON.stringify(body) };
    for (let attempt = 0; ; attempt++) {
      let res;
      try {
        res = await this.fetch(this.url + path, init);
      } catch (e) {
        throw new ApiError(0, 'network', `the server cannot be reached (${e?.message || e})`);
      }
      const retryAfter = Number(res.headers.get('Retry-After')) || null;
      if (res.status === 429 && attempt < this.retries) {
        await sleep((retryAfter || 1) * 1000 * (0.8 + Math.random() * 0.4));
        continue;
      }
      // A read that found a dependency down may simply be asked again.
      if (res.status === 503 && method === 'GET' && attempt < 2) {
        await sleep(500 * 2 ** attempt);
        continue;
      }
      const data = await readJson(res);
      if (res.ok) return data;
      const code = data?.error?.code || `http_${res.status}`;
      const err = new ApiError(res.status, code, data?.error?.message || `the server answered ${res.status}`, retryAfter);
      if (res.status === 401 && auth) this.onUnauthorized(err);
      throw err;
    }
  }

  // ---- accounts and sessions ----------------------------------------------

  /** `POST /api/auth/register` → `{token, user}`. */
  register(username, password, displayName) {
    const body = { username, password };
    if (displayName) body.display_name = displayName;
    return this.request('POST', '/api/auth/register', body, { auth: false });
  }
  /** `POST /api/auth/login` → `{token, user}`. */
  login(username, password) {
    return this.request('POST', '/api/auth/login', { username, password }, { auth: false });
  }
  /** `POST /api/auth/logout`: ends this token's session (its sockets close with 4401). */
  logout() {
    return this.request('POST', '/api/auth/logout', {});
  }
  /** `POST /api/auth/logout-all`: ends every session of the user. */
  logoutAll() {
    return this.request('POST', '/api/auth/logout-all', {});
  }
  /** `POST /api/auth/ws-ticket` → `{ticket, expires_in}`: a single-use ticket, offered to `/ws` as the subprotocol `confab.ticket.<ticket>`. */
  wsTicket() {
    return this.request('POST', '/api/auth/ws-ticket', {});
  }
  /** `GET /api/me`. */
  me() {
    return this.request('GET', '/api/me');
  }
  /** `PATCH /api/me` with any of `display_name`, `bio`, `avatar_url`. */
  updateMe(fields) {
    return this.request('PATCH', '/api/me', fields);
  }
  /** `POST /api/me/password`: the user's other sessions end. */
  changePassword(oldPassword, newPassword) {
    return this.request('POST', '/api/me/password', { old_password: oldPassword, new_password: newPassword });
  }
  /** `DELETE /api/me`: deletes the account. */
  deleteAccount(password) {
    return this.request('DELETE', '/api/me', { password });
  }

  // ---- users ------------------------------------------------------------------

  /** `GET /api/users/{id}`. */
  user(userId) {
    return this.request('GET', `/api/users/${id(userId)}`);
  }
  /**
   * `GET /api/users?search=&limit=&after=`: users whose username starts with
   * `query` (a leading `@` ignored), or whose display name has a word
   * starting with each word of it (case and accents ignored); in lowercased
   * username order. The next page: `after` = the last username of this one.
   * A number as the second argument is the `limit` (the older signature).
   * @param {string} query
   * @param {{limit?: number, after?: string} | number} [opts]
   */
  searchUsers(query, opts = {}) {
    const { limit = 20, after } = typeof opts === 'number' ? { limit: opts } : opts ?? {};
    const q = new URLSearchParams({ search: query, limit: String(limit) });
    if (after !== undefined && after !== null) q.set('after', String(after));
    return this.request('GET', `/api/users?${q}`);
  }

  /**
   * `GET /api/limits` (no token needed): the lengths the server enforces,
   * `message_body_chars` among them (a node's setting).
   */
  limits() {
    return this.request('GET', '/api/limits', undefined, { auth: false });
  }

  // ---- friends ----------------------------------------------------------------

  /** `GET /api/friends`. */
  friends() {
    return this.request('GET', '/api/friends');
  }
  /** `GET /api/friends/requests` → `{incoming, outgoing}`. */
  friendRequests() {
    return this.request('GET', '/api/friends/requests');
  }
  /** `POST /api/friends/requests`. */
  sendFriendRequest(userId) {
    return this.request('POST', '/api/friends/requests', { user_id: userId });
  }
  /** `POST /api/friends/requests/{id}/accept` → the new Friend. */
  acceptRequest(requestId) {
    return this.request('POST', `/api/friends/requests/${id(requestId)}/accept`);
  }
  /** `POST /api/friends/requests/{id}/decline`. */
  declineRequest(requestId) {
    return this.request('POST', `/api/friends/requests/${id(requestId)}/decline`);
  }
  /** `DELETE /api/friends/{user_id}`. */
  removeFriend(userId) {
    return this.request('DELETE', `/api/friends/${id(userId)}`);
  }

  // ---- groups -----------------------------------------------------------------

  /** `GET /api/groups`. */
  groups() {
    return this.request('GET', '/api/groups');
  }
  /** `GET /api/groups/{id}`. */
  group(groupId) {
    return this.request('GET', `/api/groups/${id(groupId)}`);
  }
  /** `POST /api/groups`. */
  createGroup(name, memberIds = []) {
    return this.request('POST', '/api/groups', { name, member_ids: memberIds });
  }
  /** `PATCH /api/groups/{id}`. */
  renameGroup(groupId, name) {
    return this.request('PATCH', `/api/groups/${id(groupId)}`, { name });
  }
  /** `DELETE /api/groups/{id}`. */
  disbandGroup(groupId) {
    return this.request('DELETE', `/api/groups/${id(groupId)}`);
  }
  /** `POST /api/groups/{id}/members`. */
  addMembers(groupId, userIds) {
    return this.request('POST', `/api/groups/${id(groupId)}/members`, { user_ids: userIds });
  }
  /** `DELETE /api/groups/{id}/members/{user_id}` (the caller's own id: leave). */
  removeMember(groupId, userId) {
    return this.request('DELETE', `/api/groups/${id(groupId)}/members/${id(userId)}`);
  }
  /** `PATCH /api/groups/{id}/members/{user_id}`: `role` is `owner`, `admin` or `member`. */
  setRole(groupId, userId, role) {
    return this.request('PATCH', `/api/groups/${id(groupId)}/members/${id(userId)}`, { role });
  }

  // ---- conversations and history ---------------------------------------------

  /** `GET /api/conversations`: unread counts, read positions, last messages. */
  conversations(limit = 200) {
    return this.request('GET', `/api/conversations?limit=${id(limit)}`);
  }
  /**
   * A page of a conversation's history: `before` (seq) → older, newest
   * first; `after` → newer, oldest first; neither → the newest.
   * @param {{user: number} | {group: number}} conv
   * @param {{before?: number, after?: number, limit?: number}} [opts]
   */
  history(conv, { before, after, limit = 50 } = {}) {
    const path = conv.group !== undefined ? `group/${id(conv.group)}` : `user/${id(conv.user)}`;
    const q = new URLSearchParams({ limit: String(limit) });
    if (before !== undefined) q.set('before_seq', String(before));
    if (after !== undefined) q.set('after_seq', String(after));
    return this.request('GET', `/api/conversations/${path}/messages?${q}`);
  }
}

async function readJson(res) {
  if (res.status === 204) return null;
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
