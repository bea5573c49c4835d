// The transport rules of CONTRACT §1 and §2 over real sockets: the size limit (1009, also after
// reassembly of fragments), the decode checks and their order against the binding check, `rid`
// echoed on errors, the join timeout (4002), ping liveness versus presence, a closed socket
// counting as leave, and permessage-deflate off unless asked for.

import type { IncomingMessage } from 'node:http';
import type { ServerMessage } from '@exo/protocol';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connect, joined, serverPerTest } from '../test/kit.js';

const server = serverPerTest();

/** A frame of exactly `bytes` bytes: an unknown type, so a frame within the limit is answered. */
function frameOfSize(bytes: number): string {
  const head = '{"type":"chat","pad":"';
  const tail = '"}';
  return head + 'x'.repeat(bytes - head.length - tail.length) + tail;
}

function sendFragmented(ws: WebSocket, text: string, pieces: number): void {
  const size = Math.ceil(text.length / pieces);
  for (let i = 0; i < text.length; i += size) {
    ws.send(text.slice(i, i + size), { fin: i + size >= text.length });
  }
}

function usersOf(message: Extract<ServerMessage, { type: 'presence' }>): string[] {
  return message.users.map((u) => u.userId);
}

describe('the message size limit', () => {
  it('answers a frame of exactly maxMessageBytes and closes with 1009 on one byte more', async () => {
    const s = await server({ maxMessageBytes: 256 });
    const client = await connect(s.url);
    client.send(frameOfSize(256));
    expect(await client.next('error')).toMatchObject({ code: 'UNKNOWN_TYPE' });
    client.send(frameOfSize(257));
    expect((await client.closed()).code).toBe(1009);
  });

  it('closes with 1009 when fragments that are each small add up to more than maxMessageBytes', async () => {
    const s = await server({ maxMessageBytes: 256 });
    const client = await connect(s.url);
    sendFragmented(client.ws, frameOfSize(300), 3);
    expect((await client.closed()).code).toBe(1009);
  });

  it('reassembles a fragmented frame within the limit and answers it', async () => {
    const s = await server({ maxMessageBytes: 256 });
    const client = await connect(s.url);
    sendFragmented(client.ws, JSON.stringify({ type: 'join', roomId: 'room', user: { userId: 'ann' } }), 4);
    expect((await client.until('ack')).at(-1)).toMatchObject({ op: 'join', ok: true });
  });

  it('makes the user of an oversized frame leave at once', async () => {
    const s = await server({ maxMessageBytes: 256 });
    const ann = await joined(s.url, 'ann');
    const bob = await joined(s.url, 'bob');
    expect(usersOf(await ann.next('presence'))).toEqual(['ann', 'bob']);
    bob.send(frameOfSize(1000));
    expect((await bob.closed()).code).toBe(1009);
    expect(usersOf(await ann.next('presence'))).toEqual(['ann']);
  });
});

describe('decoding a frame', () => {
  it('answers BAD_JSON to a text frame that is not JSON', async () => {
    const s = await server();
    const client = await connect(s.url);
    client.send('{"type": "join"');
    const error = await client.next('error');
    expect(Object.keys(error).sort()).toEqual(['code', 'message', 'ok', 'type']);
    expect(error).toMatchObject({ type: 'error', ok: false, code: 'BAD_JSON' });
    expect(error.message).toMatch(/^not valid JSON: /);
  });

  it('closes with 1007 a text frame that is not valid UTF-8', async () => {
    const s = await server();
    const client = await connect(s.url);
    client.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect((await client.closed()).code).toBe(1007);
  });

  it('answers BAD_MESSAGE to a binary frame, even one holding valid JSON', async () => {
    const s = await server();
    const client = await connect(s.url);
    client.ws.send(Buffer.from(JSON.stringify({ type: 'join', roomId: 'room', user: { userId: 'ann' } })), {
      binary: true,
    });
    expect(await client.next('error')).toEqual({
      type: 'error',
      ok: false,
      code: 'BAD_MESSAGE',
      message: 'binary frames are not accepted: send JSON text frames',
    });
  });

  it.each([
    ['a JSON array', '[{"type":"join"}]', 'expected a JSON object'],
    ['a JSON string', '"join"', 'expected a JSON object'],
    ['null', 'null', 'expected a JSON object'],
    ['an object without type', '{"roomId":"room"}', 'type: expected a string naming the message type'],
    ['an object whose type is a number', '{"type":3}', 'type: expected a string naming the message type'],
  ])('answers BAD_MESSAGE without op to %s', async (_, frame, message) => {
    const s = await server();
    const client = await connect(s.url);
    client.send(frame);
    expect(await client.next('error')).toEqual({ type: 'error', ok: false, code: 'BAD_MESSAGE', message });
  });

  it('answers UNKNOWN_TYPE to an unknown type, before and after joining', async () => {
    const s = await server();
    const client = await connect(s.url);
    const expected = {
      type: 'error',
      ok: false,
      code: 'UNKNOWN_TYPE',
      message: "unknown message type 'chat'",
    };
    client.send({ type: 'chat', text: 'hi' });
    expect(await client.next('error')).toEqual(expected);
    client.send({ type: 'join', roomId: 'room', user: { userId: 'ann' } });
    await client.until('ack');
    client.send({ type: 'chat', text: 'hi' });
    expect(await client.next('error')).toEqual(expected);
  });

  it.each([
    [
      'an unknown key in a nested object',
      { type: 'join', roomId: 'room', user: { userId: 'ann', mood: 'happy' } },
      'join',
      "unknown key 'mood' at user",
    ],
    ['an unknown top-level key', { type: 'leave', userId: 'ann', extra: 1 }, 'leave', "unknown key 'extra'"],
    [
      'a non-finite camera coordinate',
      { type: 'camera', planetId: 'p', userId: 'ann', camera: { position: [0, '1', 2] } },
      'camera',
      /^camera\.position\[1\]: /,
    ],
    ['a missing heartbeat ts', { type: 'heartbeat', userId: 'ann' }, 'heartbeat', /^ts: /],
  ])('answers BAD_MESSAGE naming the path to %s', async (_, frame, op, message) => {
    const s = await server();
    const client = await connect(s.url);
    client.send(frame);
    const error = await client.next('error');
    expect(error).toMatchObject({ type: 'error', ok: false, code: 'BAD_MESSAGE', op });
    expect(error.message).toMatch(message);
  });
});

