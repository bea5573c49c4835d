// The playground's web server, on node:http: GET / is the page (with the default daemon URL filled
// in), /app.js the bundled browser code (built once at start), /style.css the styles; anything else
// is 404, and methods other than GET and HEAD are 405. It serves files it knows by name only, so no
// request path ever reaches the file system.

import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { bundleBrowserCode } from './bundle.js';

export interface PlaygroundOptions {
  /** The app's folder (apps/playground): where static/ and src/browser/ are. */
  readonly root: string;
  readonly port?: number;
  readonly host?: string;
  /** The daemon URL the page uses when its query string names none. */
  readonly defaultServerUrl?: string;
}

export interface Playground {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

interface Asset {
  readonly type: string;
  readonly body: string;
}

export async function startPlayground(options: PlaygroundOptions): Promise<Playground> {
  const assets = await loadAssets(options.root, options.defaultServerUrl ?? 'ws://localhost:8080');
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    const asset = assets.get((req.url ?? '/').split('?')[0]!);
    if (asset === undefined) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': asset.type, 'Cache-Control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  });
  await listen(server, options.port ?? 5173, options.host ?? '127.0.0.1');
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host === '0.0.0.0' ? 'localhost' : host}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function loadAssets(root: string, defaultServerUrl: string): Promise<Map<string, Asset>> {
  const [html, css, js] = await Promise.all([
    readFile(join(root, 'static/index.html'), 'utf8'),
    readFile(join(root, 'static/style.css'), 'utf8'),
    bundleBrowserCode(root),
  ]);
  const page = html.replace('__EXO_DEFAULT_URL__', escapeAttribute(defaultServerUrl));
  return new Map([
    ['/', { type: 'text/html; charset=utf-8', body: page }],
    ['/index.html', { type: 'text/html; charset=utf-8', body: page }],
    ['/style.css', { type: 'text/css; charset=utf-8', body: css }],
    ['/app.js', { type: 'text/javascript; charset=utf-8', body: js }],
  ]);
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
