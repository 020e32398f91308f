// Conversations as a client names them: `{user: id}` or `{group: id}`.

/**
 * A conversation's target, with exactly one key.
 * @param {{user?: number, group?: number}} to
 * @returns {{user: number} | {group: number}}
 */
export function target(to) {
  if (to && Number.isSafeInteger(to.group) && to.user === undefined) return { group: to.group };
  if (to && Number.isSafeInteger(to.user) && to.group === undefined) return { user: to.user };
  throw new TypeError('a conversation is {user: <id>} or {group: <id>}');
}

/** A string key for maps: `u:7` or `g:3`. */
export function convKey(to) {
  return to.group !== undefined ? `g:${to.group}` : `u:${to.user}`;
}

/** The inverse of `convKey`. */
export function parseConvKey(key) {
  const [kind, id] = String(key).split(':');
  return kind === 'g' ? { group: Number(id) } : { user: Number(id) };
}

/**
 * The conversation a `message` frame (or stored message) belongs to, as user
 * `me` sees it: the group, or the other user of a direct conversation.
 * @param {{from: number, to: {user?: number, group?: number}}} m
 * @param {number} me
 */
export function conversationOf(m, me) {
  if (m.to.group !== undefined) return { group: m.to.group };
  return { user: m.from === me ? m.to.user : m.from };
}
