// `pnpm playground`: serves the playground page and prints its URL. Settings by environment:
// PLAYGROUND_PORT (default 5173), PLAYGROUND_HOST (default 127.0.0.1: the page is a dev tool, not
// for the network), EXO_URL (the daemon the page connects to by default, ws://localhost:8080).

import { fileURLToPath } from 'node:url';
import { startPlayground } from './serve.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const port = Number(process.env.PLAYGROUND_PORT ?? 5173);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PLAYGROUND_PORT must be a port number (0-65535), got ${process.env.PLAYGROUND_PORT}`);
  process.exit(1);
}
const defaultServerUrl = process.env.EXO_URL ?? 'ws://localhost:8080';

const playground = await startPlayground({
  root,
  port,
  host: process.env.PLAYGROUND_HOST ?? '127.0.0.1',
  defaultServerUrl,
});
console.log(`Exo playground: ${playground.url}  (daemon ${defaultServerUrl}; open it in two windows)`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void playground.close().then(() => process.exit(0));
  });
}
