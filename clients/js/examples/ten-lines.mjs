import { Confab } from '@confab/client';

const [url, username, password, friendId] = process.argv.slice(2); // http://127.0.0.1:8080 alice 'secret' 2
const confab = await Confab.login(url, username, password, { device: 'ten-lines' });
confab.on('message', (m) => console.log(`${m.from}: ${m.body}`)); // acked once this returns
await confab.connect(); // reconnects by itself from now on
const sent = await confab.send({ user: Number(friendId) }, 'Hello from ten lines'); // re-sent until stored
console.log(`stored as ${sent.msg_id}`);
confab.close();
