// Limits over real sockets (CONTRACT §8): rate budgets and floods as a client sees them, slow
// readers (held camera relays past the soft limit, 1013 past the hard one) while other clients keep
// receiving, and the upgrade checks with their HTTP statuses in the contract's order.

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { ServerMessage } from '@exo/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, eventually, joined, room, startServer, type TestClient } from '../test/kit.js';
import { createExoServer, type ExoServerOptions } from './server.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((f) => f()));
});

async function server(options: ExoServerOptions = {}) {
  const s = await startServer(options);
  cleanups.push(() => s.close());
  return s;
}

async function view(client: TestClient, userId: string, planetId: string): Promise<void> {
  client.send({ type: 'join_viewer', planetId, userId });
  await client.until('ack');
}

const cam = (x: number) => ({ position: [x, 0, 0] as [number, number, number] });
const relay = (userId: string, planetId: string, x: number) => ({
  type: 'camera',
  planetId,
  userId,
  camera: cam(x),
});
const _sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('rate budgets over the wire', () => {
  it('answers the frame past the budget with RATE_LIMITED, its rid and retryAfterMs, and recovers', async () => {
    const s = await server({ core: { rateLimitMax: 5, rateLimitWindowMs: 1000 } });
    const alice = await joined(s.url, 'alice');
    // The join was frame 1; four heartbeats fill the budget, the fifth is frame 6.
    for (let i = 1; i <= 5; i++) alice.send({ type: 'heartbeat', userId: 'alice', ts: i, rid: `h${i}` });
    for (let i = 1; i <= 4; i++)
      expect(await alice.next('ack')).toMatchObject({ op: 'heartbeat', rid: `h${i}` });
    const limited = await alice.next('error');
    expect(limited).toEqual({
      type: 'error',
      op: 'heartbeat',
      ok: false,
      code: 'RATE_LIMITED',
      message: expect.any(String),
      rid: 'h5',
      retryAfterMs: expect.any(Number),
    });
    expect(limited.retryAfterMs).toBeGreaterThan(0);
    expect(limited.retryAfterMs).toBeLessThanOrEqual(1000);

    // A client that waits as told is accepted again on the same connection.
    await alice.quiet(limited.retryAfterMs! + 20);
    alice.send({ type: 'heartbeat', userId: 'alice', ts: 6, rid: 'h6' });
    expect(await alice.next('ack')).toMatchObject({ op: 'heartbeat', rid: 'h6', ts: 6 });
  });

  it('closes with 1008 a connection that sends more than 3 × the budget in one window', async () => {
    const s = await server({ core: { rateLimitMax: 5, rateLimitWindowMs: 1000 } });
    const bob = await joined(s.url, 'bob');
    const alice = await joined(s.url, 'alice');
    await bob.next('presence');
    // join + 14 heartbeats = 15 frames: exactly 3 × 5, limited but not closed.
    for (let i = 1; i <= 14; i++) alice.send({ type: 'heartbeat', userId: 'alice', ts: i });
    const answers: ServerMessage[] = [];
    for (let i = 0; i < 14; i++) answers.push(await alice.next());
    expect(answers.filter((m) => m.type === 'ack')).toHaveLength(4);
    expect(answers.filter((m) => m.type === 'error' && m.code === 'RATE_LIMITED')).toHaveLength(10);
    expect(alice.ws.readyState).toBe(alice.ws.OPEN);

    alice.send({ type: 'heartbeat', userId: 'alice', ts: 15 });
    expect((await alice.closed()).code).toBe(1008);
    expect((await bob.next('presence')).users.map((u) => u.userId)).toEqual(['bob']);
  });

  it('coalesces camera frames past the camera rate without errors and still relays the last one', async () => {
    const s = await server({ core: { cameraRateMax: 5, cameraMinIntervalMs: 0 } });
    const [alice, bob] = await room(s.url, ['alice', 'bob']);
    await view(alice!, 'alice', 'p');
    await view(bob!, 'bob', 'p');
    const sentAt = Date.now();
    for (let x = 0; x < 8; x++)
      alice!.send({ type: 'camera', planetId: 'p', userId: 'alice', camera: cam(x) });
    for (let x = 0; x < 5; x++) expect(await bob!.next()).toEqual(relay('alice', 'p', x));
    // The sixth to eighth are over the rate: only the latest goes, once the one-second budget allows.
    expect(await bob!.next()).toEqual(relay('alice', 'p', 7));
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(900);
    await Promise.all([bob!.quiet(150), alice!.quiet(0)]);
  });

  it('closes with 1008 a connection that sends more than 10 × the camera rate in one second', async () => {
    const s = await server({ core: { cameraRateMax: 5 } });
    const [alice, bob] = await room(s.url, ['alice', 'bob']);
    await view(alice!, 'alice', 'p');
    for (let x = 0; x < 50; x++)
      alice!.send({ type: 'camera', planetId: 'p', userId: 'alice', camera: cam(x) });
    await alice!.quiet(100);
    alice!.send({ type: 'camera', planetId: 'p', userId: 'alice', camera: cam(50) });
    expect((await alice!.closed()).code).toBe(1008);
    expect((await bob!.next('presence')).users.map((u) => u.userId)).toEqual(['bob']);
  });
});

