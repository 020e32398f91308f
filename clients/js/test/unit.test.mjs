// Unit tests of the SDK's pure parts, with the test playing the server
// through a stand-in WebSocket (fake-socket.mjs). The same behaviour against
// a real cluster: cluster.test.mjs.

import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Confab, SeenIds, SendError, ClosedError, backoffDelay, retryDelay, target, conversationOf, convKey, parseConvKey } from '../src/index.js';
import { FakeSocket, TICKET, ticketFetch, until } from './fake-socket.mjs';

const clients = [];
beforeEach(() => FakeSocket.reset());
// Every client made here is closed, so that no timer keeps the runner alive.
afterEach(() => Promise.all(clients.splice(0).map((c) => c.close())));


/** A client on a stand-in socket, opened: resolves with it and its socket. */
async function openClient(options = {}) {
  const client = new Confab({ url: 'http://confab.test', token: 'tok', device: 'd1', WebSocket: FakeSocket, fetch: ticketFetch, random: () => 0, ...options });
  clients.push(client);
  const connected = client.connect();
  await until(() => FakeSocket.instances.length === 1, 'a socket');
  FakeSocket.last().accept();
  await connected;
  return { client, ws: FakeSocket.last() };
}

/** Resolves once every frame handed to the client so far was handled. */
const settled = (client) => client.idle();

test('back-off grows, is capped at 30 s, and keeps half its jitter', () => {
  assert.equal(backoffDelay(0, () => 0), 250);
  assert.equal(backoffDelay(0, () => 0.999999), 500);
  assert.equal(backoffDelay(3, () => 0), 2000);
  assert.equal(backoffDelay(20, () => 0.999999), 30_000);
  assert.equal(backoffDelay(20, () => 0), 15_000);
  assert.equal(retryDelay(1, () => 0), 500);
  assert.equal(retryDelay(9, () => 0.999999), 10_000);
});

test('seen ids are bounded and forget the oldest first', () => {
  const seen = new SeenIds(3);
  for (const id of ['1', '2', '3', '2', '4']) seen.add(id);
  assert.deepEqual(seen.toArray(), ['2', '3', '4']);
  assert.equal(seen.has('1'), false);
});

test('conversations have exactly one key, and a direct one is the other user', () => {
  assert.deepEqual(target({ user: 7 }), { user: 7 });
  assert.throws(() => target({ user: 7, group: 1 }), TypeError);
  assert.throws(() => target({ user: '7' }), TypeError);
  assert.deepEqual(conversationOf({ from: 1, to: { user: 2 } }, 2), { user: 1 });
  assert.deepEqual(conversationOf({ from: 2, to: { user: 1 } }, 2), { user: 1 });
  assert.deepEqual(conversationOf({ from: 3, to: { group: 9 } }, 2), { group: 9 });
  assert.deepEqual(parseConvKey(convKey({ group: 9 })), { group: 9 });
});

test('the socket URL carries the device only; the ticket is offered as a subprotocol next to confab.v1', async () => {
  const { ws } = await openClient();
  assert.equal(ws.url, 'ws://confab.test/ws?device=d1');
  assert.deepEqual(ws.protocols, ['confab.v1', `confab.ticket.${TICKET}`]);
  assert.throws(() => new Confab({ token: 't', url: 'http://x', device: 'bad device', WebSocket: FakeSocket }), TypeError);
});

