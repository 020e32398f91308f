// The tab's copy of the conversations (sessionStorage, per user): what a
// reload shows at once, before the server answers, and what the SDK
// continues from (the ids already seen, the sends not yet confirmed). A
// message is acked only once the copy holding it is written (chat.js), so
// writes are batched: at most one every 200 ms.

const STORAGE_PREFIX = 'confab.v1.chat.';
const DEVICE_KEY = 'confab.v1.device';
const SAVE_AFTER_MS = 200;

export const copyKey = (userId) => STORAGE_PREFIX + userId;

/** This tab's device name (kept for the tab: a reload is the same device). */
export function deviceId(storage = window.sessionStorage) {
  let id = storage.getItem(DEVICE_KEY);
  if (!id) {
    id = `web-${crypto.randomUUID().replace(/-/g, '').slice(0, 16)}`;
    storage.setItem(DEVICE_KEY, id);
  }
  return id;
}

/** The copy under `key`: {convs (key → conversation), byCid (client id → own message), seen, outbox}. */
export function readCopy(storage, key) {
  let data = null;
  try {
    data = JSON.parse(storage.getItem(key) || 'null');
  } catch {
    data = null;
  }
  const convs = new Map();
  const byCid = new Map();
  const seen = new Set(data?.seen || []);
  for (const c of data?.convs || []) {
    // Fields a copy kept by an older version of the page may lack.
    convs.set(c.key, { lastSeq: 0, readSeq: 0, peerReadSeq: 0, reads: {}, firstSeq: null, ...c, typing: {} });
    for (const m of c.messages) {
      if (m.cid) byCid.set(m.cid, m);
      if (m.msgId) seen.add(m.msgId);
    }
  }
  // The unconfirmed sends, oldest first (an older copy kept only their ids).
  const outbox = (data?.outbox || [])
    .map((e) => (typeof e === 'string' ? byCid.get(e) && { id: e, to: byCid.get(e).to, body: byCid.get(e).body } : e))
    .filter((e) => e && byCid.get(e.id)?.status === 'pending');
  return { convs, byCid, seen, outbox };
}

/**
 * Writes of the copy, batched: `schedule()` writes within 200 ms, `now()`
 * at once, and `written()` resolves once the next write is done.
 */
export class CopyWriter {
  /** @param {() => string} serialize  the copy as it is now */
  constructor(storage, key, serialize) {
    this.storage = storage;
    this.key = key;
    this.serialize = serialize;
    this.timer = null;
    this.waiting = null; // {promise, resolve} of the next write
  }

  schedule() {
    if (this.timer) return;
    this.timer = setTimeout(() => this.now(), SAVE_AFTER_MS);
  }

  written() {
    this.schedule();
    if (!this.waiting) {
      let resolve;
      const promise = new Promise((r) => (resolve = r));
      this.waiting = { promise, resolve };
    }
    return this.waiting.promise;
  }

  now() {
    clearTimeout(this.timer);
    this.timer = null;
    try {
      this.storage.setItem(this.key, this.serialize());
    } catch (e) {
      // Storage full: keep going in memory.
      console.warn('confab: could not store the conversation', e);
    }
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.resolve();
  }

  /** Stops writing; `forget` also erases the copy (log out). */
  stop({ forget = false } = {}) {
    clearTimeout(this.timer);
    this.timer = null;
    if (forget) this.storage.removeItem(this.key);
  }
}
