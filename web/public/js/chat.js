// The tab's conversations, on top of the SDK (`@confab/client`, which the
// nodes serve at /sdk/): the SDK keeps the socket (tickets, back-off, close
// codes), the outbox (re-sent with the same client ids), dedup by msg_id
// and the acks; this module keeps what the page shows:
//  - the tab is a device of its own (`?device=`, kept for the tab), so two
//    tabs of one user each get every message and ack for themselves;
//  - messages in each conversation's `seq` order, with their status
//    (pending, sent, failed);
//  - unread counts and read marks from the server (GET /api/conversations,
//    `read` frames), `read` sent when a conversation is shown;
//  - the history (older pages) from the server; the tab keeps a copy
//    (sessionStorage, per user) to show at once on a reload, and a message
//    is acked only once that copy holds it.

import { Confab, convKey, parseConvKey } from './sdk.js';
import { CopyWriter, copyKey, deviceId, readCopy } from './copy.js';

export { convKey };
export const parseKey = parseConvKey;

const MAX_MESSAGES_PER_CONV = 500;
const MAX_SEEN = 5000; // msg_ids kept (with the tab's copy) to drop repeats
const TYPING_SHOWN_MS = 5000;

/**
 * Where a message sorts in its conversation (the server's order, by seq, on
 * every device): its seq; an own message the server has not numbered for us
 * yet goes just after what was known when it was confirmed (or refused),
 * and a pending one after everything (the server will number it after what
 * it has now). Once the seq is learned (chat.needsSeqs, from the history)
 * the message moves to its place.
 */
function sortKey(m) {
  if (typeof m.seq === 'number') return m.seq;
  if (m.status === 'pending') return Infinity;
  return (m.afterSeq || 0) + 0.5;
}

const bySortKey = (a, b) => {
  const x = sortKey(a);
  const y = sortKey(b);
  return x < y ? -1 : x > y ? 1 : 0;
};

export class Chat {
  /**
   * @param {object} opts
   * @param {object} opts.me  the logged-in User
   * @param {() => string|null} opts.token  the session's token
   * @param {(what: object) => void} opts.onChange  something to re-render: {conv?, msg?, list?}
   * @param {(state: object) => void} opts.onConnection  connection state for the banner
   * @param {(code: string) => void} opts.onSessionEnd  the token was refused, or the session revoked (4401)
   * @param {(to: object) => boolean} opts.isVisible  whether a conversation is on screen now (for unread counts)
   * @param {(frame: object) => void} opts.onSocial  `presence` and `event` frames
   * @param {() => void} opts.onReconnect  a connection opened again (what was pushed meanwhile was missed)
   */
  constructor({ me, token, onChange, onConnection, onSessionEnd, isVisible, onSocial = () => {}, onReconnect = () => {}, storage = window.sessionStorage }) {
    this.me = me;
    this.onChange = onChange;
    this.isVisible = isVisible;
    const kept = readCopy(storage, copyKey(me.id));
    /** @type {Map<string, {key:string, to:object, title?:string, unread:number, messages:object[]}>} */
    this.convs = kept.convs;
    this.byCid = kept.byCid; // client id → own message
    this.copy = new CopyWriter(storage, copyKey(me.id), () =>
      JSON.stringify({
        convs: [...this.convs.values()].map((c) => ({ ...c, typing: {} })),
        seen: this.sdk.seenIds(),
        outbox: this.sdk.pending(),
      }),
    );

    this.sdk = new Confab({ token, device: deviceId(storage), user: me, seen: kept.seen, seenLimit: MAX_SEEN, outbox: kept.outbox });
    this.sdk.on('state', (st) => onConnection({ ...st, offline: navigator.onLine === false }));
    this.sdk.on('open', ({ reconnect }) => reconnect && onReconnect());
    this.sdk.on('unauthorized', ({ code }) => onSessionEnd(code === 'session_revoked' ? 'token_revoked' : code));
    // Acked by the SDK once the tab's copy holds it.
    this.sdk.on('message', (f) => this.onMessage(f) && this.stored());
    this.sdk.on('sent', (s) => this.onSent(s));
    this.sdk.on('failed', (f) => this.onFailed(f));
    this.sdk.on('read', (f) => this.onRead(f));
    this.sdk.on('typing', (f) => this.onTyping(f));
    this.sdk.on('presence', onSocial);
    this.sdk.on('event', onSocial);
    this.sdk.on('refused', (f) => console.warn('confab: refused', f));
  }

  start() {
    this.sdk.connect().catch(() => {}); // a session that ends is reported by 'unauthorized'
  }

  /** Stops the connection; `forget` also erases what this tab kept for the user (log out). */
  stop({ forget = false } = {}) {
    this.copy.now();
    this.sdk.close();
    this.copy.stop({ forget });
  }

  reconnectNow() {
    this.sdk.reconnectNow();
  }

  pendingCount() {
    return this.sdk.pending().length;
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
    if (conv.lastSeq > conv.readSeq && this.sdk.read(conv.to, conv.lastSeq)) {
      conv.readSeq = conv.lastSeq;
    }
    if (changedCount) {
      this.scheduleSave();
      this.onChange({ list: true });
    }
  }

