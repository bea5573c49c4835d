// Embedding: createExoServer attached to a host's http.Server must take only the upgrades on its
// path, leave the host's other upgrades and HTTP routes alone, close only its own sockets (1001)
// on close(), and report through the logger it is given, in JSON-able fields without query strings.

import { createServer, request, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { connect, startServer } from '../test/kit.js';
import type { Logger } from './log.js';
import { createExoServer, type ExoServer, type ExoServerOptions } from './server.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A host app: an HTTP route, and a WebSocket echo service of its own on /other. */
async function host() {
  const http: Server = createServer((req, res) => {
    if (req.url === '/hello') res.writeHead(200, { 'Content-Type': 'text/plain' }).end('hi');
    else res.writeHead(404).end();
  });
  const echo = new WebSocketServer({ noServer: true });
  echo.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo:${data.toString()}`)));
  http.on('upgrade', (req, socket, head) => {
    if (req.url === '/other') echo.handleUpgrade(req, socket, head, (ws) => echo.emit('connection', ws, req));
  });
  // Upgrade sockets nobody took are invisible to closeAllConnections(); track them to end them all.
  const sockets = new Set<Socket>();
  http.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    echo.close();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => http.close(resolve));
  });
  const base = `127.0.0.1:${(http.address() as AddressInfo).port}`;
  return { http, base };
}

async function attach(http: Server, options: ExoServerOptions = {}): Promise<ExoServer> {
  const exo = await createExoServer({ server: http, path: '/realtime', ...options });
  cleanups.push(() => exo.close());
  return exo;
}

async function echoOnce(url: string): Promise<string> {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const reply = new Promise<string>((resolve) => ws.once('message', (data) => resolve(data.toString())));
  ws.send('ping');
  const text = await reply;
  ws.close();
  return text;
}

/** Sends a raw upgrade request and reports what came back within `ms`: a status, or nothing. */
function rawUpgrade(base: string, path: string, ms: number): Promise<number | 'no answer'> {
  const [hostname, port] = base.split(':') as [string, string];
  return new Promise((resolve) => {
    const req = request({
      hostname,
      port: Number(port),
      path,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
      },
    });
    const timer = setTimeout(() => {
      req.destroy();
      resolve('no answer');
    }, ms);
    req.on('upgrade', (res, socket) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('response', (res) => {
      clearTimeout(timer);
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => {});
    req.end();
  });
}

describe('createExoServer attached to a host http.Server', () => {
  it('serves its path, query string ignored, and leaves other upgrades and HTTP routes to the host', async () => {
    const { http, base } = await host();
    await attach(http);

    const c = await connect(`ws://${base}/realtime?client=test`, ['exo.v1']);
    expect(c.ws.protocol).toBe('exo.v1');
    c.send({ type: 'join', roomId: 'room', user: { userId: 'alice' }, rid: 1 });
    expect((await c.until('ack')).at(-1)).toMatchObject({ op: 'join', ok: true, rid: 1 });

    expect(await echoOnce(`ws://${base}/other`)).toBe('echo:ping');
    // A path nobody serves: we must not answer it either (the host decides; here it stays silent).
    expect(await rawUpgrade(base, '/elsewhere', 200)).toBe('no answer');
    expect(await rawUpgrade(base, '/realtime', 1000)).toBe(101);

    const res = await fetch(`http://${base}/hello`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('hi');
  });

  it('closes its sockets with 1001 on close() and leaves the host server running', async () => {
    const { http, base } = await host();
    const exo = await attach(http);
    const alice = await connect(`ws://${base}/realtime`);
    alice.send({ type: 'join', roomId: 'room', user: { userId: 'alice' } });
    await alice.until('ack');
    const other = new WebSocket(`ws://${base}/other`);
    await new Promise((resolve) => other.once('open', resolve));

    await exo.close();
    expect(await alice.closed()).toEqual({ code: 1001, reason: expect.any(String) });
    expect(exo.connections).toBe(0);
    expect(http.listening).toBe(true);
    expect(other.readyState).toBe(WebSocket.OPEN);
    other.close();
    expect((await fetch(`http://${base}/hello`)).status).toBe(200);
    expect(await echoOnce(`ws://${base}/other`)).toBe('echo:ping');
    // Our path is no longer upgraded by us.
    expect(await rawUpgrade(base, '/realtime', 200)).toBe('no answer');
  });

  it('takes upgrades on any path when no path is given, and close() resolves once', async () => {
    const { http, base } = await host();
    const exo = await createExoServer({ server: http });
    cleanups.push(() => exo.close());
    const c = await connect(`ws://${base}/any/where`);
    c.send({ type: 'join', roomId: 'room', user: { userId: 'alice' } });
    await c.until('ack');
    await Promise.all([exo.close(), exo.close()]);
    expect((await c.closed()).code).toBe(1001);
    expect(exo.draining).toBe(true);
  });
});

describe('the logger an embedder passes', () => {
  it('receives JSON-able calls, and never a query string', async () => {
    const calls: { level: string; fields: object; message: string | undefined }[] = [];
    const record =
      (level: string) =>
      (fields: object, message?: string): void => {
        calls.push({ level, fields, message });
      };
    const logger: Logger = {
      debug: record('debug'),
      info: record('info'),
      warn: record('warn'),
      error: record('error'),
    };
    const s = await startServer({
      logger,
      authenticate: async (req) => {
        if (req.url?.includes('boom')) throw new Error('hook broke');
        return { userId: 'alice' };
      },
    });
    cleanups.push(() => s.close());

    const c = await connect(`${s.url}realtime?token=secret-token-value`);
    c.send({ type: 'join', roomId: 'room', user: { userId: 'alice' } });
    await c.until('ack');
    c.close();
    await c.closed();
    // A failing hook is refused with 401 and reported as a warning.
    await expect(connect(`${s.url}?boom=secret-token-value`)).rejects.toThrow('HTTP 401');
    await s.close();

    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) {
      expect(['debug', 'info', 'warn', 'error']).toContain(call.level);
      expect(JSON.parse(JSON.stringify(call.fields))).toEqual(call.fields);
      if (call.message !== undefined) expect(typeof call.message).toBe('string');
    }
    expect(calls.some((c) => c.level === 'warn')).toBe(true);
    expect(JSON.stringify(calls)).not.toContain('secret-token-value');
  });
});
