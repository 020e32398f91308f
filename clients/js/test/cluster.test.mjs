// The SDK against a real local cluster (`scripts/confab up`: nginx, two
// nodes, a dispatcher, Postgres, Redis, RabbitMQ): messages, a re-send after
// a dropped socket, reconnects across a node restart, history paging,
// receipts, typing, events, a revoked session, and the README's example.
// scripts/sdk-test.sh starts the cluster and sets CONFAB_URL; without it
// these tests are skipped (the script fails on a skip).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Confab, Rest, conversationOf } from '../src/index.js';
import { startProxy } from './proxy.mjs';

const run = promisify(execFile);
const GATEWAY = process.env.CONFAB_URL;
const NODE1 = process.env.CONFAB_NODE1_URL || 'http://127.0.0.1:9001';
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const skip = GATEWAY ? false : 'CONFAB_URL is not set (scripts/sdk-test.sh sets it)';
const PASSWORD = 'correct horse battery staple';
const run_id = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const clients = [];
let users = 0;

/** A new user, logged in: `{client, user}`; the client is closed after the tests. */
async function newUser(name, { url = GATEWAY, device = 'test' } = {}) {
  const client = await Confab.register(url, `${name}${++users}_${run_id}`, PASSWORD, { device });
  clients.push(client);
  return client;
}

/** Makes `a` and `b` friends over REST. */
async function befriend(a, b) {
  const request = await a.api.sendFriendRequest(b.user.id);
  await b.api.acceptRequest(request.id);
}

/** Resolves with the first `type` event of `client` that `pick` accepts. */
function next(client, type, pick = () => true) {
  return new Promise((resolve) => {
    const off = client.on(type, (value) => {
      if (!pick(value)) return;
      off();
      resolve(value);
    });
  });
}

/** Collects `client`'s messages; `until(n)` resolves once n have come. */
function inbox(client) {
  const messages = [];
  const waiting = [];
  client.on('message', (m) => {
    messages.push(m);
    for (const w of waiting.filter((w) => messages.length >= w.n)) w.resolve(messages);
  });
  return {
    messages,
    until: (n) => (messages.length >= n ? Promise.resolve(messages) : new Promise((resolve) => waiting.push({ n, resolve }))),
  };
}

before(() => {
  if (!skip && Number(process.versions.node.split('.')[0]) < 22 && !globalThis.WebSocket) {
    throw new Error('Node.js 20 needs --experimental-websocket');
  }
});

after(() => Promise.all(clients.map((c) => c.close())));

test('messages arrive once, in order; a client started again with its seen ids gets only the new ones', { skip }, async () => {
  const alice = await newUser('alice');
  const bob = await newUser('bob');
  await befriend(alice, bob);
  const box = inbox(bob);
  await Promise.all([alice.connect(), bob.connect()]);
  const sent = [];
  for (const body of ['one', 'two', 'three']) sent.push(await alice.send({ user: bob.user.id }, body));
  const got = await box.until(3);
  assert.deepEqual(got.map((m) => m.body), ['one', 'two', 'three']);
  assert.deepEqual(got.map((m) => m.msg_id), sent.map((s) => s.msg_id));
  assert.deepEqual(got.map((m) => m.seq), [1, 2, 3]);
  assert.deepEqual(conversationOf(got[0], bob.user.id), { user: alice.user.id });

  // The app kept the ids it has (`seenIds()`): whatever the new connection
  // replays (acks are written asynchronously) is dropped, and acked.
  await bob.close();
  const again = new Confab({ url: GATEWAY, token: bob.api.token(), device: 'test', user: bob.user, seen: bob.seenIds() });
  clients.push(again);
  const replayed = inbox(again);
  await again.connect();
  await alice.send({ user: bob.user.id }, 'four');
  assert.deepEqual((await replayed.until(1)).map((m) => m.body), ['four']);
});

test('a send whose answer was lost is re-sent with its id and stored once', { skip }, async () => {
  const proxy = await startProxy(GATEWAY);
  try {
    const alice = await newUser('alice', { url: proxy.url });
    const bob = await newUser('bob');
    await befriend(alice, bob);
    const box = inbox(bob);
    await Promise.all([alice.connect(), bob.connect()]);

    proxy.mute(); // the server's answers on alice's socket are lost from here
    const sending = alice.send({ user: bob.user.id }, 'through a cut', { id: `cut-${run_id}` });
    const [delivered] = await box.until(1); // the server has it: bob got it
    const reopened = next(alice, 'open', (o) => o.reconnect);
    proxy.cut(); // alice's socket dies without her `sent`
    await reopened;
    const confirmed = await sending; // resolved by the `sent` answering the re-send
    assert.equal(confirmed.msg_id, delivered.msg_id);

    const page = await bob.history({ user: alice.user.id });
    assert.deepEqual(page.messages.map((m) => m.body), ['through a cut']);
    assert.equal(box.messages.length, 1);
  } finally {
    await proxy.close();
  }
});

