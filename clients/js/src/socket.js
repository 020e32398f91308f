// One WebSocket to /ws, kept open: a fresh ticket per attempt (offered as a
// subprotocol: nothing secret in the URL, nor in a state's reason), reconnects
// with exponential back-off and jitter, a `ping` watchdog (browsers cannot
// see the server's ping control frames), and the close codes of
// docs/protocol.md ("Close codes", "Reconnecting"). Knows nothing of
// messages: frames go to `onFrame`.

import { backoffDelay } from './backoff.js';

const STABLE_AFTER_MS = 10_000; // a connection up this long resets the back-off
const IDLE_PING_MS = 30_000; // no frame for this long: send a ping
const PONG_WAIT_MS = 10_000; // no frame after the ping for this long: reconnect
const OPEN_TIMEOUT_MS = 15_000; // a handshake that hangs counts as a failure
const OPEN = 1;

/** Close codes after which reconnecting cannot help: a client bug. */
const FATAL = new Map([
  [1008, 'policy violation'],
  [1009, 'frame too large'],
]);
export const SESSION_REVOKED = 4401;

export class Socket {
  /**
   * @param {object} o
   * @param {() => Promise<{url: string, protocols: string[]}>} o.endpoint  where one attempt connects: the URL and the subprotocols to offer (a fresh ticket among them)
   * @param {typeof WebSocket} o.WebSocket
   * @param {(frame: object) => void} o.onFrame
   * @param {() => void} o.onOpen
   * @param {(state: object) => void} o.onState
   * @param {(why: string) => void} o.onUnauthorized  the session is over (401 for a ticket, close 4401)
   * @param {() => number} [o.random]
   */
  constructor({ endpoint, WebSocket: WebSocketImpl, onFrame, onOpen, onState, onUnauthorized, random = Math.random }) {
    this.endpoint = endpoint;
    this.WebSocket = WebSocketImpl;
    this.onFrame = onFrame;
    this.onOpen = onOpen;
    this.onState = onState;
    this.onUnauthorized = onUnauthorized;
    this.random = random;
    this.ws = null;
    this.opening = false;
    this.attempt = 0;
    this.stopped = true;
    this.timers = new Map();
    this.state = { status: 'idle' };
    this.lastFrameAt = 0;
    this.pingSentAt = 0;
    this.browser = typeof globalThis.window !== 'undefined' && typeof globalThis.addEventListener === 'function';
    this.onOnline = () => {
      if (!this.stopped && !this.isOpen()) this.connectNow();
    };
    // The browser says the network is gone: the socket is as good as dead.
    this.onOffline = () => this.drop('network offline');
  }

  isOpen() {
    return !!this.ws && this.ws.readyState === OPEN && this.state.status === 'open';
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    if (this.browser) {
      globalThis.addEventListener('online', this.onOnline);
      globalThis.addEventListener('offline', this.onOffline);
    }
    this.connectNow();
  }

  /** Closes for good. */
  stop(reason = 'closed') {
    this.stopped = true;
    if (this.browser) {
      globalThis.removeEventListener('online', this.onOnline);
      globalThis.removeEventListener('offline', this.onOffline);
    }
    this.clearTimers();
    this.closeSocket(1000, reason);
    this.setState({ status: 'closed', reason });
  }

