// Rooms over real sockets (CONTRACT §3, §4): the adapter must deliver what the core decides in the
// core's order — every state message before the sender's answer — and turn the core's closes and
// the sockets' own closes into the right membership changes (takeover 4001, grace, clean close).

import type { AckMessage, ServerMessage } from '@exo/protocol';
import { describe, expect, it } from 'vitest';
import { connect, eventually, joined, serverPerTest, type TestClient } from '../test/kit.js';

const server = serverPerTest();

/** Joins on a new socket and returns the client with its join ack (the ack carries the resumeToken). */
async function join(url: string, userId: string, extra: object = {}, roomId = 'room') {
  const client = await connect(url);
  client.send({ type: 'join', roomId, user: { userId }, ...extra });
  const taken = await client.until('ack');
  return { client, ack: taken.at(-1) as AckMessage };
}

/** Takes exactly `n` messages, in arrival order. */
async function take(client: TestClient, n: number): Promise<ServerMessage[]> {
  const taken: ServerMessage[] = [];
  for (let i = 0; i < n; i++) taken.push(await client.next());
  return taken;
}

const types = (messages: ServerMessage[]) => messages.map((m) => m.type);
const userIds = (m: ServerMessage) => (m.type === 'presence' ? m.users.map((u) => u.userId) : null);

describe('answer ordering over the wire', () => {
  it('sends presence, then selection_state, then the ack to a joiner, and only presence to the others', async () => {
    const s = await server();
    const alice = await joined(s.url, 'alice');
    const bob = await connect(s.url);
    bob.send({ type: 'join', roomId: 'room', user: { userId: 'bob' }, rid: 'j1' });
    const got = await take(bob, 3);
    expect(types(got)).toEqual(['presence', 'selection_state', 'ack']);
    expect(userIds(got[0]!)).toEqual(['alice', 'bob']);
    expect(got[1]).toEqual({ type: 'selection_state', selected: {}, seq: (got[0] as { seq: number }).seq });
    expect(got[2]).toEqual({
      type: 'ack',
      op: 'join',
      ok: true,
      rid: 'j1',
      resumeToken: expect.any(String),
      viewing: [],
    });
    expect(userIds(await alice.next('presence'))).toEqual(['alice', 'bob']);
    await Promise.all([alice.quiet(100), bob.quiet(0)]);
  });

  it('sends selection_state before the select ack, and the selection_state alone to the others', async () => {
    const s = await server();
    const alice = await joined(s.url, 'alice');
    const bob = await joined(s.url, 'bob');
    await alice.next('presence');
    const before = Date.now();
    alice.send({ type: 'select', planetId: 'kepler-22b', userId: 'alice', rid: 7 });
    const got = await take(alice, 2);
    expect(types(got)).toEqual(['selection_state', 'ack']);
    expect(got[0]).toMatchObject({ selected: { 'kepler-22b': ['alice'] } });
    const ack = got[1] as AckMessage;
    expect(ack).toEqual({
      type: 'ack',
      op: 'select',
      ok: true,
      rid: 7,
      expiresAt: expect.any(Number),
      fence: expect.any(Number),
    });
    expect(ack.fence).toBeGreaterThanOrEqual(before * 1000);
    expect(await bob.next('selection_state')).toEqual(got[0]);
    await Promise.all([alice.quiet(100), bob.quiet(0)]);
  });
});