test('no URL the SDK opens, no state and no error holds the ticket or the token', async () => {
  const token = 'secret-token-e1f3';
  const urls = [];
  const tickets = [];
  const fetchTickets = async (url, init) => {
    urls.push(String(url));
    assert.equal(init.headers.Authorization, `Bearer ${token}`, 'the token goes in the header');
    const ticket = String(tickets.length + 1).padStart(32, 'f'); // a fresh one per attempt
    tickets.push(ticket);
    return new Response(JSON.stringify({ ticket, expires_in: 30 }), { status: 201 });
  };
  // A WebSocket whose constructor fails the first time, quoting its
  // arguments as browsers do ("The subprotocol '…' is invalid").
  let fail = true;
  class Quoting extends FakeSocket {
    constructor(url, protocols) {
      if (fail) {
        fail = false;
        throw new SyntaxError(`cannot open '${url}' with '${protocols}'`);
      }
      super(url, protocols);
    }
  }
  const client = new Confab({ url: 'http://confab.test', token, device: 'd1', WebSocket: Quoting, fetch: fetchTickets, random: () => 0 });
  clients.push(client);
  const seen = []; // every state, event and error the app could print
  client.on('state', (s) => seen.push(JSON.stringify(s)));
  client.on('unauthorized', (e) => seen.push(JSON.stringify(e)));
  const connected = client.connect();
  await until(() => client.state.status === 'waiting', 'a failed first attempt');
  client.reconnectNow();
  await until(() => FakeSocket.instances.length === 1, 'a socket');
  FakeSocket.last().end(1006); // a failed handshake
  client.reconnectNow();
  await until(() => FakeSocket.instances.length === 2, 'a second socket');
  FakeSocket.last().accept();
  await connected;
  const sending = client.send({ user: 2 }, 'hi').catch(String);
  FakeSocket.last().end(4401, 'session revoked; log in again');
  seen.push(await sending, await client.connect().catch(String));

  assert.equal(tickets.length, 3);
  assert.deepEqual(
    FakeSocket.instances.map((ws) => ws.protocols),
    tickets.slice(1).map((t) => ['confab.v1', `confab.ticket.${t}`]),
  );
  const opened = [...urls, ...FakeSocket.instances.map((ws) => ws.url)];
  assert.deepEqual(new Set(FakeSocket.instances.map((ws) => ws.url)), new Set(['ws://confab.test/ws?device=d1']));
  assert.ok(seen.some((s) => s.includes('could not open the connection (SyntaxError)')), seen.join('\n'));
  assert.ok(seen.includes('ClosedError: the session ended (session_revoked)'), seen.join('\n'));
  for (const text of [...opened, ...seen]) {
    for (const secret of [token, ...tickets]) assert.ok(!text.includes(secret), `${secret} in ${text}`);
  }
});

test('a send made offline goes out on open and resolves on `sent`', async () => {
  const client = new Confab({ url: 'http://confab.test', token: 'tok', WebSocket: FakeSocket, fetch: ticketFetch, random: () => 0 });
  clients.push(client);
  const sending = client.send({ user: 2 }, 'hi', { id: 'c1' });
  assert.deepEqual(client.pending(), [{ id: 'c1', to: { user: 2 }, body: 'hi' }]);
  client.connect();
  await until(() => FakeSocket.instances.length === 1);
  const ws = FakeSocket.last();
  ws.accept();
  assert.deepEqual(ws.frames('send'), [{ type: 'send', id: 'c1', to: { user: 2 }, body: 'hi' }]);
  ws.push({ type: 'sent', id: 'c1', msg_id: '42', ts: 1000 });
  assert.deepEqual(await sending, { id: 'c1', msg_id: '42', ts: 1000, to: { user: 2 }, body: 'hi' });
  assert.deepEqual(client.pending(), []);
});

test('after a dropped socket every unconfirmed send goes again, in order, with its id', async () => {
  const { client, ws } = await openClient();
  const a = client.send({ user: 2 }, 'a', { id: 'a' });
  const b = client.send({ group: 5 }, 'b', { id: 'b' });
  assert.equal(ws.frames('send').length, 2);
  ws.end(1006);
  assert.equal(client.state.status, 'waiting');
  client.reconnectNow();
  await until(() => FakeSocket.instances.length === 2, 'a second socket');
  const ws2 = FakeSocket.last();
  ws2.accept();
  assert.deepEqual(ws2.frames('send').map((f) => f.id), ['a', 'b']);
  ws2.push({ type: 'sent', id: 'b', msg_id: '2', ts: 2 });
  ws2.push({ type: 'sent', id: 'a', msg_id: '1', ts: 1 });
  assert.equal((await a).msg_id, '1');
  assert.equal((await b).msg_id, '2');
});

test('repeats are dropped by msg_id, and acked once the handlers have the message', async () => {
  const { client, ws } = await openClient();
  const got = [];
  let release;
  const stored = new Promise((resolve) => (release = resolve));
  client.on('message', async (m) => {
    got.push(m.msg_id);
    await stored; // the app is still storing it
  });
  const m = { type: 'message', msg_id: '7', from: 2, to: { user: 1 }, body: 'x', ts: 1, seq: 1 };
  ws.push(m);
  await until(() => got.length === 1);
  client.flushAcks();
  assert.deepEqual(ws.frames('ack'), [], 'not acked before the handler resolved');
  release();
  ws.push(m);
  await settled(client);
  client.flushAcks();
  assert.deepEqual(got, ['7']);
  assert.deepEqual(ws.frames('ack'), [{ type: 'ack', msg_ids: ['7'] }]);
});