test('a client reconnects across a node restart and loses nothing', { skip }, async () => {
  const alice = await newUser('alice', { url: NODE1 }); // straight to node1
  const bob = await newUser('bob');
  await befriend(alice, bob);
  const aliceBox = inbox(alice);
  const bobBox = inbox(bob);
  await Promise.all([alice.connect(), bob.connect()]);

  const closed = next(alice, 'state', (s) => s.status === 'waiting');
  const reopened = next(alice, 'open', (o) => o.reconnect);
  const restart = run('scripts/confab', ['restart', 'node1'], { cwd: ROOT, env: process.env });
  assert.equal((await closed).code, 1001, 'node1 closed with 1001 going away');
  const fromAlice = alice.send({ user: bob.user.id }, 'written while node1 restarts');
  await bob.send({ user: alice.user.id }, 'sent to alice while node1 restarts');
  await restart;
  await reopened;
  assert.equal((await fromAlice).to.user, bob.user.id);
  assert.deepEqual((await aliceBox.until(1)).map((m) => m.body), ['sent to alice while node1 restarts']);
  assert.deepEqual((await bobBox.until(1)).map((m) => m.body), ['written while node1 restarts']);
});

test('history pages go back to the first message, with no gaps', { skip }, async () => {
  const alice = await newUser('alice');
  const bob = await newUser('bob');
  await befriend(alice, bob);
  const group = await alice.api.createGroup(`pages ${run_id}`, [bob.user.id]);
  const box = inbox(bob);
  await Promise.all([alice.connect(), bob.connect()]);
  const sends = [];
  for (let i = 1; i <= 120; i++) sends.push(alice.send({ group: group.id }, `m${i}`));
  await Promise.all(sends);
  await box.until(120); // delivered, hence in the log

  const pages = [];
  for await (const messages of bob.pages({ group: group.id }, { limit: 50 })) pages.push(messages);
  assert.deepEqual(pages.map((p) => p.length), [50, 50, 20]);
  const seqs = pages.flat().map((m) => m.seq);
  assert.deepEqual(seqs, Array.from({ length: 120 }, (_, i) => 120 - i));
  assert.deepEqual(pages.flat().map((m) => m.body).reverse(), box.messages.map((m) => m.body));
  const newer = await bob.history({ group: group.id }, { after: 115 });
  assert.deepEqual(newer.messages.map((m) => m.seq), [116, 117, 118, 119, 120]);
});

test('receipts, typing, presence and social events reach the other side', { skip }, async () => {
  const alice = await newUser('alice');
  const bob = await newUser('bob');
  await alice.connect();
  const asked = next(alice, 'friend_request');
  const request = await bob.api.sendFriendRequest(alice.user.id);
  assert.equal((await asked).request.id, request.id);
  await alice.api.acceptRequest(request.id);

  const online = next(alice, 'presence', (p) => p.user === bob.user.id && p.online);
  await bob.connect();
  await online;
  const seen = next(alice, 'message');
  const { msg_id } = await bob.send({ user: alice.user.id }, 'read me');
  const message = await seen;
  assert.equal(message.msg_id, msg_id);

  const typing = next(bob, 'typing');
  assert.equal(alice.typing({ user: bob.user.id }), true);
  assert.deepEqual(await typing, { type: 'typing', conv: { user: alice.user.id }, user: alice.user.id });
  const read = next(bob, 'read');
  assert.equal(alice.read({ user: bob.user.id }, message.seq), true);
  assert.deepEqual(await read, { type: 'read', conv: { user: alice.user.id }, user: alice.user.id, seq: message.seq });
});

test('a logged-out session closes its socket: `unauthorized`, no reconnect', { skip }, async () => {
  const alice = await newUser('alice');
  await alice.connect();
  const ended = next(alice, 'unauthorized');
  await new Rest({ url: GATEWAY, token: alice.api.token() }).logout();
  assert.equal((await ended).code, 'session_revoked');
  assert.equal(alice.state.status, 'fatal');
  await assert.rejects(alice.send({ user: 1 }, 'x'), (e) => e.code === 'closed');
  await assert.rejects(new Rest({ url: GATEWAY, token: alice.api.token() }).me(), (e) => e.status === 401 && e.code === 'token_revoked');
});

test("the README's ten-line client is this example, and it works", { skip }, async () => {
  const example = await readFile(new URL('../examples/ten-lines.mjs', import.meta.url), 'utf8');
  const readme = await readFile(new URL('README.md', `file://${ROOT}`), 'utf8');
  assert.ok(readme.includes(example.trim()), 'README.md shows examples/ten-lines.mjs verbatim');

  const alice = await newUser('alice');
  const bob = await newUser('bob');
  await befriend(alice, bob);
  const box = inbox(bob);
  await bob.connect();
  const args = [...process.execArgv.filter((a) => a.includes('websocket')), fileURLToPath(new URL('../examples/ten-lines.mjs', import.meta.url))];
  const { stdout } = await run(process.execPath, [...args, GATEWAY, alice.user.username, PASSWORD, String(bob.user.id)]);
  const [delivered] = await box.until(1);
  assert.equal(delivered.body, 'Hello from ten lines');
  assert.equal(stdout.trim(), `stored as ${delivered.msg_id}`);
});
