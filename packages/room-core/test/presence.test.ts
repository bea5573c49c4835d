// CONTRACT §7 presence: lastSeen moves with every frame that passed the binding check; `presence`
// goes out on membership and profile changes but never on heartbeats; a user silent for
// PRESENCE_TIMEOUT_MS is removed as by leave and its connection closed with 4008.

import { describe, expect, it } from 'vitest';
import { type Harness, harness } from './harness.js';

const T0 = 1_000_000;
const TIMEOUT = 90_000;

const seqOf = (h: Harness): number => h.engine.inspect().rooms.find((r) => r.roomId === 'room')!.seq;
const lastSeenOf = (h: Harness, userId: string): number | undefined =>
  h.engine
    .inspect()
    .rooms.flatMap((r) => r.members)
    .find((m) => m.userId === userId)?.lastSeen;
const user = (userId: string, joinedAt: number, lastSeen = joinedAt, connected = true) => ({
  userId,
  joinedAt,
  lastSeen,
  connected,
});

/** alice joined at T0, bob at T0 + 5; inboxes empty. */
function twoUsers(config = {}) {
  const h = harness(config, T0);
  const a = h.join('alice');
  h.clock.advance(5);
  const b = h.join('bob');
  h.take(a);
  return { h, a, b };
}

describe('lastSeen', () => {
  it('is the time of the user’s last frame that passed the binding check, refused or not', () => {
    const { h, a, b } = twoUsers();
    h.clock.set(T0 + 1_000);
    h.send(a, { type: 'heartbeat', userId: 'alice', ts: 1 });
    h.clock.set(T0 + 2_000);
    // Refused by the domain rule, but it passed binding: alice was seen.
    h.send(a, { type: 'unselect', planetId: 'p', userId: 'alice' });
    expect(h.take(a).at(-1)).toMatchObject({ type: 'error', code: 'NOT_SELECTED' });
    expect(lastSeenOf(h, 'alice')).toBe(T0 + 2_000);
    h.clock.set(T0 + 3_000);
    h.send(b, { type: 'leave', userId: 'bob' });
    expect(h.take(a)).toEqual([{ type: 'presence', users: [user('alice', T0, T0 + 2_000)], seq: seqOf(h) }]);
  });

  it('does not move for a frame carrying another user’s id', () => {
    const { h, a } = twoUsers();
    h.clock.set(T0 + 1_000);
    h.send(a, { type: 'heartbeat', userId: 'bob', ts: 1 });
    expect(h.take(a)).toEqual([
      { type: 'error', op: 'heartbeat', ok: false, code: 'USER_MISMATCH', message: expect.any(String) },
    ]);
    expect(lastSeenOf(h, 'alice')).toBe(T0);
  });

  it('does not move for a malformed frame', () => {
    const { h, a } = twoUsers();
    h.clock.set(T0 + 1_000);
    h.send(a, { type: 'heartbeat', userId: 'alice' });
    expect(h.take(a)).toEqual([
      { type: 'error', op: 'heartbeat', ok: false, code: 'BAD_MESSAGE', message: expect.any(String) },
    ]);
    expect(lastSeenOf(h, 'alice')).toBe(T0);
  });
});

