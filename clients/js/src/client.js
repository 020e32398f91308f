// The message path of docs/protocol.md on top of `Socket` and `Rest`:
// sends that resolve on `sent` and are re-sent with their ids after any
// failure, `message` events without repeats (dedup by msg_id), acks once the
// app's handlers have the message, read receipts and typing, and the
// history.

import { Rest } from './rest.js';
import { Socket } from './socket.js';
import { Emitter } from './emitter.js';
import { Outbox } from './outbox.js';
import { SeenIds } from './seen.js';
import { retryDelay } from './backoff.js';
import { target, convKey } from './conv.js';
import { SendError, ClosedError } from './errors.js';

const ACK_EVERY_MS = 400;
const ACK_BATCH = 1000;
const TYPING_EVERY_MS = 2500; // the server passes on one per 3 s
const CLOSE_WAIT_MS = 2000; // close() waits this long at most for message handlers
const RETRIED = new Set(['unavailable', 'rate_limited']);
const DEVICE = /^[A-Za-z0-9._-]{1,64}$/;
const SOCIAL = new Set(['read', 'typing', 'presence']);
const PROTOCOL = 'confab.v1'; // the subprotocol the server selects
const TICKET_PROTOCOL = 'confab.ticket.'; // + the ticket: offered, never selected

export class Confab {
  /**
   * @param {object} o
   * @param {string} [o.url]  the server (`https://chat.example.com`); default: the page's origin
   * @param {string | (() => string | null)} o.token
   * @param {string} [o.device]  this installation's stable name (1–64 of `A-Z a-z 0-9 . _ -`)
   * @param {Iterable<string>} [o.seen]  msg_ids the app already has (kept from an earlier run)
   * @param {Array<{id: string, to: object, body: string}>} [o.outbox]  unconfirmed sends kept from an earlier run
   * @param {number} [o.seenLimit]  how many msg_ids to remember (default 10,000)
   * @param {typeof WebSocket} [o.WebSocket]  default: `globalThis.WebSocket`
   * @param {typeof fetch} [o.fetch]  default: `globalThis.fetch`
   * @param {object} [o.user]  the logged-in user, if known
   */
  constructor({ url, token, device = 'default', seen = [], outbox = [], seenLimit, WebSocket: ws, fetch, user = null, random = Math.random }) {
    if (!DEVICE.test(device)) throw new TypeError('device: 1–64 of A-Z a-z 0-9 . _ -');
    const WebSocketImpl = ws || globalThis.WebSocket;
    if (!WebSocketImpl) throw new TypeError('no WebSocket: pass one (Node.js 20 needs --experimental-websocket)');
    this.user = user;
    this.device = device;
    this.events = new Emitter();
    this.api = new Rest({ url, token, fetch, onUnauthorized: (err) => this.sessionEnded(err.code) });
    this.random = random;
    this.seen = new SeenIds(seenLimit);
    for (const id of seen) this.seen.add(id);
    this.outbox = new Outbox();
    for (const e of outbox) this.outbox.add({ id: e.id, to: target(e.to), body: e.body });
    this.acks = new Set();
    this.typingSent = new Map();
    /** msg_id → the promise of its handlers, while they run. */
    this.inflight = new Map();
    /** Why the client is closed for good (`send` then rejects at once), or null. */
    this.closed = null;
    this.opens = 0;
    this.ackTimer = null;
    this.socket = new Socket({
      endpoint: () => this.socketEndpoint(),
      WebSocket: WebSocketImpl,
      random,
      onFrame: (frame) => this.handle(frame),
      onOpen: () => this.opened(),
      onState: (state) => this.events.emit('state', state),
      onUnauthorized: (code) => this.sessionEnded(code),
    });
  }

  /** Logs in, and returns a client for that session (not connected yet). */
  static async login(url, username, password, options = {}) {
    const { token, user } = await new Rest({ url, fetch: options.fetch }).login(username, password);
    return new Confab({ ...options, url, token, user });
  }

  /** Creates an account, and returns a client for it (not connected yet). */
  static async register(url, username, password, options = {}) {
    const { token, user } = await new Rest({ url, fetch: options.fetch }).register(username, password, options.displayName);
    return new Confab({ ...options, url, token, user });
  }

  /**
   * Events: `message`, `sent`, `failed`, `read`, `typing`, `presence`,
   * `event` (and each event `kind`, e.g. `friend_request`), `refused`,
   * `state`, `open`, `unauthorized`, `handler_error`. Returns the function
   * that removes the handler. Handlers run in the order the frames came. A
   * `message` handler may return a promise (say, of storing the message):
   * the message is acked once every handler's promise has resolved, while
   * the next messages are handled meanwhile.
   */
  on(type, fn) {
    return this.events.on(type, fn);
  }