test('a message whose handler fails is not acked, and is emitted when it comes again', async () => {
  const { client, ws } = await openClient();
  let fail = true;
  const errors = [];
  const got = [];
  client.on('handler_error', (e) => errors.push(e.error.message));
  client.on('message', (m) => {
    got.push(m.msg_id);
    if (fail) throw new Error('disk full');
  });
  const m = { type: 'message', msg_id: '8', from: 2, to: { user: 1 }, body: 'x', ts: 1, seq: 1 };
  ws.push(m);
  await settled(client);
  client.flushAcks();
  assert.deepEqual(ws.frames('ack'), []);
  assert.deepEqual(errors, ['disk full']);
  fail = false;
  ws.push(m);
  await settled(client);
  client.flushAcks();
  assert.deepEqual(got, ['8', '8']);
  assert.deepEqual(ws.frames('ack'), [{ type: 'ack', msg_ids: ['8'] }]);
});

test('acks go in frames of at most 1,000 ids', async () => {
  const { client, ws } = await openClient();
  for (let i = 1; i <= 2500; i++) ws.push({ type: 'message', msg_id: String(i), from: 2, to: { user: 1 }, body: 'x', ts: 1, seq: i });
  await settled(client);
  client.flushAcks();
  assert.deepEqual(ws.frames('ack').map((f) => f.msg_ids.length), [1000, 1000, 500]);
});

test('`unavailable` is retried with the same id after a back-off; a final error rejects', async (t) => {
  const { client, ws } = await openClient();
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const failed = [];
  client.on('failed', (f) => failed.push(f.code));
  const ok = client.send({ user: 2 }, 'a', { id: 'a' });
  const refused = client.send({ user: 3 }, 'b', { id: 'b' });
  ws.push({ type: 'error', id: 'a', code: 'unavailable', message: 'broker down' });
  ws.push({ type: 'error', id: 'b', code: 'not_friends', message: 'friends only' });
  await settled(client);
  await assert.rejects(refused, (e) => e instanceof SendError && e.code === 'not_friends' && e.id === 'b');
  assert.deepEqual(failed, ['not_friends']);
  assert.equal(ws.frames('send').length, 2);
  t.mock.timers.tick(499);
  assert.equal(ws.frames('send').length, 2);
  t.mock.timers.tick(1);
  assert.deepEqual(ws.frames('send').at(-1), { type: 'send', id: 'a', to: { user: 2 }, body: 'a' });
  ws.push({ type: 'sent', id: 'a', msg_id: '9', ts: 1 });
  assert.equal((await ok).msg_id, '9');
  t.mock.timers.reset();
});

test('close 4401 ends the session: no reconnect, sends rejected, `unauthorized`', async () => {
  const { client, ws } = await openClient();
  const ended = [];
  client.on('unauthorized', (e) => ended.push(e.code));
  const sending = client.send({ user: 2 }, 'a', { id: 'a' });
  ws.end(4401, 'session revoked; log in again');
  await assert.rejects(sending, ClosedError);
  assert.deepEqual(ended, ['session_revoked']);
  assert.equal(client.state.status, 'fatal');
  assert.equal(FakeSocket.instances.length, 1);
  assert.deepEqual(client.pending(), [{ id: 'a', to: { user: 2 }, body: 'a' }], 'kept for the next session');
  await assert.rejects(client.connect(), ClosedError);
  await assert.rejects(client.send({ user: 2 }, 'b'), ClosedError);
});

test('close 1008 is a client bug: no reconnect loop; 1001 reconnects within a second', async () => {
  const { client, ws } = await openClient();
  ws.end(1001, 'node shutting down; reconnect');
  assert.equal(client.state.status, 'waiting');
  assert.ok(client.state.retryAt - Date.now() <= 1000);
  client.reconnectNow();
  await until(() => FakeSocket.instances.length === 2);
  FakeSocket.last().accept();
  FakeSocket.last().end(1008, 'too many invalid frames');
  assert.equal(client.state.status, 'fatal');
  assert.equal(client.state.code, 1008);
});