describe('binding errors over the wire', () => {
  it('answers NOT_JOINED to anything but join before a join, and the socket stays usable', async () => {
    const s = await server();
    const c = await connect(s.url);
    c.send({ type: 'select', planetId: 'p', userId: 'alice', rid: 'r1' });
    expect(await c.next()).toEqual({
      type: 'error',
      op: 'select',
      ok: false,
      code: 'NOT_JOINED',
      message: expect.any(String),
      rid: 'r1',
    });
    c.send({ type: 'join', roomId: 'room', user: { userId: 'alice' }, rid: 'r2' });
    expect((await c.until('ack')).at(-1)).toMatchObject({ op: 'join', rid: 'r2' });
  });

  it('answers ALREADY_JOINED to a join to another room while bound', async () => {
    const s = await server();
    const alice = await joined(s.url, 'alice');
    alice.send({ type: 'join', roomId: 'other', user: { userId: 'alice' }, rid: 'x' });
    expect(await alice.next()).toEqual({
      type: 'error',
      op: 'join',
      ok: false,
      code: 'ALREADY_JOINED',
      message: expect.any(String),
      rid: 'x',
    });
    expect(s.engine.inspect().rooms.map((r) => r.roomId)).toEqual(['room']);
  });

  it('answers USER_MISMATCH to a frame or a join that speaks for another user', async () => {
    const s = await server();
    const alice = await joined(s.url, 'alice');
    alice.send({ type: 'select', planetId: 'p', userId: 'bob', rid: 1 });
    expect(await alice.next()).toEqual({
      type: 'error',
      op: 'select',
      ok: false,
      code: 'USER_MISMATCH',
      message: expect.any(String),
      rid: 1,
    });
    alice.send({ type: 'join', roomId: 'room', user: { userId: 'bob' }, rid: 2 });
    expect(await alice.next()).toMatchObject({ type: 'error', op: 'join', code: 'USER_MISMATCH', rid: 2 });
    expect(s.engine.inspect().rooms[0]!.members.map((m) => m.userId)).toEqual(['alice']);
  });
});

describe('profile updates over the wire', () => {
  it('replaces the profile whole, keeps joinedAt and the token, and tells the others only of a change', async () => {
    const s = await server();
    const first = await join(s.url, 'alice', { user: { userId: 'alice', name: 'A', color: '#ABCDEF' } });
    const alice = first.client;
    const bob = await joined(s.url, 'bob');
    const joinedAt = (await alice.next('presence')).users[0]!.joinedAt;

    alice.send({ type: 'join', roomId: 'room', user: { userId: 'alice', name: 'Alice', color: '#ABC' } });
    const got = await take(alice, 3);
    expect(types(got)).toEqual(['presence', 'selection_state', 'ack']);
    expect(got[2]).toMatchObject({ resumeToken: first.ack.resumeToken });
    const seen = await bob.next('presence');
    expect(seen).toEqual(got[0]);
    expect(seen.users[0]).toEqual({
      userId: 'alice',
      name: 'Alice',
      color: '#abc',
      joinedAt,
      lastSeen: expect.any(Number),
      connected: true,
    });
    expect(seen.users.map((u) => u.userId)).toEqual(['alice', 'bob']);

    // The same profile again: the sender is answered like a first join, the others hear nothing.
    alice.send({ type: 'join', roomId: 'room', user: { userId: 'alice', name: 'Alice', color: '#abc' } });
    expect(types(await take(alice, 3))).toEqual(['presence', 'selection_state', 'ack']);
    await bob.quiet(100);

    // Omitted optional fields are cleared.
    alice.send({ type: 'join', roomId: 'room', user: { userId: 'alice' } });
    await alice.until('ack');
    expect((await bob.next('presence')).users[0]).toEqual({
      userId: 'alice',
      joinedAt,
      lastSeen: expect.any(Number),
      connected: true,
    });
  });
});

