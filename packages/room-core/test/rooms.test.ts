// CONTRACT §4, rooms: a room lives from its first join until its last user leaves, disconnects or
// expires, and takes its locks and cameras with it. MAX_ROOM_USERS and MAX_ROOMS bound growth.
// `leave` unbinds the connection and answers the leaver with its ack only; a closed socket without
// a reconnect grace counts as leave at once. Also §2's presence list and prototype-proof ids.

import type { PresenceMessage, ServerMessage } from '@exo/protocol';
import { describe, expect, it } from 'vitest';
import { type Harness, harness, types } from './harness.js';

const T0 = 1_000_000;
const cam = (x: number) => ({ position: [x, 0, 0] as [number, number, number] });

function presenceOf(messages: ServerMessage[]): PresenceMessage {
  const presence = messages.find((m) => m.type === 'presence');
  if (presence?.type !== 'presence') throw new Error(`no presence in ${JSON.stringify(messages)}`);
  return presence;
}

const userIdsIn = (messages: ServerMessage[]) => presenceOf(messages).users.map((u) => u.userId);

/** alice alone in 'room', holding p's lock and viewing p with a camera sent. */
function aliceWithLockAndCamera(h: Harness): string {
  const a = h.join('alice');
  h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
  h.send(a, { type: 'join_viewer', planetId: 'p', userId: 'alice' });
  h.send(a, { type: 'camera', planetId: 'p', userId: 'alice', camera: cam(1) });
  h.take(a);
  return a;
}

describe('a room’s life', () => {
  it('creates a room on its first join', () => {
    const h = harness();
    expect(h.engine.inspect().rooms).toEqual([]);
    h.join('alice');
    expect(h.engine.inspect().rooms).toMatchObject([
      { roomId: 'room', members: [{ userId: 'alice', joinedAt: T0, conn: 'c-alice' }] },
    ]);
  });

  it.each([
    ['leaves', (h: Harness, a: string) => h.send(a, { type: 'leave', userId: 'alice' })],
    ['disconnects', (h: Harness, a: string) => h.close(a, 'network')],
    ['expires', (h: Harness) => h.advance(h.engine.config.presenceTimeoutMs)],
  ] as const)('removes the room with its locks and cameras when its last user %s', (_how, end) => {
    const h = harness();
    const a = aliceWithLockAndCamera(h);
    end(h, a);
    expect(h.engine.inspect().rooms).toEqual([]);
    // A room of the same name starts empty: nobody holds p, no camera of alice is left.
    const b = h.join('bob');
    h.send(b, { type: 'join_viewer', planetId: 'p', userId: 'bob' });
    expect(h.take(b)).toMatchObject([
      { type: 'viewer_cameras', planetId: 'p', cameras: {} },
      { type: 'ack' },
    ]);
    h.send(b, { type: 'select', planetId: 'p', userId: 'bob' });
    expect(h.take(b)).toMatchObject([
      { type: 'selection_state', selected: { p: ['bob'] } },
      { type: 'ack', op: 'select' },
    ]);
  });

  it('continues seq above the removed room’s when the room is re-created', () => {
    const h = harness();
    const a = aliceWithLockAndCamera(h);
    const last = h.engine.inspect().rooms[0]!.seq;
    h.send(a, { type: 'leave', userId: 'alice' });
    h.send(a, { type: 'join', roomId: 'room', user: { userId: 'alice' } });
    const [presence] = h.take(a).slice(-3);
    expect(presence).toMatchObject({ type: 'presence' });
    expect(presence && 'seq' in presence && presence.seq).toBeGreaterThan(last);
  });
});

