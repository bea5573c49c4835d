// The daemon as a process (CONTRACT §9): `node apps/ws-server/dist/main.js` (built by
// global-setup.ts) on ports 0, found through its JSON `listening` log line. Every stdout line is one
// JSON object; a bad variable stops start-up with exit code 1 and a message naming it; SIGTERM and
// SIGINT stop accepting, turn /ready to 503, close sockets with 1001 and exit 0 within 10 s.

import { randomBytes } from 'node:crypto';
import { type Socket, connect as tcpConnect } from 'node:net';
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { expectJsonLines, killDaemons, startDaemon, within } from './daemon-kit.js';
import { connect } from './kit.js';

const SHUTDOWN_LIMIT_MS = 10_000;

afterEach(killDaemons);

/**
 * A WebSocket client written by hand on a raw TCP socket: it completes the handshake, then never
 * answers anything, so the server's close frame stays unanswered and the drain stays in progress.
 */
function mute(port: number): {
  socket: Socket;
  upgraded: Promise<void>;
  closeFrame: Promise<{ code: number; reason: string }>;
} {
  const socket = tcpConnect(port, '127.0.0.1');
  socket.write(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  let received = Buffer.alloc(0);
  let onUpgraded: () => void = () => {};
  const upgraded = new Promise<void>((resolve) => {
    onUpgraded = resolve;
  });
  const closeFrame = new Promise<{ code: number; reason: string }>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      const status = received.subarray(0, received.indexOf('\r\n')).toString();
      if (!status.startsWith('HTTP/1.1 101')) return reject(new Error(`handshake refused: ${status}`));
      onUpgraded();
      const frame = received.subarray(end + 4);
      // A server frame is unmasked; a close frame's payload is a 2-byte code and a short reason.
      if (frame.length < 2 || frame.length < 2 + (frame[1]! & 0x7f)) return;
      if (frame[0] !== 0x88) return reject(new Error(`expected a close frame, got opcode ${frame[0]}`));
      resolve({ code: frame.readUInt16BE(2), reason: frame.subarray(4, 2 + frame[1]!).toString() });
    });
    socket.on('error', reject);
  });
  closeFrame.catch(() => {});
  return { socket, upgraded: within(upgraded, 'the hand-made handshake'), closeFrame };
}

