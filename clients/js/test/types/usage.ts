// Compiled (never run) by types.test.mjs with `tsc --noEmit --strict`: the
// declarations (src/index.d.ts) describe the SDK as this code uses it, and
// refuse what the protocol refuses (the `@ts-expect-error` lines).

import { ApiError, Confab, Rest, SendError, type Limits, type Message, type Sent, type Target, type User } from '@confab/client';

export async function usage(): Promise<void> {
  const confab = await Confab.login('http://127.0.0.1:8080', 'alice', 'secret', { device: 'laptop' });
  confab.on('message', async (m: Message) => {
    const seq: number = m.seq;
    const id: string = m.msg_id;
    return [seq, id];
  });
  confab.on('friend_request', (e) => e.request?.from_user.username);
  confab.on('state', (s) => (s.status === 'waiting' ? s.retryAt : 0));
  await confab.connect();
  const to: Target = { group: 3 };
  const sent: Sent = await confab.send(to, 'hi', { id: 'c1' });
  const msgId: string = sent.msg_id;
  for await (const page of confab.pages({ user: 2 }, { limit: 50 })) page.map((m) => m.body);
  const friends = await confab.api.friends();
  const online: boolean = friends[0].online;
  await new Rest({ url: 'https://chat.example.com', token: () => null }).history({ user: 2 }, { before: 10 });
  const limits: Limits = await confab.api.limits();
  const longest: number = limits.message_body_chars + limits.username_chars.max;
  const found: User[] = await confab.api.searchUsers('ben ok', { limit: 10, after: 'bob' });
  await confab.api.searchUsers('bo', 10);
  console.log(longest, found.length);
  try {
    await confab.send({ user: 2 }, 'x');
  } catch (e) {
    if (e instanceof SendError) console.log(e.code, e.id);
    if (e instanceof ApiError) console.log(e.status, e.retryAfter);
  }
  await confab.close();
  console.log(msgId, online);

  // @ts-expect-error a target has a user or a group, not a channel
  await confab.send({ channel: 1 }, 'x');
  // @ts-expect-error `after` is a username
  await confab.api.searchUsers('ben', { after: 3 });
  // @ts-expect-error a body is a string
  await confab.send({ user: 2 }, 42);
  // @ts-expect-error no such event
  confab.on('messages', () => {});
  // @ts-expect-error msg_id is a string, never a number
  confab.on('message', (m) => m.msg_id.toFixed());
}