describe('slow readers over the wire', () => {
  // A host server we create ourselves, so the test can see the server side of each TCP connection
  // and know when the server is really buffering for a paused client (loopback kernels absorb
  // megabytes before the adapter's own buffer grows).
  async function hosted(options: ExoServerOptions) {
    const sockets: Socket[] = [];
    const host: Server = createServer();
    host.on('connection', (socket) => sockets.push(socket));
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
    const exo = await createExoServer({ ...options, server: host });
    cleanups.push(async () => {
      await exo.close();
      host.closeAllConnections();
      await new Promise((resolve) => host.close(resolve));
    });
    const url = `ws://127.0.0.1:${(host.address() as AddressInfo).port}/`;
    /** Bytes the server holds in user space for this client's connection. */
    const buffered = (client: TestClient) => {
      const port = rawSocket(client).localPort;
      return sockets.find((s) => s.remotePort === port)?.writableLength ?? 0;
    };
    return { url, buffered };
  }

  // The ws client offers no way to stop reading; pausing its TCP socket is what a slow reader does.
  const rawSocket = (client: TestClient) => (client.ws as unknown as { _socket: Socket })._socket;

  // Big profiles make every presence message a few KiB, so the buffer fills in few updates.
  const profile = (userId: string, n = 0) => ({
    userId,
    name: `${userId} ${n}`.padEnd(60, '~'),
    avatarUrl: `https://example.com/${'a'.repeat(480)}`,
  });
  const core = { rateLimitMax: 1_000_000, cameraRateMax: 10_000, cameraMinIntervalMs: 0 };

  /** Profile updates from `sender`, in batches, until `done()`; returns how many were sent. */
  async function pump(sender: TestClient, userId: string, from: number, done: () => boolean) {
    let n = from;
    for (let batch = 0; batch < 200 && !done(); batch++) {
      for (let i = 0; i < 100; i++) {
        n++;
        sender.send({ type: 'join', roomId: 'room', user: profile(userId, n), rid: n });
      }
      for (;;) {
        const m = await sender.next();
        if (m.type === 'ack' && m.rid === n) break;
      }
    }
    expect(done()).toBe(true);
    return n;
  }

  const presenceSeqs = (messages: ServerMessage[]) =>
    messages.flatMap((m) => (m.type === 'presence' ? [m.seq] : []));
  const increasing = (seqs: number[]) => seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]!);

  it('holds camera relays past the soft limit and sends the latest of each sender once drained', async () => {
    const { url, buffered } = await hosted({
      core,
      sendSoftLimitBytes: 2048,
      sendHardLimitBytes: 256 * 1024 * 1024,
    });
    const [slow, normal, a, b] = await room(url, ['slow', 'normal', 'a', 'b'], (u) => ({ user: profile(u) }));
    for (const [c, userId] of [
      [slow!, 'slow'],
      [normal!, 'normal'],
      [a!, 'a'],
      [b!, 'b'],
    ] as const) {
      await view(c, userId, 'p');
    }

    rawSocket(slow!).pause();
    const updates = await pump(a!, 'a', 0, () => buffered(slow!) > 64 * 1024);
    for (let x = 1; x <= 3; x++) a!.send({ type: 'camera', planetId: 'p', userId: 'a', camera: cam(x) });
    for (let x = 11; x <= 12; x++) b!.send({ type: 'camera', planetId: 'p', userId: 'b', camera: cam(x) });
    // The normal reader keeps receiving every relay meanwhile.
    const relayed: ServerMessage[] = [];
    while (relayed.length < 5) {
      const m = await normal!.next();
      if (m.type === 'camera') relayed.push(m);
    }
    expect(relayed.filter((m) => m.type === 'camera' && m.userId === 'a')).toEqual(
      [1, 2, 3].map((x) => relay('a', 'p', x)),
    );
    expect(relayed.filter((m) => m.type === 'camera' && m.userId === 'b')).toEqual(
      [11, 12].map((x) => relay('b', 'p', x)),
    );
    // A state message after the cameras still goes to the slow reader, in order.
    const last = updates + 1;
    a!.send({ type: 'join', roomId: 'room', user: profile('a', last), rid: last });
    await a!.until('ack');

    rawSocket(slow!).resume();
    const got: ServerMessage[] = [];
    const finalName = profile('a', last).name;
    const complete = () =>
      got.filter((m) => m.type === 'camera').length >= 2 &&
      got.some((m) => m.type === 'presence' && m.users.some((u) => u.name === finalName));
    while (!complete()) got.push(await slow!.next());
    await slow!.quiet(150);

    const cameras = got.filter((m) => m.type === 'camera');
    expect(cameras).toHaveLength(2);
    expect(cameras).toEqual(expect.arrayContaining([relay('a', 'p', 3), relay('b', 'p', 12)]));
    const seqs = presenceSeqs(got);
    expect(seqs).toHaveLength(last);
    expect(increasing(seqs)).toBe(true);
    expect(slow!.ws.readyState).toBe(slow!.ws.OPEN);
  });

  it('drops a held relay from a viewer who left, so it never follows the snapshot without them', async () => {
    const { url, buffered } = await hosted({
      core,
      sendSoftLimitBytes: 2048,
      sendHardLimitBytes: 256 * 1024 * 1024,
    });
    const [slow, a, b] = await room(url, ['slow', 'a', 'b'], (u) => ({ user: profile(u) }));
    for (const [c, userId] of [
      [slow!, 'slow'],
      [a!, 'a'],
      [b!, 'b'],
    ] as const) {
      await view(c, userId, 'p');
    }
    rawSocket(slow!).pause();
    await pump(a!, 'a', 0, () => buffered(slow!) > 64 * 1024);
    a!.send({ type: 'camera', planetId: 'p', userId: 'a', camera: cam(1) });
    b!.send({ type: 'camera', planetId: 'p', userId: 'b', camera: cam(2) });
    expect((await a!.until('camera')).at(-1)).toEqual(relay('b', 'p', 2));
    b!.send({ type: 'leave_viewer', planetId: 'p', userId: 'b', rid: 'bye' });
    await b!.until('ack');

    rawSocket(slow!).resume();
    const got: ServerMessage[] = [];
    while (!got.some((m) => m.type === 'viewer_cameras')) got.push(await slow!.next());
    const snapshot = got.find((m) => m.type === 'viewer_cameras');
    expect(snapshot).toMatchObject({ planetId: 'p', cameras: { a: cam(1) } });
    // a still views: its held relay follows; b's must never come.
    got.push(...(await slow!.until('camera')));
    await slow!.quiet(200);
    expect(got.filter((m) => m.type === 'camera')).toEqual([relay('a', 'p', 1)]);
  });

  it('closes a reader past the hard limit with 1013, its user leaving, while others keep receiving', async () => {
    const { url } = await hosted({ core, sendSoftLimitBytes: 2048, sendHardLimitBytes: 64 * 1024 });
    // The slow reader joins first, so it comes first among each broadcast's recipients.
    const [slow, normal, a] = await room(url, ['slow', 'normal', 'a'], (u) => ({ user: profile(u) }));
    slow!.send({ type: 'select', planetId: 'p', userId: 'slow' });
    await slow!.until('ack');
    await normal!.next('selection_state');
    await a!.next('selection_state');

    rawSocket(slow!).pause();
    const seen: ServerMessage[] = [];
    let gone = false;
    const watching = (async () => {
      while (!gone) {
        const m = await normal!.next();
        seen.push(m);
        if (m.type === 'presence' && !m.users.some((u) => u.userId === 'slow')) gone = true;
      }
    })();
    const sent = await pump(a!, 'a', 0, () => gone);
    await watching;
    // The leave also released the slow user's lock, in the same step.
    expect(await normal!.next('selection_state')).toMatchObject({ selected: {} });
    // One more update marks the end; every presence the normal reader got up to it, including those
    // broadcast around the close, is in the order the steps were applied.
    const marker = profile('a', sent + 1);
    a!.send({ type: 'join', roomId: 'room', user: marker });
    for (;;) {
      const m = await normal!.next();
      seen.push(m);
      if (m.type === 'presence' && m.users.some((u) => u.name === marker.name)) break;
    }
    expect(increasing(presenceSeqs(seen))).toBe(true);

    rawSocket(slow!).resume();
    expect((await slow!.closed()).code).toBe(1013);
  });
});

