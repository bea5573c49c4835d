// The operations endpoints (CONTRACT §9) over a real socket: GET /health → 200 {"ok":true}; GET /ready
// → 200, or 503 once the WebSocket server is draining; other paths 404; another method on a known
// path 405.

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, startServer } from '../test/kit.js';
import { createHealthServer, type HealthSource } from './http.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function health(source: HealthSource): Promise<string> {
  const server: Server = createHealthServer(source);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const alwaysReady: HealthSource = { ready: () => ({ ok: true }) };

describe('GET /health', () => {
  it('answers 200 with exactly {"ok":true} as JSON', async () => {
    const base = await health(alwaysReady);
    const res = await fetch(`${base}/health`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.text()).toBe('{"ok":true}');
  });

  it('answers 200 while the server is draining: the process is alive', async () => {
    const base = await health({ ready: () => ({ ok: false, reason: 'draining' }) });
    const res = await fetch(`${base}/health`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('{"ok":true}');
  });

  it('ignores a query string', async () => {
    const base = await health(alwaysReady);
    expect((await fetch(`${base}/health?probe=k8s`)).status).toBe(200);
  });

  it('answers HEAD with 200 and no body', async () => {
    const base = await health(alwaysReady);
    const res = await fetch(`${base}/health`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });
});

describe('GET /ready', () => {
  it('answers 200 while ready and 503 once the source reports draining', async () => {
    let draining = false;
    const base = await health({ ready: () => (draining ? { ok: false, reason: 'draining' } : { ok: true }) });
    const before = await fetch(`${base}/ready`);
    expect(before.status).toBe(200);
    expect(await before.text()).toBe('{"ok":true}');
    draining = true;
    const during = await fetch(`${base}/ready`);
    expect(during.status).toBe(503);
    expect(await during.json()).toEqual({ ok: false, reason: 'draining' });
  });

  it('turns 503 as soon as the WebSocket server starts closing, before its sockets are gone', async () => {
    const exo = await startServer();
    closers.push(() => exo.close());
    const base = await health({
      ready: () => (exo.draining ? { ok: false, reason: 'draining' } : { ok: true }),
    });
    const client = await connect(exo.url);
    expect((await fetch(`${base}/ready`)).status).toBe(200);
    const closing = exo.close();
    expect((await fetch(`${base}/ready`)).status).toBe(503);
    expect((await client.closed()).code).toBe(1001);
    await closing;
    expect((await fetch(`${base}/ready`)).status).toBe(503);
  });
});

describe('other requests', () => {
  it.each(['/', '/healthz', '/health/', '/ready/now', '/HEALTH'])('answers 404 to GET %s', async (path) => {
    const base = await health(alwaysReady);
    const res = await fetch(`${base}${path}`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ ok: false, error: 'not found' });
  });

  it.each([
    ['POST', '/health'],
    ['PUT', '/health'],
    ['DELETE', '/ready'],
    ['POST', '/ready'],
  ])('answers 405 to %s %s, naming the allowed methods', async (method, path) => {
    const base = await health(alwaysReady);
    const res = await fetch(`${base}${path}`, { method });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    expect(await res.json()).toEqual({ ok: false, error: 'method not allowed' });
  });

  it('answers 404, not 405, to another method on an unknown path', async () => {
    const base = await health(alwaysReady);
    expect((await fetch(`${base}/nothing`, { method: 'POST' })).status).toBe(404);
  });
});
