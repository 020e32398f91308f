// Conversations and the message path of docs/protocol.md ("Sending",
// "Receiving and acknowledging", "Devices", "Read receipts", "Typing",
// "Reconnecting"):
//  - the tab is a device of its own (`?device=`, kept for the tab), so two
//    tabs of one user each get every message and ack for themselves;
//  - an outbox of every send without a `sent` answer, re-sent in order with
//    the same client id whenever a connection opens;
//  - repeats dropped by msg_id (kept as strings, never parsed as numbers);
//    messages kept in each conversation's `seq` order;
//  - acks, in frames of at most 1,000, once a message is stored;
//  - unread counts and read marks from the server (GET /api/conversations,
//    `read` frames), `read` sent when a conversation is shown;
//  - the history (older pages) from the server; the tab keeps a copy
//    (sessionStorage, per user) to show at once on a reload.

import { Connection } from './connection.js';

const STORAGE_PREFIX = 'confab.v1.chat.';
const MAX_MESSAGES_PER_CONV = 500;
const MAX_SEEN = 5000;
const ACK_EVERY_MS = 400;
const ACK_BATCH = 1000;
const RETRY_CODES = new Set(['unavailable', 'rate_limited']);
const DEVICE_KEY = 'confab.v1.device';
const TYPING_EVERY_MS = 2500; // the server passes on one per 3 s
const TYPING_SHOWN_MS = 5000;

/** This tab's device name (kept for the tab: a reload is the same device). */
export function deviceId(storage = window.sessionStorage) {
  let id = storage.getItem(DEVICE_KEY);
  if (!id) {
    id = `web-${crypto.randomUUID().replace(/-/g, '').slice(0, 16)}`;
    storage.setItem(DEVICE_KEY, id);
  }
  return id;
}

/** Where a message sorts in its conversation: its seq, or (own, not yet numbered) just after what was there when it was sent. */
const sortKey = (m) => (typeof m.seq === 'number' ? m.seq : (m.afterSeq || 0) + 0.5);

export const convKey = (to) => (to.group !== undefined ? `g:${to.group}` : `u:${to.user}`);
export const parseKey = (key) => {
  const [kind, id] = key.split(':');
  return kind === 'g' ? { group: Number(id) } : { user: Number(id) };
};

