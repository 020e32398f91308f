// End-to-end test of the web client in a real browser: Debian's Chromium,
// driven by playwright-core, against a running Confab (by default the local
// cluster's gateway, http://127.0.0.1:8080; scripts/web-e2e.sh starts it and
// runs this over https and wss, https://127.0.0.1:8443).
//
// Three people (Alice on a desktop screen, Bob on a phone-sized one, Carol on
// a small laptop) register, become friends through the UI, chat directly
// both ways, create a group and chat in it; Carol logs out while the others
// write and reads it all after logging back in; Bob loses his network, sees
// the banner, types while offline, and after reconnecting gets everything
// sent meanwhile while his own message goes out. A second browser context of
// Alice (another device) shows the history and the read marks; typing shows;
// friend requests, presence and group changes arrive pushed (the page polls
// nothing); a reload without the tab's copy shows the history from the
// server. Then the group is managed (rename, roles, remove, invite, leave,
// disband), a refused send is retried with its client id, and every tab's
// device is checked to have acked everything it was written.
//
//   CONFAB_URL      where the page is (default http://127.0.0.1:8080;
//                   scripts/web-e2e.sh sets https://127.0.0.1:8443)
//   CHROMIUM_PATH   the browser (default /usr/bin/chromium)
//   E2E_HEADED=1    show the browser (needs a display)
//
// Screenshots go to web/e2e/artifacts/ (chat.png, docs-screenshot.png, and
// failure-<user>.png when a step fails).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const BASE = (process.env.CONFAB_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const WAIT = 25_000; // longest wait for one thing to appear
// Every browser context of this test: the local cluster's gateway serves
// https with a self-signed certificate (.run/tls/cert.pem), which the
// browser is told to accept here, and here only.
const CONTEXT = { baseURL: BASE, ignoreHTTPSErrors: true };
const PASSWORD = 'correct horse battery';

// Unique per run: usernames are 3–32 of [A-Za-z0-9_.-].
const RUN = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

const LAUNCH_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** @type {import('playwright-core').Browser} */
let browser;
const people = {}; // name → { ctx, page, username, display, id, errors: [] }
let groupId = null;
let failed = false;

// ---------------------------------------------------------------------------
// Helpers

async function person(name, display, viewport, extra = {}) {
  const ctx = await browser.newContext({ ...CONTEXT, viewport, ...extra });
  ctx.setDefaultTimeout(WAIT);
  const page = await ctx.newPage();
  const p = { name, display, ctx, page, username: `${name}_${RUN}`, id: null, errors: [] };
  page.on('pageerror', (e) => p.errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const t = m.text();
    // Expected while the network is cut or a request is refused on purpose.
    if (/ERR_INTERNET_DISCONNECTED|WebSocket connection to .* failed|Failed to load resource/.test(t)) return;
    p.errors.push(`console: ${t}`);
  });
  people[name] = p;
  return p;
}

/** Answers the page's confirmation dialog (remove, leave, disband) with its `button`. */
async function confirmWith(p, button) {
  const dialog = p.page.getByRole('dialog');
  await dialog.getByRole('button', { name: button }).click();
  await dialog.waitFor({ state: 'hidden' });
}

const nav = (p, name) => p.page.getByRole('navigation', { name: 'Sections' }).getByRole('button', { name: new RegExp(`^${name}`) });

async function goTo(p, view) {
  await nav(p, view).click();
  await p.page.locator(`#view-${view.toLowerCase()}`).waitFor({ state: 'visible' });
}

async function register(p) {
  const { page } = p;
  await page.goto('/');
  await page.getByRole('tab', { name: 'Create account' }).click();
  const form = page.locator('#register-form');
  await form.getByLabel('Username').fill(p.username);
  await form.getByLabel('Display name').fill(p.display);
  await form.getByLabel('Password').fill(PASSWORD);
  await form.getByRole('button', { name: 'Create account' }).click();
  await page.locator('#app-view').waitFor({ state: 'visible' });
  await connected(p);
  p.id = await page.evaluate(() => JSON.parse(sessionStorage.getItem('confab.v1.session')).me.id);
  assert.equal(typeof p.id, 'number');
}