describe('takeover over the wire', () => {
  it('moves the user with its lock and viewers to the new socket and closes the old one with 4001', async () => {
    const s = await server();
    const camera = { position: [1, 2, 3] };
    const bob = await joined(s.url, 'bob');
    bob.send({ type: 'join_viewer', planetId: 'alpha', userId: 'bob' });
    await bob.until('ack');
    bob.send({ type: 'camera', planetId: 'alpha', userId: 'bob', camera });

    const { client: old, ack: firstAck } = await join(s.url, 'alice');
    old.send({ type: 'select', planetId: 'p1', userId: 'alice' });
    const lockAck = (await old.until('ack')).at(-1) as AckMessage;
    for (const planetId of ['zeta', 'alpha']) {
      old.send({ type: 'join_viewer', planetId, userId: 'alice' });
      await old.until('ack');
    }
    await bob.until('selection_state');

    const fresh = await connect(s.url);
    fresh.send({
      type: 'join',
      roomId: 'room',
      user: { userId: 'alice', name: 'Alice' },
      resumeToken: firstAck.resumeToken,
      rid: 't',
    });
    const got = await take(fresh, 5);
    expect(types(got)).toEqual(['presence', 'selection_state', 'viewer_cameras', 'viewer_cameras', 'ack']);
    expect(userIds(got[0]!)).toEqual(['bob', 'alice']);
    expect(got[1]).toMatchObject({ selected: { p1: ['alice'] } });
    expect(got[2]).toMatchObject({ planetId: 'alpha', cameras: { bob: camera } });
    expect(got[3]).toMatchObject({ planetId: 'zeta', cameras: {} });
    const ack = got[4] as AckMessage;
    expect(ack).toMatchObject({
      op: 'join',
      rid: 't',
      lock: { planetId: 'p1', fence: lockAck.fence },
    });
    expect(ack.resumeToken).toEqual(expect.any(String));
    expect(ack.resumeToken).not.toBe(firstAck.resumeToken);
    expect([...(ack.viewing ?? [])].sort()).toEqual(['alpha', 'zeta']);

    expect(await old.next()).toEqual({
      type: 'error',
      ok: false,
      code: 'SESSION_REPLACED',
      message: expect.any(String),
    });
    expect((await old.closed()).code).toBe(4001);

    // The others see the takeover's presence and then nothing: the old socket's close is no leave.
    expect((await bob.next('presence')).users.map((u) => [u.userId, u.name, u.connected])).toEqual([
      ['bob', undefined, true],
      ['alice', 'Alice', true],
    ]);
    await bob.quiet(150);
    const member = s.engine.inspect().rooms[0]!.members.find((m) => m.userId === 'alice')!;
    expect(member.selection).toMatchObject({ planetId: 'p1', fence: lockAck.fence });

    // The viewers moved too: a camera on alpha reaches the new socket.
    bob.send({ type: 'camera', planetId: 'alpha', userId: 'bob', camera: { position: [4, 5, 6] } });
    expect(await fresh.next('camera')).toEqual({
      type: 'camera',
      planetId: 'alpha',
      userId: 'bob',
      camera: { position: [4, 5, 6] },
    });
  });

  it('answers FORBIDDEN to a join for a held user without its resumeToken, and leaves the holder alone', async () => {
    const s = await server();
    const alice = await joined(s.url, 'alice');
    const intruder = await connect(s.url);
    intruder.send({ type: 'join', roomId: 'room', user: { userId: 'alice' }, rid: 'a' });
    expect(await intruder.next()).toEqual({
      type: 'error',
      op: 'join',
      ok: false,
      code: 'FORBIDDEN',
      message: expect.any(String),
      rid: 'a',
    });
    intruder.send({
      type: 'join',
      roomId: 'room',
      user: { userId: 'alice' },
      resumeToken: 'guess',
      rid: 'b',
    });
    expect(await intruder.next()).toMatchObject({ type: 'error', code: 'FORBIDDEN', rid: 'b' });
    await alice.quiet(100);
    expect(alice.ws.readyState).toBe(alice.ws.OPEN);
  });
});