describe('the order of the checks', () => {
  it('answers UNKNOWN_TYPE, not NOT_JOINED, to an unknown type from an unjoined client', async () => {
    const s = await server();
    const client = await connect(s.url);
    client.send({ type: 'shout', userId: 'ann' });
    expect(await client.next('error')).toMatchObject({ code: 'UNKNOWN_TYPE' });
  });

  it('answers BAD_MESSAGE, not NOT_JOINED, to a badly shaped select before join', async () => {
    const s = await server();
    const client = await connect(s.url);
    client.send({ type: 'select', planetId: 'p', userId: 'ann', colour: 'red' });
    expect(await client.next('error')).toEqual({
      type: 'error',
      ok: false,
      op: 'select',
      code: 'BAD_MESSAGE',
      message: "unknown key 'colour'",
    });
    client.send({ type: 'select', planetId: 'p', userId: 'ann' });
    expect(await client.next('error')).toEqual({
      type: 'error',
      ok: false,
      op: 'select',
      code: 'NOT_JOINED',
      message: 'send join before select',
    });
  });

  it('keeps the connection usable after every kind of rejected frame', async () => {
    const s = await server();
    const client = await connect(s.url);
    client.send('nope');
    client.ws.send(Buffer.from('{}'), { binary: true });
    client.send('[]');
    client.send({ type: 'chat' });
    client.send({ type: 'join', roomId: 'room' });
    client.send({ type: 'heartbeat', userId: 'ann', ts: 1 });
    const codes = [];
    for (let i = 0; i < 6; i++) codes.push((await client.next('error')).code);
    expect(codes).toEqual([
      'BAD_JSON',
      'BAD_MESSAGE',
      'BAD_MESSAGE',
      'UNKNOWN_TYPE',
      'BAD_MESSAGE',
      'NOT_JOINED',
    ]);
    client.send({ type: 'join', roomId: 'room', user: { userId: 'ann' }, rid: 'j' });
    expect((await client.until('ack')).at(-1)).toMatchObject({ op: 'join', ok: true, rid: 'j' });
    client.send({ type: 'heartbeat', userId: 'ann', ts: 5, rid: 'h' });
    expect(await client.next('ack')).toMatchObject({ op: 'heartbeat', ts: 5, rid: 'h' });
  });
});

describe('rid on errors', () => {
  it.each([
    ['BAD_MESSAGE without a type', { rid: 7 }, 'BAD_MESSAGE', 7],
    ['UNKNOWN_TYPE', { type: 'chat', rid: 'r-1' }, 'UNKNOWN_TYPE', 'r-1'],
    ['BAD_MESSAGE of a known type', { type: 'select', planetId: 'p', rid: 8 }, 'BAD_MESSAGE', 8],
    ['NOT_JOINED', { type: 'select', planetId: 'p', userId: 'ann', rid: 'sel' }, 'NOT_JOINED', 'sel'],
  ])('echoes rid on %s', async (_, frame, code, rid) => {
    const s = await server();
    const client = await connect(s.url);
    client.send(frame);
    expect(await client.next('error')).toMatchObject({ code, rid });
  });

  it('echoes rid on a domain error of a joined client', async () => {
    const s = await server();
    const client = await joined(s.url, 'ann');
    client.send({ type: 'unselect', planetId: 'p', userId: 'ann', rid: 99 });
    expect(await client.next('error')).toMatchObject({ op: 'unselect', code: 'NOT_SELECTED', rid: 99 });
  });
});