async function logIn(p) {
  const { page } = p;
  if (!page.url().startsWith(BASE)) await page.goto('/');
  const form = page.locator('#login-form');
  await form.waitFor({ state: 'visible' });
  await form.getByLabel('Username').fill(p.username);
  await form.getByLabel('Password').fill(PASSWORD);
  await form.getByRole('button', { name: 'Log in' }).click();
  await page.locator('#app-view').waitFor({ state: 'visible' });
  await connected(p);
}

const connected = (p) => p.page.locator('#conn-state[data-state="open"]').waitFor({ state: 'attached' });

async function sendFriendRequest(from, to) {
  await goTo(from, 'Friends');
  const search = from.page.getByRole('search');
  await search.getByLabel('Search people by name or username').fill(to.username);
  await search.getByRole('button', { name: 'Search' }).click();
  await from.page.getByRole('button', { name: `Add ${to.display} as a friend` }).click();
  await from.page.locator(`#outgoing-list li[data-user-id="${to.id}"]`).waitFor();
}

async function acceptFriendRequest(p, from) {
  await goTo(p, 'Friends');
  // The request is pushed (an `event` frame); the page polls nothing.
  await p.page.getByRole('button', { name: `Accept friend request from ${from.display}` }).first().click();
  await p.page.locator(`#friend-list li[data-user-id="${from.id}"]`).waitFor();
}

/** Opens a conversation from the Chats list (on a phone, back to the list first). */
async function openConversation(p, key) {
  await goTo(p, 'Chats');
  const back = p.page.locator('#chat-back');
  if (await back.isVisible()) await back.click();
  await p.page.locator(`#conv-list button[data-key="${key}"]`).click();
  await p.page.locator('#chat').waitFor({ state: 'visible' });
}

const messages = (p) => p.page.locator('#messages > li');
const messageWith = (p, text) => messages(p).filter({ hasText: text });

async function send(p, text, { confirmed = true } = {}) {
  const input = p.page.getByRole('textbox', { name: 'Message' });
  await input.fill(text);
  await input.press('Enter');
  const own = messageWith(p, text).and(p.page.locator('li.own'));
  await own.waitFor();
  if (confirmed) await own.and(p.page.locator('[data-status="sent"]')).waitFor();
  return own;
}

async function expectMessage(p, text, { from } = {}) {
  const m = messageWith(p, text);
  await m.first().waitFor();
  assert.equal(await m.count(), 1, `${p.name} shows "${text}" once`);
  if (from) assert.equal(await m.getAttribute('data-from'), String(from.id));
  const msgId = await m.getAttribute('data-msg-id');
  assert.match(msgId, /^[0-9]+$/, 'message ids are decimal strings');
}


async function waitUnread(p, key, n) {
  await goTo(p, 'Chats');
  const back = p.page.locator('#chat-back');
  if (await back.isVisible()) await back.click();
  await p.page.locator(`#conv-list button[data-key="${key}"] .badge.unread[data-unread="${n}"]`).waitFor();
}