describe('upgrade checks over the wire', () => {
  it('refuses a foreign Origin with 403 and lets an allowed or absent Origin through', async () => {
    const s = await server({ allowedOrigins: ['https://app.example:8443'] });
    await expect(connect(s.url, undefined, { Origin: 'https://evil.example' })).rejects.toThrow('HTTP 403');
    await expect(connect(s.url, undefined, { Origin: 'https://app.example' })).rejects.toThrow('HTTP 403');
    const allowed = await connect(s.url, undefined, { Origin: 'https://app.example:8443' });
    expect(allowed.ws.readyState).toBe(allowed.ws.OPEN);
    const tool = await connect(s.url);
    expect(tool.ws.readyState).toBe(tool.ws.OPEN);
  });

  it('refuses the connection past maxConnections with 503 and accepts again after one closes', async () => {
    const s = await server({ maxConnections: 2 });
    const first = await connect(s.url);
    await connect(s.url);
    await expect(connect(s.url)).rejects.toThrow('HTTP 503');
    first.close();
    await first.closed();
    await eventually(() => expect(s.connections).toBe(1));
    await connect(s.url);
  });

  it('refuses a second connection from one address with 429, counting X-Forwarded-For apart with trustProxy', async () => {
    const direct = await server({ maxConnectionsPerIp: 1 });
    await connect(direct.url);
    await expect(connect(direct.url)).rejects.toThrow('HTTP 429');

    const proxied = await server({ maxConnectionsPerIp: 1, trustProxy: 1 });
    const forwarded = (chain: string) => connect(proxied.url, undefined, { 'X-Forwarded-For': chain });
    await forwarded('10.0.0.1');
    await forwarded('10.0.0.2');
    // Only the entry the proxy added (the rightmost) counts: a client cannot spoof its way in.
    await forwarded('10.0.0.9, 10.0.0.3');
    await expect(forwarded('10.0.0.1')).rejects.toThrow('HTTP 429');
    await expect(forwarded('10.0.0.8, 10.0.0.2')).rejects.toThrow('HTTP 429');
  });

  it('refuses with 401 when authenticate returns null', async () => {
    const s = await server({ authenticate: async () => null });
    await expect(connect(s.url)).rejects.toThrow('HTTP 401');
    expect(s.connections).toBe(0);
  });

  it('binds an authenticated connection to its user: another userId is FORBIDDEN, its own joins', async () => {
    const s = await server({ authenticate: async () => ({ userId: 'alice' }) });
    const c = await connect(s.url);
    c.send({ type: 'join', roomId: 'room', user: { userId: 'bob' }, rid: 'b' });
    expect(await c.next()).toEqual({
      type: 'error',
      op: 'join',
      ok: false,
      code: 'FORBIDDEN',
      message: expect.any(String),
      rid: 'b',
    });
    c.send({ type: 'join', roomId: 'room', user: { userId: 'alice' }, rid: 'a' });
    expect((await c.until('ack')).at(-1)).toMatchObject({ op: 'join', ok: true, rid: 'a' });

    // A credential for the user is enough to take it over, without the resumeToken.
    const again = await connect(s.url);
    again.send({ type: 'join', roomId: 'room', user: { userId: 'alice' } });
    expect((await again.until('ack')).at(-1)).toMatchObject({ op: 'join', ok: true });
    expect(await c.next()).toMatchObject({ type: 'error', code: 'SESSION_REPLACED' });
    expect((await c.closed()).code).toBe(4001);
  });

  it('closes the connection with 4401 when its credential expires, and its user leaves', async () => {
    const s = await server({
      authenticate: async (req: IncomingMessage) => {
        const user = String(req.headers['x-user']);
        return user === 'alice' ? { userId: user, expiresAt: Date.now() + 300 } : { userId: user };
      },
    });
    const bob = await connect(s.url, undefined, { 'x-user': 'bob' });
    bob.send({ type: 'join', roomId: 'room', user: { userId: 'bob' } });
    await bob.until('ack');
    const connectedAt = Date.now();
    const alice = await connect(s.url, undefined, { 'x-user': 'alice' });
    alice.send({ type: 'join', roomId: 'room', user: { userId: 'alice' } });
    await alice.until('ack');
    expect((await bob.next('presence')).users.map((u) => u.userId)).toEqual(['bob', 'alice']);

    expect((await alice.closed()).code).toBe(4401);
    expect(Date.now() - connectedAt).toBeGreaterThanOrEqual(250);
    expect((await bob.next('presence')).users.map((u) => u.userId)).toEqual(['bob']);
    expect(bob.ws.readyState).toBe(bob.ws.OPEN);
  });

  it('runs the checks in order: origin, then the connection cap, then the per-IP cap, then auth', async () => {
    const capped = await server({ allowedOrigins: ['https://app.example'], maxConnections: 1 });
    await connect(capped.url);
    await expect(connect(capped.url, undefined, { Origin: 'https://evil.example' })).rejects.toThrow(
      'HTTP 403',
    );
    await expect(connect(capped.url, undefined, { Origin: 'https://app.example' })).rejects.toThrow(
      'HTTP 503',
    );

    const bothCaps = await server({ maxConnections: 1, maxConnectionsPerIp: 1 });
    await connect(bothCaps.url);
    await expect(connect(bothCaps.url)).rejects.toThrow('HTTP 503');

    let asked = 0;
    const authed = await server({
      maxConnectionsPerIp: 1,
      authenticate: async (req) => {
        asked++;
        return req.headers['x-user'] === undefined ? null : { userId: String(req.headers['x-user']) };
      },
    });
    await connect(authed.url, undefined, { 'x-user': 'alice' });
    await expect(connect(authed.url)).rejects.toThrow('HTTP 429');
    expect(asked).toBe(1);
  });
});