describe('presence broadcasts', () => {
  it('tells the room of a join, users ordered by joinedAt', () => {
    const h = harness({}, T0);
    const b = h.join('bob');
    h.clock.advance(5);
    h.join('alice');
    expect(h.take(b)).toEqual([
      { type: 'presence', users: [user('bob', T0), user('alice', T0 + 5)], seq: seqOf(h) },
    ]);
  });

  it('tells the others of a leave, and the leaver gets only its ack', () => {
    const { h, a, b } = twoUsers();
    h.send(b, { type: 'leave', userId: 'bob', rid: 'bye' });
    expect(h.take(b)).toEqual([{ type: 'ack', op: 'leave', ok: true, rid: 'bye' }]);
    expect(h.take(a)).toEqual([{ type: 'presence', users: [user('alice', T0)], seq: seqOf(h) }]);
  });

  it('tells the room of a profile change, and of nothing when the profile is the same', () => {
    const { h, a, b } = twoUsers();
    h.send(b, { type: 'join', roomId: 'room', user: { userId: 'bob', name: 'Bob' } });
    expect(h.take(a)).toEqual([
      {
        type: 'presence',
        users: [user('alice', T0), { ...user('bob', T0 + 5), name: 'Bob' }],
        seq: seqOf(h),
      },
    ]);
    h.send(b, { type: 'join', roomId: 'room', user: { userId: 'bob', name: 'Bob' } });
    expect(h.take(a)).toEqual([]);
  });

  it('tells the others of a disconnect', () => {
    const { h, a, b } = twoUsers();
    h.close(b, 'network');
    expect(h.take(a)).toEqual([{ type: 'presence', users: [user('alice', T0)], seq: seqOf(h) }]);
  });

  it('tells the others when a reconnect grace starts and when it ends', () => {
    const { h, a, b } = twoUsers({ reconnectGraceMs: 5_000 });
    h.close(b, 'network');
    expect(h.take(a)).toEqual([
      { type: 'presence', users: [user('alice', T0), user('bob', T0 + 5, T0 + 5, false)], seq: seqOf(h) },
    ]);
    h.advance(4_999);
    expect(h.take(a)).toEqual([]);
    h.advance(1);
    expect(h.take(a)).toEqual([{ type: 'presence', users: [user('alice', T0)], seq: seqOf(h) }]);
  });

  it('tells the others when a user’s presence expires', () => {
    const { h, a, b } = twoUsers();
    h.clock.set(T0 + TIMEOUT - 1);
    h.send(b, { type: 'heartbeat', userId: 'bob', ts: 1 });
    h.take(b);
    h.advance(1);
    expect(h.take(b)).toEqual([
      { type: 'presence', users: [user('bob', T0 + 5, T0 + TIMEOUT - 1)], seq: seqOf(h) },
    ]);
    expect(h.take(a)).toEqual([]);
  });

  it('sends nothing to anyone on a heartbeat, and keeps seq', () => {
    const { h, a, b } = twoUsers();
    const seq = seqOf(h);
    h.clock.advance(1_000);
    h.send(b, { type: 'heartbeat', userId: 'bob', ts: 7 });
    expect(h.take(b)).toEqual([{ type: 'ack', op: 'heartbeat', ok: true, ts: 7, serverTs: T0 + 1_005 }]);
    expect(h.take(a)).toEqual([]);
    expect(seqOf(h)).toBe(seq);
  });
});

describe('presence expiry', () => {
  it('removes a silent user exactly PRESENCE_TIMEOUT_MS after lastSeen, as by leave, closing with 4008', () => {
    const { h, a, b } = twoUsers();
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
    h.send(a, { type: 'join_viewer', planetId: 'p', userId: 'alice' });
    h.take(a);
    h.clock.set(T0 + 1_000);
    h.send(b, { type: 'heartbeat', userId: 'bob', ts: 1 });
    h.take(b);
    h.advance(TIMEOUT - 1_000 + 5 - 1);
    expect(h.closeOf(a)).toBeUndefined();
    expect(lastSeenOf(h, 'alice')).toBe(T0 + 5);
    h.advance(1);
    expect(h.closeOf(a)).toEqual({ type: 'close', conn: a, code: 4008, reason: 'presence expired' });
    expect(h.take(a)).toEqual([]);
    expect(h.take(b)).toEqual([
      { type: 'presence', users: [user('bob', T0 + 5, T0 + 1_000)], seq: seqOf(h) },
      { type: 'selection_state', selected: {}, seq: seqOf(h) },
    ]);
    const snapshot = h.engine.inspect();
    expect(snapshot.rooms[0]!.viewers).toEqual([]);
    expect(snapshot.conns.map((c) => c.conn)).toEqual([b]);
  });

  it('is postponed by any frame that passed the binding check', () => {
    const { h, a, b } = twoUsers();
    h.clock.set(T0 + 50_000);
    h.send(a, { type: 'unselect', planetId: 'p', userId: 'alice' });
    h.clock.set(T0 + 60_000);
    h.send(b, { type: 'heartbeat', userId: 'bob', ts: 1 });
    h.advance(T0 + TIMEOUT - h.clock.now());
    expect(h.closeOf(a)).toBeUndefined();
    h.advance(50_000 - 1);
    expect(h.closeOf(a)).toBeUndefined();
    h.advance(1);
    expect(h.closeOf(a)).toMatchObject({ code: 4008 });
  });

  it('is not postponed by a frame rejected before the binding check', () => {
    const { h, a } = twoUsers();
    h.clock.set(T0 + 50_000);
    h.send(a, { type: 'unselect', planetId: 'p', userId: 'mallory' });
    expect(h.take(a).at(-1)).toMatchObject({ type: 'error', code: 'USER_MISMATCH' });
    h.advance(T0 + TIMEOUT - 1 - h.clock.now());
    expect(h.closeOf(a)).toBeUndefined();
    h.advance(1);
    expect(h.closeOf(a)).toMatchObject({ code: 4008 });
  });
});