describe('room capacity over the wire', () => {
  it('answers ROOM_FULL to one more distinct user, but not to a member re-joining', async () => {
    const s = await server({ core: { maxRoomUsers: 2 } });
    await joined(s.url, 'alice');
    const bob = await join(s.url, 'bob');
    const carol = await connect(s.url);
    carol.send({ type: 'join', roomId: 'room', user: { userId: 'carol' }, rid: 'c' });
    expect(await carol.next()).toEqual({
      type: 'error',
      op: 'join',
      ok: false,
      code: 'ROOM_FULL',
      message: expect.any(String),
      rid: 'c',
    });
    // A takeover is no new user.
    const bob2 = await connect(s.url);
    bob2.send({ type: 'join', roomId: 'room', user: { userId: 'bob' }, resumeToken: bob.ack.resumeToken });
    expect((await bob2.until('ack')).at(-1)).toMatchObject({ op: 'join', ok: true });
    bob2.send({ type: 'leave', userId: 'bob' });
    await bob2.next('ack');
    carol.send({ type: 'join', roomId: 'room', user: { userId: 'carol' }, rid: 'c2' });
    expect((await carol.until('ack')).at(-1)).toMatchObject({ op: 'join', rid: 'c2' });
  });

  it('answers LIMIT_EXCEEDED to a join that would create a room past maxRooms', async () => {
    const s = await server({ core: { maxRooms: 1 } });
    const alice = await joined(s.url, 'alice', 'a');
    const bob = await connect(s.url);
    bob.send({ type: 'join', roomId: 'b', user: { userId: 'bob' }, rid: 1 });
    expect(await bob.next()).toEqual({
      type: 'error',
      op: 'join',
      ok: false,
      code: 'LIMIT_EXCEEDED',
      message: expect.any(String),
      rid: 1,
    });
    bob.send({ type: 'join', roomId: 'a', user: { userId: 'bob' } });
    await bob.until('ack');
    for (const [c, userId] of [
      [alice, 'alice'],
      [bob, 'bob'],
    ] as const) {
      c.send({ type: 'leave', userId });
      await c.until('ack');
    }
    expect(s.engine.inspect().rooms).toEqual([]);
    bob.send({ type: 'join', roomId: 'b', user: { userId: 'bob' }, rid: 2 });
    expect((await bob.until('ack')).at(-1)).toMatchObject({ op: 'join', rid: 2 });
  });
});

describe('leaving over the wire', () => {
  it('gives the leaver only its ack, keeps the socket open, and lets it join again', async () => {
    const s = await server();
    const alice = await joined(s.url, 'alice');
    const bob = await joined(s.url, 'bob');
    await alice.next('presence');
    alice.send({ type: 'select', planetId: 'p', userId: 'alice' });
    await alice.until('ack');
    await bob.next('selection_state');

    alice.send({ type: 'leave', userId: 'alice', rid: 'bye' });
    expect(await alice.next()).toEqual({ type: 'ack', op: 'leave', ok: true, rid: 'bye' });
    const got = await take(bob, 2);
    expect(types(got)).toEqual(['presence', 'selection_state']);
    expect(userIds(got[0]!)).toEqual(['bob']);
    expect(got[1]).toMatchObject({ selected: {} });
    await alice.quiet(100);
    expect(alice.ws.readyState).toBe(alice.ws.OPEN);

    alice.send({ type: 'join', roomId: 'room', user: { userId: 'alice' } });
    expect(types(await take(alice, 3))).toEqual(['presence', 'selection_state', 'ack']);
    expect(userIds(await bob.next('presence'))).toEqual(['bob', 'alice']);
  });

  it('removes the room when its last user leaves or disconnects', async () => {
    const s = await server();
    const alice = await joined(s.url, 'alice');
    expect(s.engine.inspect().rooms.map((r) => r.roomId)).toEqual(['room']);
    alice.send({ type: 'leave', userId: 'alice' });
    await alice.next('ack');
    expect(s.engine.inspect().rooms).toEqual([]);

    const bob = await joined(s.url, 'bob', 'other');
    expect(s.engine.inspect().rooms.map((r) => r.roomId)).toEqual(['other']);
    bob.close(1000);
    await bob.closed();
    await eventually(() => expect(s.engine.inspect().rooms).toEqual([]));
  });
});

