// Conversations and the message path of docs/protocol.md ("Sending",
// "Receiving and acknowledging", "Reconnecting"):
//  - an outbox of every send without a `sent` answer, re-sent in order with
//    the same client id whenever a connection opens;
//  - repeats dropped by msg_id (kept as strings, never parsed as numbers);
//  - acks, in frames of at most 1,000, once a message is stored;
//  - everything kept for the tab (sessionStorage, per user), since the server
//    has no history route.

import { Connection } from './connection.js';

const STORAGE_PREFIX = 'confab.v1.chat.';
const MAX_MESSAGES_PER_CONV = 500;
const MAX_SEEN = 5000;
const ACK_EVERY_MS = 400;
const ACK_BATCH = 1000;
const RETRY_CODES = new Set(['unavailable', 'rate_limited']);

export const convKey = (to) => (to.group !== undefined ? `g:${to.group}` : `u:${to.user}`);
export const parseKey = (key) => {
  const [kind, id] = key.split(':');
  return kind === 'g' ? { group: Number(id) } : { user: Number(id) };
};

export class Chat {
  /**
   * @param {object} opts
   * @param {object} opts.me  the logged-in User
   * @param {() => string} opts.token
   * @param {(what: object) => void} opts.onChange  something to re-render: {conv?, msg?, list?}
   * @param {(state: object) => void} opts.onConnection  connection state for the banner
   * @param {() => void} opts.onHandshakeFailure
   * @param {(to: object) => boolean} opts.isVisible  whether a conversation is on screen now (for unread counts)
   */
  constructor({ me, token, onChange, onConnection, onHandshakeFailure, isVisible, storage = window.sessionStorage }) {
    this.me = me;
    this.onChange = onChange;
    this.isVisible = isVisible;
    this.storage = storage;
    this.storageKey = STORAGE_PREFIX + me.id;
    /** @type {Map<string, {key:string, to:object, title?:string, unread:number, messages:object[]}>} */
    this.convs = new Map();
    this.seen = new Set();
    this.byCid = new Map(); // client id → message
    this.outbox = []; // client ids, oldest first
    this.retryTimers = new Map();
    this.retryCounts = new Map();
    this.ackQueue = [];
    this.saveTimer = null;
    this.load();

    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.conn = new Connection({
      url: () => `${proto}//${location.host}/ws?token=${encodeURIComponent(token())}`,
      onFrame: (f) => this.onFrame(f),
      onOpen: () => this.onOpen(),
      onState: onConnection,
      onHandshakeFailure,
    });
    this.ackTimer = setInterval(() => this.flushAcks(), ACK_EVERY_MS);
  }

  start() {
    this.conn.start();
  }

  /** Stops the connection; `forget` also erases what this tab kept for the user (log out). */
  stop({ forget = false } = {}) {
    this.flushAcks();
    this.conn.stop();
    clearInterval(this.ackTimer);
    for (const t of this.retryTimers.values()) clearTimeout(t);
    this.retryTimers.clear();
    clearTimeout(this.saveTimer);
    if (forget) this.storage.removeItem(this.storageKey);
    else this.saveNow();
  }

  pendingCount() {
    return this.outbox.length;
  }

  // ---- conversations ----------------------------------------------------

  conv(to, create = true) {
    const key = convKey(to);
    let conv = this.convs.get(key);
    if (!conv && create) {
      conv = { key, to: to.group !== undefined ? { group: to.group } : { user: to.user }, unread: 0, messages: [] };
      this.convs.set(key, conv);
    }
    return conv;
  }

  markRead(key) {
    const conv = this.convs.get(key);
    if (conv && conv.unread) {
      conv.unread = 0;
      this.scheduleSave();
      this.onChange({ list: true });
    }
  }

  setTitle(to, title) {
    const conv = this.convs.get(convKey(to));
    if (conv && title && conv.title !== title) {
      conv.title = title;
      this.scheduleSave();
    }
  }

  totalUnread() {
    let n = 0;
    for (const c of this.convs.values()) n += c.unread;
    return n;
  }

  // ---- sending ------------------------------------------------------------

  /** Shows the message at once as pending, and sends it (now, or when connected). */
  send(to, body) {
    const cid = crypto.randomUUID();
    const conv = this.conv(to);
    const msg = { cid, own: true, from: this.me.id, to: conv.to, body, ts: Date.now(), status: 'pending' };
    conv.messages.push(msg);
    this.trim(conv);
    this.byCid.set(cid, msg);
    this.outbox.push(cid);
    this.saveNow();
    this.onChange({ conv: conv.key, msg, list: true });
    this.transmit(msg);
    return msg;
  }

  /** Retry of a failed send: the same client id, `to` and body. */
  retry(cid) {
    const msg = this.byCid.get(cid);
    if (!msg || msg.status !== 'failed') return;
    msg.status = 'pending';
    delete msg.error;
    this.retryCounts.delete(cid);
    if (!this.outbox.includes(cid)) this.outbox.push(cid);
    this.saveNow();
    this.onChange({ conv: convKey(msg.to), msg });
    this.transmit(msg);
  }

  transmit(msg) {
    this.conn.send({ type: 'send', id: msg.cid, to: msg.to, body: msg.body });
  }

  onOpen() {
    // Re-send every unconfirmed send, in the original order, with its id.
    for (const t of this.retryTimers.values()) clearTimeout(t);
    this.retryTimers.clear();
    for (const cid of this.outbox) {
      const msg = this.byCid.get(cid);
      if (msg) this.transmit(msg);
    }
    this.flushAcks();
  }

  // ---- receiving ------------------------------------------------------------

  onFrame(frame) {
    switch (frame.type) {
      case 'message':
        this.onMessage(frame);
        break;
      case 'sent':
        this.onSent(frame);
        break;
      case 'error':
        this.onError(frame);
        break;
      default:
        break; // pong, and types v1 may add
    }
  }