  /** The user is typing in `to`: the others hear it (the SDK sends at most one every 2.5 s). */
  typing(to) {
    this.sdk.typing(to);
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
    return this.unnumbered(key).length > 0;
  }

  /** The seq after which the history holds every own message of `key` still without one (for `after_seq`). */
  unnumberedAfter(key) {
    const after = this.unnumbered(key).map((m) => m.afterSeq || 0);
    return after.length ? Math.max(0, Math.min(...after) - 1) : null;
  }

  unnumbered(key) {
    return (this.convs.get(key)?.messages || []).filter((m) => m.own && m.msgId && typeof m.seq !== 'number');
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
    for (const m of page.messages) this.addStored(conv, m, { sort: false });
    this.sort(conv);
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

  addStored(conv, m, { sort = true } = {}) {
    if (typeof m.msg_id !== 'string') return;
    const known = conv.messages.find((x) => x.msgId === m.msg_id);
    if (known) {
      if (typeof known.seq !== 'number' && typeof m.seq === 'number') {
        known.seq = m.seq;
        if (sort) this.sort(conv);
      }
      return;
    }
    const own = m.from === this.me.id;
    const msg = { msgId: m.msg_id, own, from: m.from, to: m.to, body: String(m.body ?? ''), ts: m.ts, seq: m.seq, status: own ? 'sent' : 'received' };
    this.sdk.markSeen([m.msg_id]); // a `message` frame for it is acked, not shown twice
    conv.messages.push(msg);
    if (sort) this.sort(conv);
    this.trim(conv);
  }

  /** Puts `conv`'s messages in order; true if any moved. */
  sort(conv) {
    const before = conv.messages.slice();
    conv.messages.sort(bySortKey);
    return conv.messages.some((m, i) => m !== before[i]);
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
    this.sdk.send(conv.to, body, { id: cid }).catch(() => {}); // the outcome comes as 'sent' or 'failed'
    this.saveNow();
    this.onChange({ conv: conv.key, msg, list: true });
    return msg;
  }

  /** Retry of a failed send: the same client id, `to` and body. */
  retry(cid) {
    const msg = this.byCid.get(cid);
    if (!msg || msg.status !== 'failed') return;
    msg.status = 'pending';
    delete msg.error;
    const reordered = this.sort(this.conv(msg.to));
    this.sdk.send(msg.to, msg.body, { id: cid }).catch(() => {});
    this.saveNow();
    this.onChange({ conv: convKey(msg.to), msg, reordered });
  }

  onSent({ id, msg_id: msgId, ts }) {
    const msg = this.byCid.get(id);
    if (!msg) return;
    const conv = this.conv(msg.to);
    msg.msgId = msgId;
    msg.ts = ts;
    msg.status = 'sent';
    msg.afterSeq = conv.lastSeq;
    const reordered = this.sort(conv);
    this.scheduleSave();
    this.onChange({ conv: conv.key, msg, reordered, needSeqs: true });
  }

  /** A final refusal of a send. */
  onFailed({ id, code, message }) {
    const msg = this.byCid.get(id);
    if (!msg) return;
    const conv = this.conv(msg.to);
    msg.status = 'failed';
    msg.error = { code, message };
    msg.afterSeq = conv.lastSeq;
    const reordered = this.sort(conv);
    this.scheduleSave();
    this.onChange({ conv: conv.key, msg, reordered });
  }

  // ---- receiving ------------------------------------------------------------

  /** A new message (the SDK drops repeats); true once it is in the conversation. */
  onMessage(f) {
    if (!f.to || typeof f.from !== 'number') return false;
    const own = f.from === this.me.id; // a copy from my other device
    const to = f.to.group !== undefined ? { group: f.to.group } : { user: own ? f.to.user : f.from };
    const conv = this.conv(to);
    if (conv.messages.some((m) => m.msgId === f.msg_id)) return true; // already here from the history
    const msg = { msgId: f.msg_id, own, from: f.from, to: f.to, body: String(f.body ?? ''), ts: f.ts, seq: f.seq, status: own ? 'sent' : 'received' };
    conv.messages.push(msg);
    this.sort(conv);
    const reordered = conv.messages[conv.messages.length - 1] !== msg; // arrived before what is shown last
    this.trim(conv);
    // Counted once: what the server's list counted already is at or below lastSeq.
    const fresh = typeof f.seq !== 'number' || f.seq > conv.lastSeq;
    if (typeof f.seq === 'number') conv.lastSeq = Math.max(conv.lastSeq, f.seq);
    if (!own) delete conv.typing[f.from];
    if (!own && fresh && !this.isVisible(conv.key)) conv.unread += 1;
    this.scheduleSave();
    this.onChange({ conv: conv.key, msg, list: true, incoming: f, reordered });
    return true;
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

  trim(conv) {
    while (conv.messages.length > MAX_MESSAGES_PER_CONV) {
      const i = conv.messages.findIndex((m) => m.status !== 'pending');
      if (i < 0) break;
      const [old] = conv.messages.splice(i, 1);
      if (old.cid) this.byCid.delete(old.cid);
    }
  }

  // ---- the tab's copy (copy.js) -------------------------------------------------

  /** Resolves once the tab's copy holds what is in memory now. */
  stored() {
    return this.copy.written();
  }

  scheduleSave() {
    this.copy.schedule();
  }

  saveNow() {
    this.copy.now();
  }
}
