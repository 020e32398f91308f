// A TCP forwarder between a client and the gateway, which a test can mute
// (the server's bytes are dropped, so its answers never arrive) and cut (its
// connections end as after a network failure). New connections always pass.

import net from 'node:net';

export async function startProxy(targetUrl) {
  const { hostname, port } = new URL(targetUrl);
  const pairs = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), hostname);
    const pair = { client, upstream, muted: false };
    pairs.add(pair);
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      if (!pair.muted) client.write(chunk);
    });
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    /** From now on, what the server writes on the open connections is lost. */
    mute() {
      for (const p of pairs) p.muted = true;
    },
    /** Ends every open connection abruptly. */
    cut() {
      for (const p of pairs) {
        p.client.resetAndDestroy();
        p.upstream.destroy();
      }
      pairs.clear();
    },
    close() {
      this.cut();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