  onMessage(f) {
    if (typeof f.msg_id !== 'string' || !f.to || typeof f.from !== 'number') return;
    this.ackQueue.push(f.msg_id);
    if (this.seen.has(f.msg_id)) return; // a repeat
    const own = f.from === this.me.id; // a copy from my other device
    const to = f.to.group !== undefined ? { group: f.to.group } : { user: own ? f.to.user : f.from };
    const conv = this.conv(to);
    const msg = {
      msgId: f.msg_id,
      own,
      from: f.from,
      to: f.to,
      body: String(f.body ?? ''),
      ts: f.ts,
      status: own ? 'sent' : 'received',
    };
    this.remember(f.msg_id);
    conv.messages.push(msg);
    this.trim(conv);
    if (!own && !this.isVisible(conv.key)) conv.unread += 1;
    this.scheduleSave();
    this.onChange({ conv: conv.key, msg, list: true, incoming: f });
  }

  onSent(f) {
    const msg = this.byCid.get(f.id);
    if (!msg) return;
    this.dequeue(f.id);
    if (typeof f.msg_id === 'string') {
      msg.msgId = f.msg_id;
      this.remember(f.msg_id);
    }
    if (typeof f.ts === 'number') msg.ts = f.ts;
    msg.status = 'sent';
    delete msg.error;
    this.scheduleSave();
    this.onChange({ conv: convKey(msg.to), msg });
  }

  onError(f) {
    const msg = typeof f.id === 'string' ? this.byCid.get(f.id) : null;
    if (!msg || msg.status === 'sent') {
      console.warn('confab: error frame', f);
      return;
    }
    if (RETRY_CODES.has(f.code)) {
      // Not refused: send again with the same id on this connection, after a back-off.
      const n = (this.retryCounts.get(f.id) || 0) + 1;
      this.retryCounts.set(f.id, n);
      const delay = Math.min(10_000, 500 * 2 ** Math.min(n, 5)) * (0.5 + Math.random() * 0.5);
      clearTimeout(this.retryTimers.get(f.id));
      this.retryTimers.set(
        f.id,
        setTimeout(() => {
          this.retryTimers.delete(f.id);
          if (this.outbox.includes(f.id)) this.transmit(msg);
        }, delay),
      );
      msg.retrying = true;
      this.onChange({ conv: convKey(msg.to), msg });
      return;
    }
    // A final refusal of this send.
    this.dequeue(f.id);
    msg.status = 'failed';
    msg.error = { code: String(f.code || 'error'), message: String(f.message || '') };
    this.scheduleSave();
    this.onChange({ conv: convKey(msg.to), msg });
  }

  dequeue(cid) {
    const i = this.outbox.indexOf(cid);
    if (i >= 0) this.outbox.splice(i, 1);
    clearTimeout(this.retryTimers.get(cid));
    this.retryTimers.delete(cid);
    this.retryCounts.delete(cid);
    const msg = this.byCid.get(cid);
    if (msg) delete msg.retrying;
  }

  remember(msgId) {
    this.seen.add(msgId);
    if (this.seen.size > MAX_SEEN) {
      // Forget the oldest ids (a Set iterates in insertion order).
      const drop = this.seen.size - MAX_SEEN;
      let i = 0;
      for (const id of this.seen) {
        if (i++ >= drop) break;
        this.seen.delete(id);
      }
    }
  }

  trim(conv) {
    while (conv.messages.length > MAX_MESSAGES_PER_CONV) {
      const i = conv.messages.findIndex((m) => m.status !== 'pending');
      if (i < 0) break;
      const [old] = conv.messages.splice(i, 1);
      if (old.cid) this.byCid.delete(old.cid);
    }
  }

  // ---- acks -------------------------------------------------------------------

  flushAcks() {
    if (!this.ackQueue.length || !this.conn.isOpen()) return;
    // Ack only what is stored: write the tab's copy first.
    this.saveNow();
    const ids = [...new Set(this.ackQueue)];
    for (let i = 0; i < ids.length; i += ACK_BATCH) {
      const batch = ids.slice(i, i + ACK_BATCH);
      if (!this.conn.send({ type: 'ack', msg_ids: batch })) return; // kept for the next connection
      this.ackQueue = this.ackQueue.filter((id) => !batch.includes(id));
    }
  }

  // ---- the tab's copy -----------------------------------------------------------

  load() {
    let data = null;
    try {
      data = JSON.parse(this.storage.getItem(this.storageKey) || 'null');
    } catch {
      data = null;
    }
    if (!data) return;
    for (const c of data.convs || []) {
      this.convs.set(c.key, c);
      for (const m of c.messages) {
        if (m.cid) this.byCid.set(m.cid, m);
        if (m.msgId) this.seen.add(m.msgId);
      }
    }
    for (const id of data.seen || []) this.seen.add(id);
    this.outbox = (data.outbox || []).filter((cid) => this.byCid.get(cid)?.status === 'pending');
  }

  scheduleSave() {
    if (this.saveTimer) return;
    this.saveTimer = setTimeout(() => this.saveNow(), 200);
  }

  saveNow() {
    clearTimeout(this.saveTimer);
    this.saveTimer = null;
    const data = {
      convs: [...this.convs.values()].map((c) => ({
        ...c,
        messages: c.messages.map((m) => {
          const { retrying, ...rest } = m;
          return rest;
        }),
      })),
      seen: [...this.seen],
      outbox: this.outbox,
    };
    try {
      this.storage.setItem(this.storageKey, JSON.stringify(data));
    } catch (e) {
      // Storage full: keep going in memory.
      console.warn('confab: could not store the conversation', e);
    }
  }
}
