// One WebSocket to /ws, kept open: reconnects with exponential back-off and
// jitter, watches the connection with {"type":"ping"} (a browser cannot see
// the server's ping control frames), and follows the close codes of
// docs/protocol.md ("Close codes", "Reconnecting").

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;
const STABLE_AFTER_MS = 10_000; // a connection up this long resets the back-off
const IDLE_PING_MS = 30_000; // no frame for this long: send a ping
const PONG_WAIT_MS = 10_000; // no frame after the ping for this long: reconnect
const OPEN_TIMEOUT_MS = 15_000; // a handshake that hangs counts as a failure

/** Wait before reconnect attempt `attempt` (0-based): random(0.5, 1) × min(30 s, 0.5 s × 2^attempt). */
export function backoffDelay(attempt) {
  const cap = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.min(attempt, 16));
  return Math.round(cap * (0.5 + Math.random() * 0.5));
}

/** Whether `err` is a 401 from the ticket request (the session is over). */
function isUnauthorized(err) {
  return err && err.status === 401;
}

export class Connection {
  /**
   * @param {object} opts
   * @param {() => Promise<string>} opts.url  the WebSocket URL (with a fresh ticket)
   * @param {(frame: object) => void} opts.onFrame
   * @param {() => void} opts.onOpen
   * @param {(state: object) => void} opts.onState
   * @param {() => void} opts.onHandshakeFailure  the socket closed before it opened (bad or expired token, server down)
   */
  constructor({ url, onFrame, onOpen, onState, onHandshakeFailure }) {
    this.url = url;
    this.onFrame = onFrame;
    this.onOpen = onOpen;
    this.onState = onState;
    this.onHandshakeFailure = onHandshakeFailure;
    this.ws = null;
    this.opening = false; // waiting for a ticket
    this.attempt = 0;
    this.stopped = true;
    this.timers = {};
    this.state = { status: 'idle' };
    this.openedAt = 0;
    this.lastFrameAt = 0;
    this.pingSentAt = 0;
    this.onBrowserOnline = () => {
      if (!this.stopped && !this.isOpen()) this.connectNow();
    };
    this.onBrowserOffline = () => {
      // The browser says the network is gone: the socket is as good as dead.
      if (this.ws) this.drop('network offline');
    };
  }

  isOpen() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN && this.state.status === 'open';
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener('online', this.onBrowserOnline);
    window.addEventListener('offline', this.onBrowserOffline);
    this.connectNow();
  }

  /** Closes for good (log out). */
  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onBrowserOnline);
    window.removeEventListener('offline', this.onBrowserOffline);
    this.clearTimers();
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      detach(ws);
      try {
        ws.close(1000, 'log out');
      } catch {
        /* already closed */
      }
    }
    this.setState({ status: 'idle' });
  }

  /** Sends one frame; false when the socket is not open (the caller keeps it for later). */
  send(frame) {
    if (!this.isOpen()) return false;
    try {
      this.ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  /** Reconnect now (the user pressed "Reconnect", or the network came back). */
  connectNow() {
    if (this.stopped) return;
    this.clearTimer('retry');
    this.clearTimer('tick');
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) return;
    this.open();
  }

  async open() {
    if (this.opening) return;
    this.setState({ status: 'connecting', attempt: this.attempt });
    let ws;
    this.opening = true;
    try {
      const url = await this.url();
      if (this.stopped || this.ws) return;
      ws = new WebSocket(url);
    } catch (e) {
      if (this.stopped || this.ws) return;
      // No ticket: a 401 has already logged out; otherwise try again later.
      if (!isUnauthorized(e)) this.scheduleReconnect({ reason: 'could not open the connection' });
      return;
    } finally {
      this.opening = false;
    }
    this.ws = ws;
    let opened = false;
    this.timer('openTimeout', OPEN_TIMEOUT_MS, () => {
      if (this.ws === ws && !opened) this.drop('connection attempt timed out');
    });
    ws.onopen = () => {
      if (this.ws !== ws) return;
      opened = true;
      this.clearTimer('openTimeout');
      this.openedAt = Date.now();
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
      if (frame && typeof frame === 'object') this.onFrame(frame);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.clearTimers();
      if (!opened) this.onHandshakeFailure();
      this.afterClose(ev.code, ev.reason, opened);
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  afterClose(code, reason, opened) {
    if (this.stopped) return;
    if (code === 4401) {
      // The session was revoked: the token is dead; checking it logs out.
      this.setState({ status: 'fatal', reason: 'You were logged out.' });
      this.onHandshakeFailure();
      return;
    }
    if (code === 1008 || code === 1009) {
      // A client bug by the protocol's account: do not loop.
      this.setState({
        status: 'fatal',
        reason: `The server closed the connection (${code}${reason ? `: ${reason}` : ''}).`,
      });
      return;
    }
    if (code === 1001) {
      // The node is stopping: reconnect at once, with a little jitter.
      this.scheduleReconnect({ reason: 'the server restarted', delay: Math.round(Math.random() * 1000) });
      return;
    }
    const why = !opened ? 'could not connect' : code === 1013 ? 'the server asked to reconnect later' : 'connection lost';
    this.scheduleReconnect({ reason: why });
  }

  /** Drops the current socket (as if the network failed) and reconnects with back-off. */
  drop(reason) {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    detach(ws);
    try {
      ws.close();
    } catch {
      /* ignore */
    }
    this.clearTimers();
    if (this.stopped) return;
    this.scheduleReconnect({ reason });
  }

  scheduleReconnect({ reason, delay }) {
    const wait = delay ?? backoffDelay(this.attempt);
    this.attempt += 1;
    const at = Date.now() + wait;
    const offline = typeof navigator !== 'undefined' && navigator.onLine === false;
    this.setState({ status: 'waiting', reason, retryAt: at, attempt: this.attempt, offline });
    this.timer('retry', wait, () => this.open());
    // Refresh the countdown shown in the banner.
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

  setState(state) {
    this.state = state;
    this.onState(state);
  }

  timer(name, ms, fn) {
    this.clearTimer(name);
    this.timers[name] = setTimeout(() => {
      delete this.timers[name];
      fn();
    }, ms);
  }
  clearTimer(name) {
    if (this.timers[name]) clearTimeout(this.timers[name]);
    delete this.timers[name];
  }
  clearTimers() {
    for (const name of Object.keys(this.timers)) this.clearTimer(name);
  }
}

function detach(ws) {
  ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
}