describe('the join timeout', () => {
  it('closes a connection that never joins with 4002 after joinTimeoutMs', async () => {
    const s = await server({ core: { joinTimeoutMs: 200 } });
    const connecting = Date.now();
    const client = await connect(s.url);
    expect(await client.closed()).toEqual({ code: 4002, reason: 'no join in time' });
    expect(Date.now() - connecting).toBeGreaterThanOrEqual(195);
  });

  it('leaves a joined connection open and restarts the timer after leave', async () => {
    const s = await server({ core: { joinTimeoutMs: 300 } });
    const client = await joined(s.url, 'ann');
    await client.quiet(450);
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
    const leaving = Date.now();
    client.send({ type: 'leave', userId: 'ann' });
    await client.next('ack');
    expect(await client.closed()).toEqual({ code: 4002, reason: 'no join in time' });
    expect(Date.now() - leaving).toBeGreaterThanOrEqual(295);
  });
});

function within<T>(promise: Promise<T>, what: string, ms = 3000): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms),
    ),
  ]);
}

/** A client that joins but never answers pings (ws 8's autoPong: false). */
async function silentMember(
  url: string,
  userId: string,
): Promise<{ ws: WebSocket; closed: Promise<number> }> {
  const ws = new WebSocket(url, { autoPong: false });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const acked = new Promise<void>((resolve) =>
    ws.on('message', (data) => {
      if ((JSON.parse(data.toString()) as ServerMessage).type === 'ack') resolve();
    }),
  );
  ws.send(JSON.stringify({ type: 'join', roomId: 'room', user: { userId } }));
  await within(acked, `the join ack of ${userId}`);
  return { ws, closed };
}

describe('ping liveness', () => {
  it('keeps a client that answers pings', async () => {
    const s = await server({ pingIntervalMs: 100 });
    const client = await joined(s.url, 'ann');
    await client.quiet(450);
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
    client.send({ type: 'heartbeat', userId: 'ann', ts: 1 });
    expect(await client.next('ack')).toMatchObject({ op: 'heartbeat', ts: 1 });
  });

  it('terminates a client that stops answering pings, and its user leaves', async () => {
    const s = await server({ pingIntervalMs: 100 });
    const ann = await joined(s.url, 'ann');
    const bob = await silentMember(s.url, 'bob');
    expect(usersOf(await ann.next('presence'))).toEqual(['ann', 'bob']);
    // Terminated, not closed: the client sees no close frame.
    expect(await within(bob.closed, 'the silent client to be terminated')).toBe(1006);
    expect(usersOf(await ann.next('presence'))).toEqual(['ann']);
    expect(ann.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('does not count pongs as the user being seen: an idle user expires with 4008', async () => {
    const s = await server({ pingIntervalMs: 100, core: { presenceTimeoutMs: 400 } });
    const joining = Date.now();
    const client = await joined(s.url, 'ann');
    expect(await client.closed()).toEqual({ code: 4008, reason: 'presence expired' });
    expect(Date.now() - joining).toBeGreaterThanOrEqual(395);
  });
});

describe('a closed socket', () => {
  it('counts as leave at once when the client closes', async () => {
    const s = await server({ core: { reconnectGraceMs: 0 } });
    const ann = await joined(s.url, 'ann');
    const bob = await joined(s.url, 'bob');
    expect(usersOf(await ann.next('presence'))).toEqual(['ann', 'bob']);
    bob.close(1000);
    expect(usersOf(await ann.next('presence'))).toEqual(['ann']);
  });

  it('counts as leave at once when the connection drops without a close frame', async () => {
    const s = await server();
    const ann = await joined(s.url, 'ann');
    const bob = await joined(s.url, 'bob');
    expect(usersOf(await ann.next('presence'))).toEqual(['ann', 'bob']);
    bob.ws.terminate();
    expect(usersOf(await ann.next('presence'))).toEqual(['ann']);
  });
});

/** Opens a plain ws client, which offers permessage-deflate, and keeps the handshake response. */
async function handshake(url: string): Promise<{ ws: WebSocket; response: IncomingMessage }> {
  const ws = new WebSocket(url);
  const response = new Promise<IncomingMessage>((resolve) => ws.once('upgrade', resolve));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return { ws, response: await response };
}

describe('permessage-deflate', () => {
  it('is off by default even when the client offers it', async () => {
    const s = await server();
    const { ws, response } = await handshake(s.url);
    expect(response.headers['sec-websocket-extensions']).toBeUndefined();
    expect(ws.extensions).toBe('');
  });

  it('is negotiated with compression: true, and messages still flow', async () => {
    const s = await server({ compression: true });
    const { ws, response } = await handshake(s.url);
    expect(response.headers['sec-websocket-extensions']).toMatch(/^permessage-deflate/);
    expect(ws.extensions).toBe('permessage-deflate');
    const client = await connect(s.url);
    client.send({ type: 'join', roomId: 'room', user: { userId: 'ann' } });
    expect((await client.until('ack')).at(-1)).toMatchObject({ op: 'join', ok: true });
  });
});