export class Chat {
  /**
   * @param {object} opts
   * @param {object} opts.me  the logged-in User
   * @param {() => Promise<{ticket: string}>} opts.ticket  a single-use ticket for the socket (POST /api/auth/ws-ticket)
   * @param {(what: object) => void} opts.onChange  something to re-render: {conv?, msg?, list?}
   * @param {(state: object) => void} opts.onConnection  connection state for the banner
   * @param {() => void} opts.onHandshakeFailure
   * @param {(to: object) => boolean} opts.isVisible  whether a conversation is on screen now (for unread counts)
   * @param {(frame: object) => void} opts.onSocial  `presence` and `event` frames
   * @param {() => void} opts.onReconnect  a connection opened again (what was pushed meanwhile was missed)
   */
  constructor({ me, ticket, onChange, onConnection, onHandshakeFailure, isVisible, onSocial = () => {}, onReconnect = () => {}, storage = window.sessionStorage }) {
    this.me = me;
    this.device = deviceId(storage);
    this.onSocial = onSocial;
    this.onReconnect = onReconnect;
    this.opened = false;
    this.typingSent = new Map(); // conv key → when `typing` was last sent
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
      // A single-use ticket per attempt: the token itself never goes in a URL.
      url: async () => {
        const { ticket: t } = await ticket();
        return `${proto}//${location.host}/ws?ticket=${encodeURIComponent(t)}&device=${encodeURIComponent(this.device)}`;
      },
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
      conv = {
        key,
        to: to.group !== undefined ? { group: to.group } : { user: to.user },
        unread: 0,
        messages: [],
        lastSeq: 0, // the newest seq known
        readSeq: 0, // how far this user has read
        peerReadSeq: 0, // direct: how far the other user has read
        reads: {}, // group: user id → how far they have read
        firstSeq: null, // the oldest seq the server still has for us (once the history was read)
        typing: {}, // user id → until when "is typing" shows
      };
      this.convs.set(key, conv);
    }
    return conv;
  }

  /** The conversation is on screen: nothing in it is unread, and the server (and the user's other devices) hear so. */
  markRead(key) {
    const conv = this.convs.get(key);
    if (!conv) return;
    const changedCount = conv.unread !== 0;
    conv.unread = 0;
    if (conv.lastSeq > conv.readSeq && this.conn.send({ type: 'read', conv: conv.to, seq: conv.lastSeq })) {
      conv.readSeq = conv.lastSeq;
    }
    if (changedCount) {
      this.scheduleSave();
      this.onChange({ list: true });
    }
  }

  /** The user is typing in `to`: the others hear it, at most every 2.5 s. */
  typing(to) {
    const key = convKey(to);
    const now = Date.now();
    if (now - (this.typingSent.get(key) || 0) < TYPING_EVERY_MS) return;
    if (this.conn.send({ type: 'typing', conv: to })) this.typingSent.set(key, now);
  }

  /** Who is typing in `key` now (user ids). */
  typists(key) {
    const conv = this.convs.get(key);
    const now = Date.now();
    return Object.entries(conv?.typing || {})
      .filter(([, until]) => until > now)
      .map(([id]) => Number(id));
  }

  /** How many others read own message `m` (group), or whether the other side did (direct: 1 or 0). */
  readCount(conv, m) {
    if (typeof m.seq !== 'number') return 0;
    if (conv.to.user !== undefined) return conv.peerReadSeq >= m.seq ? 1 : 0;
    return Object.values(conv.reads).filter((seq) => seq >= m.seq).length;
  }

  /** Own messages of `key` whose seq is not known yet (the history has it). */
  needsSeqs(key) {
    return (this.convs.get(key)?.messages || []).some((m) => m.own && m.msgId && typeof m.seq !== 'number');
  }

  // ---- from the server's history ---------------------------------------------

  /** GET /api/conversations: unread counts, read positions, last messages. */
  applyConversations(list) {
    for (const c of list) {
      if (!c.with) continue;
      const conv = this.conv(c.with);
      conv.lastSeq = Math.max(conv.lastSeq, c.last_seq);
      conv.readSeq = Math.max(conv.readSeq, c.read_seq);
      conv.unread = this.isVisible(conv.key) ? 0 : c.unread;
      if (typeof c.peer_read_seq === 'number') conv.peerReadSeq = Math.max(conv.peerReadSeq, c.peer_read_seq);
      if (c.last_message) this.addStored(conv, c.last_message);
    }
    this.scheduleSave();
    this.onChange({ list: true, history: true });
  }

  /** A page of `to`'s history: its messages join the conversation in seq order. */
  applyHistory(to, page) {
    const conv = this.conv(to);
    conv.firstSeq = page.first_seq;
    conv.lastSeq = Math.max(conv.lastSeq, page.last_seq);
    for (const m of page.messages) this.addStored(conv, m);
    for (const r of page.reads || []) this.noteRead(conv, r.user, r.seq);
    this.scheduleSave();
    this.onChange({ conv: conv.key, history: true, list: true });
  }

  /** The smallest seq held for `key`, and whether the server has older ones. */
  oldest(key) {
    const conv = this.convs.get(key);
    const seqs = (conv?.messages || []).map((m) => m.seq).filter((s) => typeof s === 'number');
    const min = seqs.length ? Math.min(...seqs) : null;
    const more = conv?.firstSeq == null ? conv?.lastSeq > 0 : min === null ? conv.lastSeq >= conv.firstSeq : min > conv.firstSeq;
    return { min, more: !!more };
  }

  addStored(conv, m) {
    if (typeof m.msg_id !== 'string') return;
    const known = conv.messages.find((x) => x.msgId === m.msg_id);
    if (known) {
      if (typeof known.seq !== 'number' && typeof m.seq === 'number') {
        known.seq = m.seq;
        this.sort(conv);
      }
      return;
    }
    if (this.seen.has(m.msg_id)) return;
    const own = m.from === this.me.id;
    const msg = { msgId: m.msg_id, own, from: m.from, to: m.to, body: String(m.body ?? ''), ts: m.ts, seq: m.seq, status: own ? 'sent' : 'received' };
    this.remember(m.msg_id);
    conv.messages.push(msg);
    this.sort(conv);
    this.trim(conv);
  }

  sort(conv) {
    conv.messages.sort((a, b) => sortKey(a) - sortKey(b));
  }

  noteRead(conv, user, seq) {
    if (conv.to.user !== undefined) conv.peerReadSeq = Math.max(conv.peerReadSeq, seq);
    else conv.reads[user] = Math.max(conv.reads[user] || 0, seq);
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
    const msg = { cid, own: true, from: this.me.id, to: conv.to, body, ts: Date.now(), status: 'pending', afterSeq: conv.lastSeq };
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
    if (this.opened) this.onReconnect();
    this.opened = true;
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
      case 'read':
        this.onRead(frame);
        break;
      case 'typing':
        this.onTyping(frame);
        break;
      case 'presence':
      case 'event':
        this.onSocial(frame);
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
      seq: f.seq,
      status: own ? 'sent' : 'received',
    };
    this.remember(f.msg_id);
    conv.messages.push(msg);
    this.sort(conv);
    this.trim(conv);
    // Counted once: what the server's list counted already is at or below lastSeq.
    const fresh = typeof f.seq !== 'number' || f.seq > conv.lastSeq;
    if (typeof f.seq === 'number') conv.lastSeq = Math.max(conv.lastSeq, f.seq);
    if (!own) delete conv.typing[f.from];
    if (!own && fresh && !this.isVisible(conv.key)) conv.unread += 1;
    this.scheduleSave();
    this.onChange({ conv: conv.key, msg, list: true, incoming: f });
  }

  /** A read receipt: another participant, or this user on another device. */
  onRead(f) {
    if (!f.conv || typeof f.user !== 'number' || typeof f.seq !== 'number') return;
    const conv = this.conv(f.conv);
    if (f.user === this.me.id) {
      conv.readSeq = Math.max(conv.readSeq, f.seq);
      conv.unread = conv.messages.filter((m) => !m.own && typeof m.seq === 'number' && m.seq > conv.readSeq).length;
      this.scheduleSave();
      this.onChange({ list: true });
      return;
    }
    this.noteRead(conv, f.user, f.seq);
    this.scheduleSave();
    this.onChange({ conv: conv.key, reads: true, needSeqs: this.needsSeqs(conv.key) });
  }

  onTyping(f) {
    if (!f.conv || typeof f.user !== 'number' || f.user === this.me.id) return;
    const conv = this.conv(f.conv);
    conv.typing[f.user] = Date.now() + TYPING_SHOWN_MS;
    this.onChange({ conv: conv.key, typing: true });
    setTimeout(() => this.onChange({ conv: conv.key, typing: true }), TYPING_SHOWN_MS + 50);
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
      // Fields a copy kept by an older version of the page may lack.
      const conv = { lastSeq: 0, readSeq: 0, peerReadSeq: 0, reads: {}, firstSeq: null, ...c, typing: {} };
      this.convs.set(c.key, conv);
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
        typing: {},
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