  /** Like `on`, for the next event only. */
  once(type, fn) {
    return this.events.once(type, fn);
  }

  /** The connection's state: `{status: 'idle'|'connecting'|'open'|'waiting'|'closed'|'fatal', …}`. */
  get state() {
    return this.socket.state;
  }

  /** Opens the connection and keeps it open; resolves once it first opens. */
  connect() {
    if (this.closed) return Promise.reject(new ClosedError(this.closed));
    const done = new Promise((resolve, reject) => {
      if (this.socket.isOpen()) return resolve();
      const offOpen = this.events.once('open', () => {
        offState();
        resolve();
      });
      const offState = this.events.on('state', (s) => {
        if (s.status !== 'fatal' && s.status !== 'closed') return;
        offOpen();
        offState();
        reject(new ClosedError(`could not connect: ${s.reason}`));
      });
    });
    if (!this.ackTimer) this.ackTimer = setInterval(() => this.flushAcks(), ACK_EVERY_MS);
    this.socket.start();
    return done;
  }

  /**
   * Closes the connection for good. Frames that arrive from now on are
   * ignored (what they carry comes again on the next connection); the
   * messages already received are acked once their handlers settle (waiting
   * at most 2 s). Unconfirmed sends stay in `pending()`; their promises
   * reject.
   */
  async close() {
    this.closed ??= 'the client was closed';
    let timer;
    const bound = new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)));
    await Promise.race([this.idle(), bound]);
    clearTimeout(timer);
    this.flushAcks();
    clearInterval(this.ackTimer);
    this.ackTimer = null;
    this.socket.stop('closed by the client');
    this.abandon(new ClosedError());
  }

  /** Connects now instead of waiting for the back-off. */
  reconnectNow() {
    this.socket.connectNow();
  }

  /**
   * Sends `body` to `to` (`{user: id}` or `{group: id}`). Resolves with
   * `{id, msg_id, ts}` once the server holds it; rejects with a `SendError`
   * on a final refusal. Until then it is re-sent with the same `id` after
   * every reconnect (and after `unavailable`), so it is stored once.
   * @param {{user: number} | {group: number}} to
   * @param {string} body
   * @param {{id?: string}} [opts]  the client id (default: a random UUID)
   */
  send(to, body, { id = globalThis.crypto.randomUUID() } = {}) {
    const dest = target(to);
    if (this.closed) return Promise.reject(new ClosedError(this.closed));
    return new Promise((resolve, reject) => {
      const entry = this.outbox.add({ id, to: dest, body: String(body), resolve, reject });
      this.transmit(entry);
    });
  }

  /** The sends without an answer yet, oldest first: `{id, to, body}` (to keep across restarts). */
  pending() {
    return this.outbox.toJSON();
  }

  /** Tells the server (and the other participants) that the user read `conv` up to `seq`. */
  read(conv, seq) {
    return this.socket.send({ type: 'read', conv: target(conv), seq });
  }

  /** The user is typing in `conv`: passed on at most every 2.5 s. Returns whether a frame went out. */
  typing(conv) {
    const to = target(conv);
    const key = convKey(to);
    const now = Date.now();
    if (now - (this.typingSent.get(key) || 0) < TYPING_EVERY_MS) return false;
    if (!this.socket.send({ type: 'typing', conv: to })) return false;
    this.typingSent.set(key, now);
    return true;
  }

  /** One page of `conv`'s history (see `Rest.history`). */
  history(conv, opts) {
    return this.api.history(target(conv), opts);
  }

  /**
   * The history of `conv` from the newest message back, page by page
   * (arrays of stored messages, newest first), until its first message.
   * @param {{before?: number, limit?: number}} [opts]
   */
  async *pages(conv, { before, limit = 50 } = {}) {
    let cursor = before;
    for (;;) {
      const page = await this.history(conv, { before: cursor, limit });
      if (page.messages.length) yield page.messages;
      const oldest = page.messages.at(-1)?.seq;
      if (oldest === undefined || oldest <= page.first_seq) return;
      cursor = oldest;
    }
  }

  /** Resolves once the handlers of every message received so far have settled. */
  async idle() {
    while (this.inflight.size) await Promise.allSettled([...this.inflight.values()]);
  }

  /** Marks msg_ids as had (say, read from the history): `message` frames for them are acked, not emitted. */
  markSeen(ids) {
    for (const id of ids) this.seen.add(id);
  }

  /** The msg_ids the client remembers, oldest first (to keep across restarts). */
  seenIds() {
    return this.seen.toArray();
  }

  // ---- internals -----------------------------------------------------------------

  /**
   * Where one attempt connects, with a fresh ticket. The ticket travels as
   * the subprotocol `confab.ticket.<ticket>` next to `confab.v1` (which the
   * server selects), never in the URL: browsers print a failed socket's URL
   * to the console, and gateways log URLs. The URL names the device only.
   */
  async socketEndpoint() {
    const { ticket } = await this.api.wsTicket();
    const q = new URLSearchParams({ device: this.device });
    return { url: `${this.api.url.replace(/^http/, 'ws')}/ws?${q}`, protocols: [PROTOCOL, TICKET_PROTOCOL + ticket] };
  }

  transmit(entry) {
    this.socket.send({ type: 'send', id: entry.id, to: entry.to, body: entry.body });
  }

  opened() {
    const reconnect = this.opens++ > 0;
    // Every unconfirmed send again, in the original order, with its id.
    this.outbox.clearTimers();
    for (const entry of this.outbox.list()) this.transmit(entry);
    this.flushAcks();
    this.events.emit('open', { reconnect });
  }

  handle(frame) {
    if (this.closed) return undefined;
    switch (frame.type) {
      case 'message':
        return this.onMessage(frame);
      case 'sent':
        return this.onSent(frame);
      case 'error':
        return this.onError(frame);
      case 'event':
        this.events.emit('event', frame);
        if (typeof frame.kind === 'string') this.events.emit(frame.kind, frame);
        return undefined;
      default:
        // read, typing, presence; pong and types v1 may add are ignored.
        if (SOCIAL.has(frame.type)) this.events.emit(frame.type, frame);
        return undefined;
    }
  }

  onMessage(m) {
    const id = m.msg_id;
    if (typeof id !== 'string' || this.inflight.has(id)) return;
    if (this.seen.has(id)) {
      this.acks.add(id); // a repeat: the device has it
      return;
    }
    const handled = Promise.allSettled(this.events.emit('message', m)).then((results) => {
      this.inflight.delete(id);
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) {
        // Not acked: it comes again on the next connection.
        this.events.emit('handler_error', { frame: m, error: failed.reason });
        return;
      }
      this.seen.add(id);
      this.acks.add(id);
    });
    this.inflight.set(id, handled);
  }

  onSent(f) {
    const entry = this.outbox.take(f.id);
    if (!entry) return;
    if (typeof f.msg_id === 'string') this.seen.add(f.msg_id);
    const sent = { id: f.id, msg_id: f.msg_id, ts: f.ts, to: entry.to, body: entry.body };
    entry.resolve?.(sent);
    this.events.emit('sent', sent);
  }

  onError(f) {
    const entry = typeof f.id === 'string' ? this.outbox.get(f.id) : undefined;
    if (!entry) {
      this.events.emit('refused', f);
      return;
    }
    if (RETRIED.has(f.code)) {
      // Not refused: the same id again on this connection, after a back-off.
      entry.retries += 1;
      clearTimeout(entry.timer);
      entry.timer = setTimeout(() => {
        if (this.outbox.get(entry.id) === entry) this.transmit(entry);
      }, retryDelay(entry.retries, this.random));
      return;
    }
    this.outbox.take(f.id);
    const error = new SendError(f.id, String(f.code || 'error'), f.message);
    entry.reject?.(error);
    this.events.emit('failed', { id: f.id, to: entry.to, body: entry.body, code: error.code, message: error.message });
  }

  flushAcks() {
    if (!this.acks.size || !this.socket.isOpen()) return;
    const ids = [...this.acks];
    for (let i = 0; i < ids.length; i += ACK_BATCH) {
      const batch = ids.slice(i, i + ACK_BATCH);
      if (!this.socket.send({ type: 'ack', msg_ids: batch })) return; // kept for the next connection
      for (const id of batch) this.acks.delete(id);
    }
  }

  sessionEnded(code) {
    if (this.closed) return;
    this.closed = `the session ended (${code})`;
    clearInterval(this.ackTimer);
    this.ackTimer = null;
    if (!this.socket.stopped) this.socket.stop('session ended');
    this.abandon(new ClosedError(this.closed));
    this.events.emit('unauthorized', { code });
  }

  abandon(error) {
    this.outbox.clearTimers();
    for (const entry of this.outbox.list()) {
      entry.reject?.(error);
      entry.resolve = entry.reject = undefined;
    }
  }
}