describe('reconnect grace over the wire', () => {
  const graceMs = 500;

  it('keeps a user whose socket dropped as connected:false and restores it on a takeover join', async () => {
    const s = await server({ core: { reconnectGraceMs: graceMs } });
    const alice = await join(s.url, 'alice');
    const bob = await joined(s.url, 'bob');
    await alice.client.next('presence');
    alice.client.send({ type: 'select', planetId: 'p', userId: 'alice' });
    const lock = (await alice.client.until('ack')).at(-1) as AckMessage;
    await bob.next('selection_state');

    // terminate() drops the TCP connection without a close frame: the server sees a network close (1006).
    alice.client.ws.terminate();
    const dropped = await bob.next('presence');
    expect(dropped.users.map((u) => [u.userId, u.connected])).toEqual([
      ['alice', false],
      ['bob', true],
    ]);
    // Its lock is still held during the grace.
    bob.send({ type: 'select', planetId: 'p', userId: 'bob' });
    expect(await bob.next()).toMatchObject({ type: 'conflict', lockedBy: 'alice' });

    const back = await connect(s.url);
    back.send({
      type: 'join',
      roomId: 'room',
      user: { userId: 'alice' },
      resumeToken: alice.ack.resumeToken,
    });
    const got = await back.until('ack');
    expect(types(got)).toEqual(['presence', 'selection_state', 'ack']);
    expect(got[2]).toMatchObject({ lock: { planetId: 'p', fence: lock.fence } });
    const restored = await bob.next('presence');
    expect(restored.users.map((u) => [u.userId, u.connected])).toEqual([
      ['alice', true],
      ['bob', true],
    ]);
    expect(restored.seq).toBeGreaterThan(dropped.seq);
    await bob.quiet(graceMs + 100);
    expect(s.engine.inspect().rooms[0]!.members.map((m) => m.userId)).toEqual(['alice', 'bob']);
  });

  it('removes a dropped user, releasing its lock, when the grace ends without a takeover', async () => {
    const s = await server({ core: { reconnectGraceMs: graceMs } });
    const alice = await joined(s.url, 'alice');
    const bob = await joined(s.url, 'bob');
    await alice.next('presence');
    alice.send({ type: 'select', planetId: 'p', userId: 'alice' });
    await alice.until('ack');
    await bob.next('selection_state');

    alice.ws.terminate();
    expect((await bob.next('presence')).users.map((u) => u.connected)).toEqual([false, true]);
    const droppedAt = Date.now();
    const got = await take(bob, 2);
    const waited = Date.now() - droppedAt;
    expect(types(got)).toEqual(['presence', 'selection_state']);
    expect(userIds(got[0]!)).toEqual(['bob']);
    expect(got[1]).toMatchObject({ selected: {} });
    expect(waited).toBeGreaterThanOrEqual(graceMs - 100);
  });

  it('keeps the user in grace after a 1001 close, but lets it leave at once after a clean 1000 close', async () => {
    const s = await server({ core: { reconnectGraceMs: 2000 } });
    const alice = await joined(s.url, 'alice');
    const carol = await joined(s.url, 'carol');
    const bob = await joined(s.url, 'bob');
    await alice.until('presence');
    await alice.until('presence');
    await carol.until('presence');

    carol.close(1001);
    expect((await bob.next('presence')).users.map((u) => [u.userId, u.connected])).toEqual([
      ['alice', true],
      ['carol', false],
      ['bob', true],
    ]);

    const closedAt = Date.now();
    alice.close(1000);
    const left = await bob.next('presence');
    expect(Date.now() - closedAt).toBeLessThan(1000);
    expect(left.users.map((u) => [u.userId, u.connected])).toEqual([
      ['carol', false],
      ['bob', true],
    ]);
  });
});