describe('limits', () => {
  it('refuses one more distinct user than MAX_ROOM_USERS with ROOM_FULL', () => {
    const h = harness({ maxRoomUsers: 2 });
    const a = h.join('alice');
    const b = h.join('bob');
    h.take(a);
    const before = h.engine.inspect();
    h.open('c-carol');
    h.send('c-carol', { type: 'join', roomId: 'room', user: { userId: 'carol' }, rid: 'j' });
    expect(h.take('c-carol')).toEqual([
      { type: 'error', op: 'join', ok: false, code: 'ROOM_FULL', message: expect.any(String), rid: 'j' },
    ]);
    expect(h.take(a)).toEqual([]);
    expect(h.take(b)).toEqual([]);
    expect(h.engine.inspect().rooms).toEqual(before.rooms);
  });

  it('lets a user of a full room re-join on its connection and take itself over', () => {
    const h = harness({ maxRoomUsers: 2 });
    h.open('c-alice');
    h.send('c-alice', { type: 'join', roomId: 'room', user: { userId: 'alice' } });
    const ack = h.take('c-alice').at(-1);
    h.join('bob');
    h.send('c-alice', { type: 'join', roomId: 'room', user: { userId: 'alice', name: 'Ada' } });
    expect(h.take('c-alice').at(-1)).toMatchObject({ type: 'ack', op: 'join' });
    const resumeToken = ack?.type === 'ack' ? ack.resumeToken : undefined;
    h.open('c-alice-2');
    h.send('c-alice-2', { type: 'join', roomId: 'room', user: { userId: 'alice' }, resumeToken });
    expect(h.take('c-alice-2').at(-1)).toMatchObject({ type: 'ack', op: 'join' });
    expect(h.engine.inspect().rooms[0]?.members.map((m) => [m.userId, m.conn])).toEqual([
      ['alice', 'c-alice-2'],
      ['bob', 'c-bob'],
    ]);
  });

  it('refuses a join that would create one more than MAX_ROOMS rooms with LIMIT_EXCEEDED', () => {
    const h = harness({ maxRooms: 1 });
    const a = h.join('alice', 'r1');
    h.open('c-bob');
    h.send('c-bob', { type: 'join', roomId: 'r2', user: { userId: 'bob' }, rid: 9 });
    expect(h.take('c-bob')).toEqual([
      { type: 'error', op: 'join', ok: false, code: 'LIMIT_EXCEEDED', message: expect.any(String), rid: 9 },
    ]);
    expect(h.engine.inspect().rooms.map((r) => r.roomId)).toEqual(['r1']);
    // Joining an existing room creates none; once r1 is gone, r2 may be created.
    h.send('c-bob', { type: 'join', roomId: 'r1', user: { userId: 'bob' } });
    expect(h.take('c-bob').at(-1)).toMatchObject({ type: 'ack', op: 'join' });
    h.send('c-bob', { type: 'leave', userId: 'bob' });
    h.send(a, { type: 'leave', userId: 'alice' });
    h.send('c-bob', { type: 'join', roomId: 'r2', user: { userId: 'bob' } });
    expect(h.take('c-bob').at(-1)).toMatchObject({ type: 'ack', op: 'join' });
  });
});

describe('leave', () => {
  it('answers the leaver with its ack only', () => {
    const h = harness();
    const a = aliceWithLockAndCamera(h);
    h.join('bob');
    h.take(a);
    h.send(a, { type: 'leave', userId: 'alice', rid: 'bye' });
    expect(h.take(a)).toEqual([{ type: 'ack', op: 'leave', ok: true, rid: 'bye' }]);
  });

  it('tells the others with presence only when the leaver held no lock', () => {
    const h = harness();
    const a = h.join('alice');
    const b = h.join('bob');
    h.send(a, { type: 'leave', userId: 'alice' });
    const toBob = h.take(b);
    expect(types(toBob)).toEqual(['presence']);
    expect(userIdsIn(toBob)).toEqual(['bob']);
  });

  it('tells the others with presence and selection_state when the leaver held a lock', () => {
    const h = harness();
    const a = h.join('alice');
    const b = h.join('bob');
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
    h.take(b);
    h.send(a, { type: 'leave', userId: 'alice' });
    const toBob = h.take(b);
    expect(types(toBob)).toEqual(['presence', 'selection_state']);
    expect(toBob[1]).toMatchObject({ selected: {} });
  });

  it('keeps the connection open and unbound, so it can join again', () => {
    const h = harness();
    const a = h.join('alice', 'room-1');
    h.send(a, { type: 'leave', userId: 'alice' });
    h.take(a);
    expect(h.closes).toEqual([]);
    expect(h.engine.inspect().conns).toEqual([{ conn: a, roomId: null, userId: null, unboundSince: T0 }]);
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
    expect(h.take(a)).toMatchObject([{ type: 'error', code: 'NOT_JOINED' }]);
    h.send(a, { type: 'join', roomId: 'room-2', user: { userId: 'carol' } });
    expect(types(h.take(a))).toEqual(['presence', 'selection_state', 'ack']);
  });

  it('closes a connection still unbound JOIN_TIMEOUT_MS after its leave with 4002', () => {
    const h = harness({ joinTimeoutMs: 10_000 });
    h.advance(60_000);
    const a = h.join('alice');
    h.advance(1_000);
    h.send(a, { type: 'leave', userId: 'alice' });
    h.advance(9_999);
    expect(h.closes).toEqual([]);
    h.advance(1);
    expect(h.closes).toEqual([{ type: 'close', conn: a, code: 4002, reason: expect.any(String) }]);
  });

  it('closes a connection that never joins with 4002 after JOIN_TIMEOUT_MS', () => {
    const h = harness({ joinTimeoutMs: 10_000 });
    h.open('c-1');
    h.advance(9_999);
    expect(h.closes).toEqual([]);
    h.advance(1);
    expect(h.closeOf('c-1')).toMatchObject({ code: 4002 });
  });
});