describe('the daemon', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    'serves /health, logs JSON lines only, and on %s closes clients with 1001 and exits 0',
    async (signal) => {
      const daemon = startDaemon({ LOG_LEVEL: 'debug' });
      const { wsPort, healthPort } = await daemon.listening();
      const health = await fetch(`http://127.0.0.1:${healthPort}/health`);
      expect(health.status).toBe(200);
      expect(await health.text()).toBe('{"ok":true}');
      expect((await fetch(`http://127.0.0.1:${healthPort}/ready`)).status).toBe(200);

      const client = await connect(`ws://127.0.0.1:${wsPort}/room?token=do-not-log-me`);
      client.send({ type: 'join', roomId: 'room', user: { userId: 'ann' } });
      await client.until('ack');

      const signalled = Date.now();
      daemon.child.kill(signal);
      expect(await client.closed()).toEqual({ code: 1001, reason: 'server shutting down' });
      expect(await within(daemon.exited, 'the daemon to exit', SHUTDOWN_LIMIT_MS)).toEqual({
        code: 0,
        signal: null,
      });
      expect(Date.now() - signalled).toBeLessThan(SHUTDOWN_LIMIT_MS);

      const messages = expectJsonLines(daemon.lines).map((entry) => entry.msg);
      expect(messages).toEqual(
        expect.arrayContaining(['listening', 'connection open', 'shutting down', 'stopped']),
      );
      expect(daemon.lines.join('\n')).not.toContain('do-not-log-me');
    },
  );

  it('while draining answers /ready with 503, refuses new connections with 503 and keeps /health', async () => {
    const daemon = startDaemon();
    const { wsPort, healthPort } = await daemon.listening();
    const held = mute(wsPort);
    await held.upgraded;

    daemon.child.kill('SIGTERM');
    expect(await within(held.closeFrame, 'the close frame')).toEqual({
      code: 1001,
      reason: 'server shutting down',
    });
    const ready = await fetch(`http://127.0.0.1:${healthPort}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ ok: false, reason: 'draining' });
    expect((await fetch(`http://127.0.0.1:${healthPort}/health`)).status).toBe(200);
    await expect(connect(`ws://127.0.0.1:${wsPort}/`)).rejects.toThrow('HTTP 503');

    held.socket.destroy();
    expect(await within(daemon.exited, 'the daemon to exit', SHUTDOWN_LIMIT_MS)).toEqual({
      code: 0,
      signal: null,
    });
  });

  it.each([
    ['MAX_ROOM_USERS', 'abc', 'MAX_ROOM_USERS accepts a whole number from 1 to any size'],
    ['LOCK_TTL_MS', '10', 'LOCK_TTL_MS accepts a whole number from 1000 to any size'],
    ['SELECTION_MODE', 'first-come', 'SELECTION_MODE accepts one of: exclusive, shared'],
  ])('refuses %s=%s: exit code 1 and a message naming the variable', async (name, value, accepts) => {
    const daemon = startDaemon({ [name]: value });
    expect(await within(daemon.exited, 'the daemon to exit')).toEqual({ code: 1, signal: null });
    const reason = `${name}=${JSON.stringify(value)} is invalid: ${accepts}`;
    expect(daemon.stderr()).toBe(`exo-realtime: invalid configuration: ${reason}\n`);
    const entries = expectJsonLines(daemon.lines);
    expect(entries).toEqual([
      expect.objectContaining({ level: 60, msg: `invalid configuration: ${reason}` }),
    ]);
  });

  it('verifies JWTs from AUTH_JWT_SECRET, _ISSUER and _AUDIENCE on the upgrade, and says so at start-up', async () => {
    const secret = 'a-daemon-secret-of-at-least-32-bytes';
    const daemon = startDaemon({
      AUTH_JWT_SECRET: secret,
      AUTH_JWT_ISSUER: 'archive',
      AUTH_JWT_AUDIENCE: 'exo',
    });
    const { wsPort } = await daemon.listening();
    const url = `ws://127.0.0.1:${wsPort}/`;
    const claims = { sub: 'ann', iss: 'archive', aud: 'exo', exp: Math.floor(Date.now() / 1000) + 60 };
    const sign = (c: Record<string, unknown>) =>
      new SignJWT(c).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));
    const outcome = (target: string) =>
      connect(target).then(
        () => 'open',
        (err: Error) => err.message,
      );
    expect(await outcome(url)).toBe('HTTP 401');
    expect(await outcome(`${url}?token=${await sign({ ...claims, aud: 'elsewhere' })}`)).toBe('HTTP 401');
    expect(await outcome(`${url}?token=${await sign({ ...claims, iss: 'elsewhere' })}`)).toBe('HTTP 401');
    const client = await connect(`${url}?token=${await sign(claims)}`);
    client.send({ type: 'join', roomId: 'r', user: { userId: 'bob' } });
    expect(await client.next('error')).toMatchObject({ code: 'FORBIDDEN' });
    const messages = expectJsonLines(daemon.lines).map((entry) => entry.msg);
    expect(messages).toContain('JWT authentication is on');
    expect(messages).not.toContain(expect.stringContaining('authentication is off'));
    expect(daemon.lines.join('\n')).not.toContain(secret);
  });

  it('warns at start-up when authentication is off', async () => {
    const daemon = startDaemon();
    await daemon.listening();
    const warnings = expectJsonLines(daemon.lines).filter((entry) => entry.level === 40);
    expect(warnings.map((entry) => entry.msg)).toEqual([
      'authentication is off: any client may join as any user (set AUTH_JWT_SECRET or AUTH_JWT_PUBLIC_KEY)',
    ]);
  });

  it('refuses to start when REDIS_URL cannot be reached: exit code 1 and a message naming Redis', async () => {
    const daemon = startDaemon({ REDIS_URL: 'redis://:secret@127.0.0.1:1' });
    expect(await within(daemon.exited, 'the daemon to exit')).toEqual({ code: 1, signal: null });
    expect(daemon.stderr()).toMatch(/^exo-realtime: cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1/);
    expect(daemon.stderr()).not.toContain('secret');
    expectJsonLines(daemon.lines);
  });
});