/** Opens a raw WebSocket as `p`'s tab's device and returns the `message` frames replayed within `ms` (what it did not ack). */
async function inboxOf(p, ms = 2500) {
  const { token, device } = await p.page.evaluate(() => ({
    token: JSON.parse(sessionStorage.getItem('confab.v1.session')).token,
    device: sessionStorage.getItem('confab.v1.device'),
  }));
  return p.page.evaluate(
    async ({ token, device, ms }) => {
      const res = await fetch('/api/auth/ws-ticket', { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
      const { ticket } = await res.json();
      return new Promise((resolve, reject) => {
        // The ticket in the subprotocol header, as the SDK sends it (never in the URL).
        const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws?device=${encodeURIComponent(device)}`;
        const ws = new WebSocket(url, ['confab.v1', `confab.ticket.${ticket}`]);
        const got = [];
        ws.onmessage = (e) => {
          const f = JSON.parse(e.data);
          if (f.type === 'message') got.push(f);
        };
        ws.onerror = () => reject(new Error('raw socket failed'));
        ws.onopen = () =>
          setTimeout(() => {
            ws.close();
            resolve(got);
          }, ms);
      });
    },
    { token, device, ms },
  );
}

/** Whether the page has fetched `path` (a REST read) since it loaded. */
async function fetched(p, path) {
  return p.page.evaluate((path) => performance.getEntriesByType('resource').some((e) => new URL(e.name).pathname === path), path);
}

/** Runs a step; after a failure, the later steps are skipped (they build on it). */
function step(name, fn) {
  it(name, async (t) => {
    if (failed) {
      t.skip('an earlier step failed');
      return;
    }
    try {
      await fn();
    } catch (e) {
      failed = true;
      for (const p of Object.values(people)) {
        await p.page.screenshot({ path: `${ARTIFACTS}failure-${p.name}.png` }).catch(() => {});
      }
      throw e;
    }
  });
}

// ---------------------------------------------------------------------------

describe('Confab web client in Chromium', { concurrency: 1, timeout: 10 * 60_000 }, () => {
  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: !process.env.E2E_HEADED,
      args: process.env.E2E_HEADED ? LAUNCH_ARGS.filter((a) => a !== '--headless') : LAUNCH_ARGS,
    });
    await person('alice', 'Alice', { width: 1280, height: 800 });
    await person('bob', 'Bob', { width: 390, height: 844 }, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    await person('carol', 'Carol', { width: 1024, height: 768 });
  });

  after(async () => {
    for (const p of Object.values(people)) {
      if (p.errors.length) console.log(`# ${p.name}'s page reported:\n#   ${p.errors.join('\n#   ')}`);
    }
    await browser?.close();
  });

  step('the page is served and shows the log-in form', async () => {
    const { page } = people.alice;
    const res = await page.goto('/');
    assert.equal(res.status(), 200);
    assert.equal(await page.title(), 'Confab');
    await page.locator('#login-form').getByLabel('Username').waitFor();
    // Nothing is fetched from anywhere else.
    const origins = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => new URL(e.name).origin));
    for (const o of origins) assert.equal(o, new URL(BASE).origin);
  });

  step('three people register', async () => {
    await Promise.all(Object.values(people).map(register));
    const { page } = people.alice;
    await goTo(people.alice, 'Profile');
    await page.locator('#profile-username').filter({ hasText: `@${people.alice.username}` }).waitFor();
  });

  step('a wrong password is refused on log-in', async () => {
    const ctx = await browser.newContext(CONTEXT);
    const page = await ctx.newPage();
    await page.goto('/');
    const form = page.locator('#login-form');
    await form.getByLabel('Username').fill(people.alice.username);
    await form.getByLabel('Password').fill('not the password');
    await form.getByRole('button', { name: 'Log in' }).click();
    await page.locator('#login-error').filter({ hasText: 'Wrong username or password' }).waitFor();
    await ctx.close();
  });

  step('they become friends through the UI', async () => {
    const { alice, bob, carol } = people;
    await sendFriendRequest(alice, bob);
    await sendFriendRequest(alice, carol);
    await sendFriendRequest(bob, carol);
    await acceptFriendRequest(bob, alice);
    await acceptFriendRequest(carol, alice);
    await acceptFriendRequest(carol, bob);
    // Alice's list (pushed) shows both, online.
    await goTo(alice, 'Friends');
    await alice.page.locator(`#friend-list li[data-user-id="${bob.id}"][data-online="true"]`).waitFor();
    await alice.page.locator(`#friend-list li[data-user-id="${carol.id}"][data-online="true"]`).waitFor();
    await bob.page.locator(`#friend-list li[data-user-id="${carol.id}"]`).waitFor();
  });

  step('Alice edits her profile', async () => {
    const { page } = people.alice;
    await goTo(people.alice, 'Profile');
    const form = page.locator('#profile-form');
    await form.getByLabel('Bio').fill('Organises the weekend.');
    await form.getByLabel('Avatar URL').fill('ftp://example.com/me.png');
    await form.getByRole('button', { name: 'Save profile' }).click();
    await page.locator('#profile-error').filter({ hasText: /avatar/i }).waitFor();
    await form.getByLabel('Avatar URL').fill('');
    await form.getByLabel('Display name').fill('Alice A.');
    await form.getByRole('button', { name: 'Save profile' }).click();
    await page.locator('#profile-display').filter({ hasText: 'Alice A.' }).waitFor();
    await page.locator('#profile-bio').filter({ hasText: 'Organises the weekend.' }).waitFor();
    people.alice.display = 'Alice A.';
  });

  step('Alice and Bob chat directly, both ways', async () => {
    const { alice, bob } = people;
    await openConversation(alice, `u:${bob.id}`);
    await send(alice, 'Hi Bob! 👋');
    await waitUnread(bob, `u:${alice.id}`, 1);
    await openConversation(bob, `u:${alice.id}`);
    await expectMessage(bob, 'Hi Bob! 👋', { from: alice });
    await send(bob, 'Hey Alice, all good?');
    await expectMessage(alice, 'Hey Alice, all good?', { from: bob });
    await send(alice, 'Yes — making a group.');
    await expectMessage(bob, 'Yes — making a group.', { from: alice });
    // Order is kept.
    const texts = await messages(bob).locator('.body').allTextContents();
    assert.deepEqual(texts, ['Hi Bob! 👋', 'Hey Alice, all good?', 'Yes — making a group.']);
  });

  step("Alice's second device: the history and read marks, and her message shows as hers on the first", async () => {
    const { alice, bob } = people;
    const phone = await person('alice2', 'Alice A.', { width: 390, height: 844 });
    phone.username = alice.username;
    phone.id = alice.id;
    try {
      await logIn(phone);
      await openConversation(phone, `u:${bob.id}`);
      // A device that never saw them: the conversation comes from the history.
      await expectMessage(phone, 'Hi Bob! 👋', { from: alice });
      await expectMessage(phone, 'Hey Alice, all good?', { from: bob });
      const texts = await messages(phone).locator('.body').allTextContents();
      assert.deepEqual(texts, ['Hi Bob! 👋', 'Hey Alice, all good?', 'Yes — making a group.']);
      // Bob has read everything: ✓✓ on her messages, on both devices.
      await messageWith(phone, 'Yes — making a group.').and(phone.page.locator('[data-read-by="1"]')).waitFor();
      await messageWith(alice, 'Yes — making a group.').and(alice.page.locator('[data-read-by="1"]')).waitFor();
      await send(phone, 'Sent from my other device');
      await expectMessage(bob, 'Sent from my other device', { from: alice });
      await expectMessage(alice, 'Sent from my other device', { from: alice });
      const copy = messageWith(alice, 'Sent from my other device');
      assert.equal(await copy.getAttribute('class').then((c) => c.includes('own')), true, 'shown as her own');
      assert.deepEqual(phone.errors, [], "the second device's page");
    } finally {
      await phone.ctx.close();
      delete people.alice2;
    }
  });

  step('Alice creates a group with Bob and Carol, and they chat in it', async () => {
    const { alice, bob, carol } = people;
    await goTo(alice, 'Groups');
    const form = alice.page.locator('#group-create');
    await form.getByLabel('Group name').fill('Weekend');
    await form.locator(`input[type=checkbox][value="${bob.id}"]`).check();
    await form.locator(`input[type=checkbox][value="${carol.id}"]`).check();
    await form.getByRole('button', { name: 'Create group' }).click();
    const details = alice.page.locator('#group-details');
    await details.locator('#group-title').filter({ hasText: 'Weekend' }).waitFor();
    await details.locator('#group-members > li').nth(2).waitFor();
    groupId = Number(await alice.page.locator('#group-list button.active').getAttribute('data-group-id'));
    assert.ok(groupId > 0);
    assert.equal(await details.locator(`#group-members li[data-user-id="${alice.id}"]`).getAttribute('data-role'), 'owner');

    await details.getByRole('button', { name: 'Open chat' }).click();
    // Bob and Carol were told (an `event`): the group is in their lists.
    for (const p of [bob, carol]) await p.page.locator(`#conv-list button[data-key="g:${groupId}"]`).waitFor({ state: 'attached' });
    await send(alice, 'Welcome to the group!');
    for (const p of [bob, carol]) {
      await waitUnread(p, `g:${groupId}`, 1);
      await openConversation(p, `g:${groupId}`);
      await expectMessage(p, 'Welcome to the group!', { from: alice });
      await p.page.locator('#chat-title').filter({ hasText: 'Weekend' }).waitFor();
    }
    // Typing shows on the others' screens (and is never a message).
    await carol.page.getByRole('textbox', { name: 'Message' }).fill('Hi both');
    await alice.page.locator('#typing').filter({ hasText: `${carol.display} is typing` }).waitFor();
    await send(carol, 'Hi both! Saturday?');
    await expectMessage(alice, 'Hi both! Saturday?', { from: carol });
    await expectMessage(bob, 'Hi both! Saturday?', { from: carol });
    await send(bob, 'Saturday works for me.');
    await expectMessage(alice, 'Saturday works for me.', { from: bob });
    await expectMessage(carol, 'Saturday works for me.', { from: bob });
  });

  step('Carol logs out, the others write, and she reads it after logging back in', async () => {
    const { alice, bob, carol } = people;
    const oldToken = await carol.page.evaluate(() => JSON.parse(sessionStorage.getItem('confab.v1.session')).token);
    await carol.page.getByRole('button', { name: 'Log out' }).click();
    await carol.page.locator('#login-form').waitFor({ state: 'visible' });
    // Logging out ended the session on the server: the old token is refused.
    const refused = await carol.page.evaluate(async (token) => {
      for (let i = 0; i < 50; i++) {
        const res = await fetch('/api/me', { headers: { Authorization: `Bearer ${token}` } });
        if (res.status === 401) return (await res.json()).error.code;
        await new Promise((r) => setTimeout(r, 100));
      }
      return 'still accepted';
    }, oldToken);
    assert.equal(refused, 'token_revoked');
    // Her presence goes (the socket closed): Alice's dot turns grey.
    await goTo(alice, 'Friends');
    await alice.page.locator(`#friend-list li[data-user-id="${carol.id}"][data-online="false"]`).waitFor();

    await openConversation(alice, `g:${groupId}`);
    await send(alice, 'Carol, we said 10am.');
    await openConversation(bob, `u:${carol.id}`);
    await send(bob, 'Psst Carol, bring snacks.');
    await openConversation(bob, `g:${groupId}`);
    await send(bob, 'I will bring the map!');

    await logIn(carol);
    await goTo(alice, 'Friends');
    await alice.page.locator(`#friend-list li[data-user-id="${carol.id}"][data-online="true"]`).waitFor();
    await waitUnread(carol, `g:${groupId}`, 2);
    await waitUnread(carol, `u:${bob.id}`, 1);
    await openConversation(carol, `g:${groupId}`);
    await expectMessage(carol, 'Carol, we said 10am.', { from: alice });
    await expectMessage(carol, 'I will bring the map!', { from: bob });
    const texts = await messages(carol).locator('.body').allTextContents();
    assert.ok(texts.indexOf('Carol, we said 10am.') < texts.indexOf('I will bring the map!'), 'replayed in order');
    await openConversation(carol, `u:${bob.id}`);
    await expectMessage(carol, 'Psst Carol, bring snacks.', { from: bob });
    await send(carol, 'Will do!');
    await openConversation(bob, `u:${carol.id}`);
    await expectMessage(bob, 'Will do!', { from: carol });
  });

  step('Bob loses his connection, sees the banner, then gets everything sent meanwhile', async () => {
    const { alice, bob, carol } = people;
    await openConversation(bob, `g:${groupId}`);
    await bob.ctx.setOffline(true);
    const banner = bob.page.locator('#banner');
    await banner.waitFor({ state: 'visible' });
    assert.match(await banner.textContent(), /offline|Connection lost/i);
    assert.notEqual(await bob.page.locator('#conn-state').getAttribute('data-state'), 'open');

    // Bob writes while offline: pending, with the same client id kept for the re-send.
    const mine = await send(bob, 'Sorry, my train went through a tunnel. I am in!', { confirmed: false });
    assert.equal(await mine.getAttribute('data-status'), 'pending');
    const cid = await mine.getAttribute('data-cid');
    assert.match(cid, /^[0-9a-f-]{36}$/);
    await mine.filter({ hasText: 'Waiting for connection' }).waitFor();

    await openConversation(alice, `u:${bob.id}`);
    await send(alice, 'Bob, did you get the tickets?');
    await openConversation(alice, `g:${groupId}`);
    await send(alice, 'The train leaves at 9:40 from platform 2.');
    await openConversation(carol, `g:${groupId}`);
    await send(carol, 'I booked the picnic spot by the lake.');
    // Still cut off: nothing arrived, the banner stays.
    await bob.page.waitForTimeout(1000);
    assert.equal(await messageWith(bob, 'The train leaves at 9:40 from platform 2.').count(), 0);
    assert.ok(await banner.isVisible());

    await bob.ctx.setOffline(false);
    await banner.waitFor({ state: 'hidden' });
    await connected(bob);
    await expectMessage(bob, 'The train leaves at 9:40 from platform 2.', { from: alice });
    await expectMessage(bob, 'I booked the picnic spot by the lake.', { from: carol });
    // His message went out with the same client id, once.
    const sent = bob.page.locator(`#messages li[data-cid="${cid}"][data-status="sent"]`);
    await sent.waitFor();
    await expectMessage(alice, 'Sorry, my train went through a tunnel. I am in!', { from: bob });
    await expectMessage(carol, 'Sorry, my train went through a tunnel. I am in!', { from: bob });
    await waitUnread(bob, `u:${alice.id}`, 1);
    await openConversation(bob, `u:${alice.id}`);
    await expectMessage(bob, 'Bob, did you get the tickets?', { from: alice });
  });

  step('screenshots of the chat view', async () => {
    const { alice, bob, carol } = people;
    await openConversation(alice, `g:${groupId}`);
    await send(alice, 'Perfect. See you all on Saturday!');
    await expectMessage(carol, 'Perfect. See you all on Saturday!');
    await openConversation(bob, `g:${groupId}`);
    await expectMessage(bob, 'Perfect. See you all on Saturday!');
    await bob.page.screenshot({ path: `${ARTIFACTS}chat.png` });
    // The phone layout fits its screen (no sideways scrolling).
    const overflow = await bob.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the phone page is ${overflow}px too wide`);
    // Both others have the group open: Alice's message is read by 2.
    await messageWith(alice, 'Perfect. See you all on Saturday!').and(alice.page.locator('[data-read-by="2"]')).waitFor();
    await alice.page.setViewportSize({ width: 1280, height: 800 });
    await alice.page.locator('#composer-input').blur();
    await alice.page.screenshot({ path: `${ARTIFACTS}docs-screenshot.png` });
  });

  step('a reload keeps the session, and shows the history from the server', async () => {
    const { alice } = people;
    // Without the tab's own copy: what shows comes from the server.
    await alice.page.evaluate((id) => sessionStorage.removeItem(`confab.v1.chat.${id}`), alice.id);
    await alice.page.reload();
    await connected(alice);
    await openConversation(alice, `g:${groupId}`);
    await expectMessage(alice, 'Saturday works for me.');
    await expectMessage(alice, 'Perfect. See you all on Saturday!');
  });

  step('a long conversation: scrolling up loads the older pages', async () => {
    const { alice, bob } = people;
    // Bob sends 60 messages from a script of his (another device).
    const token = await bob.page.evaluate(() => JSON.parse(sessionStorage.getItem('confab.v1.session')).token);
    await bob.page.evaluate(
      async ({ token, to }) => {
        const res = await fetch('/api/auth/ws-ticket', { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
        const { ticket } = await res.json();
        return new Promise((resolve, reject) => {
          const scheme = location.protocol === 'https:' ? 'wss' : 'ws'; // an https page may not open ws://
          const ws = new WebSocket(`${scheme}://${location.host}/ws?device=script`, ['confab.v1', `confab.ticket.${ticket}`]);
          let sent = 0;
          ws.onmessage = (e) => {
            if (JSON.parse(e.data).type === 'sent' && ++sent === 60) {
              ws.close();
              resolve();
            }
          };
          ws.onerror = () => reject(new Error('script socket failed'));
          ws.onopen = () => {
            for (let i = 0; i < 60; i++) ws.send(JSON.stringify({ type: 'send', id: `bulk-${i}`, to: { user: to }, body: `bulk ${i}` }));
          };
        });
      },
      { token, to: alice.id },
    );
    await alice.page.evaluate((id) => sessionStorage.removeItem(`confab.v1.chat.${id}`), alice.id);
    await alice.page.reload();
    await connected(alice);
    await openConversation(alice, `u:${bob.id}`);
    await expectMessage(alice, 'bulk 59', { from: bob });
    // The newest page only; the first message comes with scrolling up.
    assert.equal(await messageWith(alice, 'Hi Bob! 👋').count(), 0);
    await alice.page.locator('#messages').evaluate((el) => el.scrollTo(0, 0));
    await expectMessage(alice, 'Hi Bob! 👋', { from: alice });
    const texts = await messages(alice).locator('.body').allTextContents();
    assert.ok(texts.indexOf('Hi Bob! 👋') < texts.indexOf('bulk 0'), 'in seq order');
  });

  step('the group is managed: rename, roles, remove, invite, leave', async () => {
    const { alice, bob, carol } = people;
    await goTo(alice, 'Groups');
    await alice.page.locator(`#group-list button[data-group-id="${groupId}"]`).click();
    const details = alice.page.locator('#group-details');
    await details.getByLabel('Group name').fill('Weekend trip');
    await details.getByRole('button', { name: 'Rename' }).click();
    await details.locator('#group-title').filter({ hasText: 'Weekend trip' }).waitFor();

    await details.getByLabel(`Role of ${bob.display}`).selectOption('admin');
    await details.locator(`#group-members li[data-user-id="${bob.id}"][data-role="admin"]`).waitFor();

    await details.getByLabel(`More for ${carol.display}`).click();
    await details.getByRole('button', { name: `Remove ${carol.display} from the group` }).click();
    await confirmWith(alice, 'Remove from group');
    await details.locator(`#group-members li[data-user-id="${carol.id}"]`).waitFor({ state: 'detached' });

    await details.locator(`#group-invite input[value="${carol.id}"]`).check();
    await details.getByRole('button', { name: 'Invite' }).click();
    await details.locator(`#group-members li[data-user-id="${carol.id}"][data-role="member"]`).waitFor();

    // Bob (admin) sees the new name and his role.
    await goTo(bob, 'Groups');
    await bob.page.locator(`#group-list button[data-group-id="${groupId}"]`).filter({ hasText: 'Weekend trip' }).click();
    await bob.page.locator(`#group-details #group-members li[data-user-id="${bob.id}"][data-role="admin"]`).waitFor();

    // Carol leaves.
    await goTo(carol, 'Groups');
    await carol.page.locator(`#group-list button[data-group-id="${groupId}"]`).click();
    await carol.page.locator('#group-details').getByRole('button', { name: 'Leave group' }).click();
    await confirmWith(carol, 'Leave group');
    await carol.page.locator(`#group-list button[data-group-id="${groupId}"]`).waitFor({ state: 'detached' });
  });

  step('a refused send shows the error, and Retry re-sends the same client id', async () => {
    const { bob, carol } = people;
    await goTo(bob, 'Friends');
    const friendList = bob.page.locator('#friend-list');
    await friendList.getByLabel(`More for ${carol.display}`).click();
    await friendList.getByRole('button', { name: `Remove ${carol.display} from friends` }).click();
    await confirmWith(bob, 'Remove friend');
    await bob.page.locator(`#friend-list li[data-user-id="${carol.id}"]`).waitFor({ state: 'detached' });
    await openConversation(bob, `u:${carol.id}`);
    const msg = await send(bob, 'Are we still friends?', { confirmed: false });
    await msg.and(bob.page.locator('[data-status="failed"]')).waitFor();
    await msg.filter({ hasText: 'you are not friends' }).waitFor();
    const cid = await msg.getAttribute('data-cid');
    // Watch what the page sends on its (already open) socket.
    await bob.page.evaluate(() => {
      window.__sent = [];
      const orig = WebSocket.prototype.send;
      WebSocket.prototype.send = function (data) {
        window.__sent.push(String(data));
        return orig.call(this, data);
      };
    });
    await msg.getByRole('button', { name: 'Retry sending this message' }).click();
    await bob.page.waitForFunction(() => window.__sent.some((f) => JSON.parse(f).type === 'send'));
    await bob.page.locator(`#messages li[data-cid="${cid}"][data-status="failed"]`).waitFor();
    const resent = (await bob.page.evaluate(() => window.__sent)).map((f) => JSON.parse(f)).filter((f) => f.type === 'send');
    assert.equal(resent.length, 1, 'one send on retry');
    assert.equal(resent[0].id, cid, 'the same client id');
    assert.equal(resent[0].body, 'Are we still friends?');
    assert.deepEqual(resent[0].to, { user: carol.id });
    assert.equal(await messageWith(bob, 'Are we still friends?').count(), 1);
  });

  step('every control has an accessible name, on every view', async () => {
    const { alice } = people;
    for (const view of ['Chats', 'Friends', 'Groups', 'Profile']) {
      await goTo(alice, view);
      if (view === 'Groups') await alice.page.locator(`#group-list button[data-group-id="${groupId}"]`).click();
      if (view === 'Chats') await openConversation(alice, `g:${groupId}`);
      const unnamed = await alice.page.evaluate(() =>
        [...document.querySelectorAll('input, select, textarea, button, summary')]
          .filter((el) => el.offsetParent !== null && el.type !== 'hidden')
          .filter((el) => {
            const named = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || (el.labels && el.labels.length);
            return !named && !(el.tagName === 'BUTTON' && el.textContent.trim());
          })
          .map((el) => el.outerHTML.slice(0, 120)),
      );
      assert.deepEqual(unnamed, [], `unnamed controls on ${view}`);
    }
  });

  step('the owner disbands the group', async () => {
    const { alice, bob } = people;
    await goTo(alice, 'Groups');
    await alice.page.locator(`#group-list button[data-group-id="${groupId}"]`).click();
    await alice.page.locator('#group-details').getByRole('button', { name: 'Disband group' }).click();
    await confirmWith(alice, 'Disband group');
    await alice.page.locator(`#group-list button[data-group-id="${groupId}"]`).waitFor({ state: 'detached' });
    await goTo(bob, 'Groups');
    await bob.page.locator(`#group-list button[data-group-id="${groupId}"]`).waitFor({ state: 'detached' });
  });

  step('everything displayed was acked: every inbox is empty', async () => {
    await new Promise((r) => setTimeout(r, 1000)); // acks go out within 0.4 s
    for (const p of Object.values(people)) {
      const left = await inboxOf(p);
      assert.deepEqual(left.map((f) => f.body), [], `${p.name}'s inbox`);
    }
  });

  step('nothing is polled: with nothing happening, no page reads friends, requests or groups', async () => {
    const reads = (p) =>
      p.page.evaluate(
        () =>
          performance
            .getEntriesByType('resource')
            .filter((e) => ['/api/friends', '/api/friends/requests', '/api/groups'].includes(new URL(e.name).pathname)).length,
      );
    const before = await Promise.all(Object.values(people).map(reads));
    // Longer than the 5 s the page used to poll at.
    await new Promise((r) => setTimeout(r, 6000));
    const after = await Promise.all(Object.values(people).map(reads));
    assert.deepEqual(after, before);
    assert.ok(await fetched(people.alice, '/api/conversations'), 'the conversation list was read');
  });

  step('no page reported an error', async () => {
    for (const p of Object.values(people)) assert.deepEqual(p.errors, [], `${p.name}'s page`);
  });
});