  /** Sends one frame; false when the socket is not open. */
  send(frame) {
    if (!this.isOpen()) return false;
    try {
      this.ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  /** Connects now, without waiting for the back-off (a "Reconnect" button, the network back). */
  connectNow() {
    if (this.stopped) return;
    this.clearTimer('retry');
    this.clearTimer('tick');
    if (this.ws && this.ws.readyState <= OPEN) return;
    this.open();
  }

  /** Drops the current socket as if the network failed, and reconnects with back-off. */
  drop(reason = 'dropped') {
    if (!this.ws) return;
    this.closeSocket(4000, reason);
    this.clearTimers();
    if (!this.stopped) this.scheduleReconnect({ reason });
  }

  async open() {
    if (this.opening || this.stopped) return;
    this.setState({ status: 'connecting', attempt: this.attempt });
    let ws;
    this.opening = true;
    try {
      const { url, protocols } = await this.endpoint();
      if (this.stopped || this.ws) return;
      ws = new this.WebSocket(url, protocols);
    } catch (e) {
      if (this.stopped || this.ws) return;
      if (e?.status === 401) this.fatal('unauthorized', e.code || 'unauthorized');
      // A code or an error's name, never its message: a WebSocket
      // constructor's quotes the URL and the protocols, the ticket included.
      else this.scheduleReconnect({ reason: `could not open the connection (${e?.code || e?.name || 'error'})` });
      return;
    } finally {
      this.opening = false;
    }
    this.attach(ws);
  }

  attach(ws) {
    this.ws = ws;
    let opened = false;
    this.timer('openTimeout', OPEN_TIMEOUT_MS, () => {
      if (this.ws === ws && !opened) this.drop('connection attempt timed out');
    });
    ws.onopen = () => {
      if (this.ws !== ws) return;
      opened = true;
      this.clearTimer('openTimeout');
      this.lastFrameAt = Date.now();
      this.pingSentAt = 0;
      this.setState({ status: 'open' });
      this.timer('stable', STABLE_AFTER_MS, () => {
        this.attempt = 0;
      });
      this.watch();
      this.onOpen();
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.lastFrameAt = Date.now();
      this.pingSentAt = 0;
      if (typeof ev.data !== 'string') return;
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (frame && typeof frame === 'object' && !Array.isArray(frame)) this.onFrame(frame);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.clearTimers();
      this.afterClose(ev.code, ev.reason, opened);
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  afterClose(code, reason, opened) {
    if (this.stopped) return;
    if (code === SESSION_REVOKED) {
      this.fatal('unauthorized', 'session_revoked');
      return;
    }
    if (FATAL.has(code)) {
      this.setState({ status: 'fatal', code, reason: reason || FATAL.get(code) });
      return;
    }
    if (code === 1001) {
      // The node is stopping: reconnect at once, with a little jitter.
      this.scheduleReconnect({ reason: 'the server restarted', code, delay: Math.round(this.random() * 1000) });
      return;
    }
    const why = !opened ? 'could not connect' : code === 1013 ? 'the server asked to reconnect later' : 'connection lost';
    this.scheduleReconnect({ reason: why, code });
  }

  fatal(status, code) {
    this.stopped = true;
    this.clearTimers();
    this.closeSocket(1000, code);
    this.setState({ status: 'fatal', reason: code });
    if (status === 'unauthorized') this.onUnauthorized(code);
  }

  scheduleReconnect({ reason, code, delay }) {
    const wait = delay ?? backoffDelay(this.attempt, this.random);
    this.attempt += 1;
    const retryAt = Date.now() + wait;
    this.setState({ status: 'waiting', reason, code, retryAt, attempt: this.attempt });
    this.timer('retry', wait, () => this.open());
    // A state each second, for a countdown.
    const tick = () => {
      if (this.state.status !== 'waiting') return;
      this.setState({ ...this.state });
      this.timer('tick', 1000, tick);
    };
    this.timer('tick', 1000, tick);
  }

  watch() {
    const check = () => {
      if (!this.isOpen()) return;
      const now = Date.now();
      if (this.pingSentAt && now - this.pingSentAt > PONG_WAIT_MS) {
        this.drop('the server stopped answering');
        return;
      }
      if (!this.pingSentAt && now - this.lastFrameAt > IDLE_PING_MS) {
        this.pingSentAt = now;
        this.send({ type: 'ping' });
      }
      this.timer('watch', 2000, check);
    };
    this.timer('watch', 2000, check);
  }

  closeSocket(code, reason) {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close(code, reason);
    } catch {
      /* already closed */
    }
  }

  setState(state) {
    this.state = state;
    this.onState(state);
  }

  timer(name, ms, fn) {
    this.clearTimer(name);
    this.timers.set(
      name,
      setTimeout(() => {
        this.timers.delete(name);
        fn();
      }, ms),
    );
  }
  clearTimer(name) {
    clearTimeout(this.timers.get(name));
    this.timers.delete(name);
  }
  clearTimers() {
    for (const name of [...this.timers.keys()]) this.clearTimer(name);
  }
}