describe('a closed socket without reconnect grace', () => {
  it.each(['network', 'going_away', 'other'] as const)('counts a %s close as leave at once', (kind) => {
    const h = harness();
    const a = h.join('alice');
    const b = h.join('bob');
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
    h.take(b);
    h.close(a, kind);
    const toBob = h.take(b);
    expect(types(toBob)).toEqual(['presence', 'selection_state']);
    expect(userIdsIn(toBob)).toEqual(['bob']);
    expect(toBob[1]).toMatchObject({ selected: {} });
    expect(h.engine.inspect().rooms[0]?.members.map((m) => m.userId)).toEqual(['bob']);
  });
});

describe('the presence list', () => {
  it('orders users by joinedAt, then userId', () => {
    const h = harness();
    h.join('zed');
    h.join('amy');
    h.advance(1);
    h.join('bob');
    const z = h.join('cid');
    expect(userIdsIn(h.take('c-zed'))).toEqual(['amy', 'zed']);
    h.send(z, { type: 'join', roomId: 'room', user: { userId: 'cid', name: 'C' } });
    expect(userIdsIn(h.take(z))).toEqual(['amy', 'zed', 'bob', 'cid']);
  });

  it('echoes a color in lower case', () => {
    const h = harness();
    h.open('c-1');
    h.send('c-1', { type: 'join', roomId: 'room', user: { userId: 'alice', color: '#AbCdEf' } });
    expect(presenceOf(h.take('c-1')).users[0]?.color).toBe('#abcdef');
  });

  it('gives every user its profile, joinedAt, lastSeen and connected', () => {
    const h = harness();
    h.open('c-1');
    const user = { userId: 'alice', name: 'Ada', color: '#123', avatarUrl: 'https://x.test/a.png' };
    h.send('c-1', { type: 'join', roomId: 'room', user });
    h.advance(2_000);
    h.send('c-1', { type: 'heartbeat', ts: 1, userId: 'alice' });
    h.join('bob');
    expect(presenceOf(h.take('c-1').slice(-1)).users).toEqual([
      { ...user, joinedAt: T0, lastSeen: T0 + 2_000, connected: true },
      { userId: 'bob', joinedAt: T0 + 2_000, lastSeen: T0 + 2_000, connected: true },
    ]);
  });
});

describe('prototype-proof ids', () => {
  it('accepts __proto__ and constructor as room, user and planet ids', () => {
    const h = harness();
    const p = h.join('__proto__', '__proto__');
    const c = h.join('constructor', '__proto__');
    h.send(p, { type: 'select', planetId: 'constructor', userId: '__proto__' });
    h.send(c, { type: 'select', planetId: '__proto__', userId: 'constructor' });
    h.send(p, { type: 'join_viewer', planetId: '__proto__', userId: '__proto__' });
    h.send(c, { type: 'join_viewer', planetId: '__proto__', userId: 'constructor' });
    h.send(c, { type: 'camera', planetId: '__proto__', userId: 'constructor', camera: cam(7) });
    h.take(p);
    h.send(p, { type: 'join', roomId: '__proto__', user: { userId: '__proto__', name: 'P' } });
    const received = h.take(p);
    expect(types(received)).toEqual(['presence', 'selection_state', 'viewer_cameras', 'ack']);
    expect(userIdsIn(received)).toEqual(['__proto__', 'constructor']);
    const [, selection, cameras] = received;
    expect(selection?.type === 'selection_state' && Object.entries(selection.selected)).toEqual([
      ['__proto__', ['constructor']],
      ['constructor', ['__proto__']],
    ]);
    expect(cameras?.type === 'viewer_cameras' && Object.entries(cameras.cameras)).toEqual([
      ['constructor', cam(7)],
    ]);
    h.send(p, { type: 'leave', userId: '__proto__' });
    h.close(c, 'network');
    expect(h.engine.inspect().rooms).toEqual([]);
  });
});