test('sends kept from an earlier run go out first, and `sent` is an event too', async () => {
  const sent = [];
  const client = new Confab({ url: 'http://confab.test', token: 'tok', WebSocket: FakeSocket, fetch: ticketFetch, outbox: [{ id: 'old', to: { group: 1 }, body: 'kept' }] });
  clients.push(client);
  client.on('sent', (s) => sent.push(s));
  client.connect();
  await until(() => FakeSocket.instances.length === 1);
  FakeSocket.last().accept();
  assert.deepEqual(FakeSocket.last().frames('send'), [{ type: 'send', id: 'old', to: { group: 1 }, body: 'kept' }]);
  FakeSocket.last().push({ type: 'sent', id: 'old', msg_id: '5', ts: 3 });
  await settled(client);
  assert.deepEqual(sent, [{ id: 'old', msg_id: '5', ts: 3, to: { group: 1 }, body: 'kept' }]);
});

test('typing is passed on at most every 2.5 s per conversation; social frames are events', async () => {
  const { client, ws } = await openClient();
  assert.equal(client.typing({ user: 2 }), true);
  assert.equal(client.typing({ user: 2 }), false);
  assert.equal(client.typing({ group: 1 }), true);
  assert.equal(client.read({ user: 2 }, 4), true);
  assert.deepEqual(ws.sent, [
    { type: 'typing', conv: { user: 2 } },
    { type: 'typing', conv: { group: 1 } },
    { type: 'read', conv: { user: 2 }, seq: 4 },
  ]);
  const seen = [];
  for (const type of ['presence', 'read', 'typing', 'event', 'group_renamed', 'refused']) client.on(type, (f) => seen.push(`${type}:${f.type}`));
  ws.push({ type: 'presence', user: 2, online: true });
  ws.push({ type: 'read', conv: { user: 2 }, user: 2, seq: 1 });
  ws.push({ type: 'typing', conv: { user: 2 }, user: 2 });
  ws.push({ type: 'event', kind: 'group_renamed', group_id: 1, name: 'x' });
  ws.push({ type: 'error', id: null, code: 'no_such_conversation', message: 'no' });
  ws.push({ type: 'pong' });
  ws.push({ type: 'from_the_future' });
  await settled(client);
  assert.deepEqual(seen, ['presence:presence', 'read:read', 'typing:typing', 'event:event', 'group_renamed:event', 'refused:error']);
});

test('pages() walks the history back to the first message', async () => {
  const calls = [];
  const page = (from, to) => ({ messages: Array.from({ length: from - to + 1 }, (_, i) => ({ msg_id: String(from - i), seq: from - i })), first_seq: 3, last_seq: 10 });
  const fetchPages = async (url) => {
    const q = new URL(url).searchParams;
    calls.push(q.toString());
    const before = Number(q.get('before_seq') || 11);
    const body = before === 11 ? page(10, 7) : before === 7 ? page(6, 3) : page(0, 1);
    return new Response(JSON.stringify(body), { status: 200 });
  };
  const client = new Confab({ url: 'http://confab.test', token: 'tok', WebSocket: FakeSocket, fetch: fetchPages });
  const seqs = [];
  for await (const messages of client.pages({ group: 4 }, { limit: 4 })) seqs.push(messages.map((m) => m.seq));
  assert.deepEqual(seqs, [[10, 9, 8, 7], [6, 5, 4, 3]]);
  assert.deepEqual(calls, ['limit=4', 'limit=4&before_seq=7']);
});

test('close() ignores new frames, and waits at most 2 s for a handler that never settles', async (t) => {
  const { client, ws } = await openClient();
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const got = [];
  client.on('message', (m) => {
    got.push(m.msg_id);
    return new Promise(() => {}); // stuck
  });
  const message = (id) => ({ type: 'message', msg_id: id, from: 2, to: { user: 1 }, body: 'x', ts: 1, seq: Number(id) });
  ws.push(message('1'));
  const closing = client.close();
  ws.push(message('2'));
  t.mock.timers.tick(2000);
  await closing;
  t.mock.timers.reset();
  assert.deepEqual(got, ['1']);
  assert.equal(ws.closed.code, 1000);
  assert.deepEqual(ws.frames('ack'), [], 'a message whose handler never settled is not acked');
  assert.equal(client.state.status, 'closed');
});
