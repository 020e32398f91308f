// The REST client's requests, against a fetch that records them: the URL
// and headers each method sends (the answers are the server's business,
// tested in node/tests/it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rest } from '../src/index.js';

/** A Rest whose fetch records each call and answers `body`. */
function recording(body = [], token = 'tok') {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url: new URL(url), init });
    return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
  };
  return { rest: new Rest({ url: 'http://confab.test/', token, fetch }), calls };
}

test('searchUsers sends search, limit and after', async () => {
  const { rest, calls } = recording();
  await rest.searchUsers('José & Ben');
  await rest.searchUsers('ben ok', { limit: 5, after: 'Bob_1' });
  await rest.searchUsers('@al', { after: 'al' });
  const params = calls.map((c) => Object.fromEntries(c.url.searchParams));
  assert.deepEqual(params, [
    { search: 'José & Ben', limit: '20' },
    { search: 'ben ok', limit: '5', after: 'Bob_1' },
    { search: '@al', limit: '20', after: 'al' },
  ]);
  assert.ok(calls.every((c) => c.url.pathname === '/api/users' && c.init.headers.Authorization === 'Bearer tok'));
});

test('searchUsers still takes the limit as a number (the older signature)', async () => {
  const { rest, calls } = recording();
  await rest.searchUsers('bo', 10);
  assert.deepEqual(Object.fromEntries(calls[0].url.searchParams), { search: 'bo', limit: '10' });
});

test('limits() needs no token', async () => {
  const limits = { message_body_chars: 4000, username_chars: { min: 3, max: 32 } };
  const { rest, calls } = recording(limits, null);
  assert.deepEqual(await rest.limits(), limits);
  assert.equal(calls[0].url.pathname, '/api/limits');
  assert.equal(calls[0].init.method, 'GET');
  assert.equal(calls[0].init.headers.Authorization, undefined);
});
