// A stand-in for the browser's WebSocket class, for the unit tests of the
// client's pure logic: the test plays the server by hand. The integration
// tests (cluster.test.mjs) run against a real cluster instead.

export class FakeSocket {
  static instances = [];

  constructor(url, protocols = []) {
    this.url = url;
    this.protocols = protocols;
    this.readyState = 0;
    this.sent = [];
    this.closed = null;
    FakeSocket.instances.push(this);
  }

  static last() {
    return FakeSocket.instances.at(-1);
  }

  static reset() {
    FakeSocket.instances = [];
  }

  send(text) {
    this.sent.push(JSON.parse(text));
  }

  close(code, reason) {
    this.readyState = 3;
    this.closed = { code, reason };
  }

  /** The server accepts the connection. */
  accept() {
    this.readyState = 1;
    this.onopen?.({});
  }

  /** The server writes a frame. */
  push(frame) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  /** The connection ends (the server closed it, or the network failed). */
  end(code = 1006, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  frames(type) {
    return this.sent.filter((f) => f.type === type);
  }
}

/** The ticket `ticketFetch` hands out. */
export const TICKET = '7e57000000000000000000000000beef';

/** A fetch that answers the ticket route only. */
export async function ticketFetch(url) {
  if (String(url).endsWith('/api/auth/ws-ticket')) {
    return new Response(JSON.stringify({ ticket: TICKET, expires_in: 30 }), { status: 201 });
  }
  return new Response('{"error":{"code":"not_found","message":"no"}}', { status: 404 });
}

/** Resolves once `check()` is true, polling the event loop (no wall-clock waits). */
export async function until(check, what = 'condition') {
  for (let i = 0; i < 1000; i++) {
    if (check()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`never: ${what}`);
}
