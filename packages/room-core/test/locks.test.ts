// CONTRACT §5, exclusive mode (the default): one lock per planet, held by its first selector
// until it is released or its TTL runs out; fences that only grow; one selection per user.

import { describe, expect, it } from 'vitest';
import { type Harness, harness } from './harness.js';

const T0 = 1_000_000;
const TTL = 10_000;

const seqOf = (h: Harness): number => h.engine.inspect().rooms.find((r) => r.roomId === 'room')!.seq;

/** alice and bob in 'room', inboxes empty, no lock held; a short TTL so expiry tests stay readable. */
function twoUsers(config = {}) {
  const h = harness({ lockTtlMs: TTL, ...config }, T0);
  const a = h.join('alice');
  const b = h.join('bob');
  h.take(a);
  return { h, a, b };
}

function select(h: Harness, conn: string, userId: string, planetId: string, rid?: string | number) {
  h.send(conn, { type: 'select', planetId, userId, ...(rid === undefined ? {} : { rid }) });
}

describe('exclusive locks', () => {
  it('grants the lock to the first selector, acking expiresAt = now + LOCK_TTL_MS and a fence', () => {
    const { h, a, b } = twoUsers();
    const seq = seqOf(h);
    h.clock.advance(7);
    select(h, a, 'alice', 'p', 'r1');
    const state = { type: 'selection_state', selected: { p: ['alice'] }, seq: seq + 1 };
    expect(h.take(a)).toEqual([
      state,
      { type: 'ack', op: 'select', ok: true, rid: 'r1', expiresAt: T0 + 7 + TTL, fence: (T0 + 7) * 1000 },
    ]);
    expect(h.take(b)).toEqual([state]);
  });

  it('answers another user’s select with a conflict to that user only and changes nothing', () => {
    const { h, a, b } = twoUsers();
    select(h, a, 'alice', 'p');
    h.take(a);
    h.take(b);
    const before = h.engine.inspect();
    h.clock.advance(5);
    select(h, b, 'bob', 'p', 42);
    expect(h.take(b)).toEqual([
      { type: 'conflict', planetId: 'p', lockedBy: 'alice', reason: 'locked', expiresAt: T0 + TTL, rid: 42 },
    ]);
    expect(h.take(a)).toEqual([]);
    // Only the clock and the sender's lastSeen may differ.
    const after = h.engine.inspect();
    const bob = before.rooms[0]!.members.find((m) => m.userId === 'bob')!;
    bob.lastSeen = T0 + 5;
    before.now = T0 + 5;
    expect(after).toEqual(before);
  });

  it('gives two grants of one planet in the same millisecond increasing fences', () => {
    const { h, a, b } = twoUsers();
    select(h, a, 'alice', 'p');
    expect(h.take(a).at(-1)).toMatchObject({ op: 'select', fence: T0 * 1000 });
    h.send(a, { type: 'unselect', planetId: 'p', userId: 'alice' });
    select(h, b, 'bob', 'p');
    expect(h.take(b).at(-1)).toMatchObject({ op: 'select', fence: T0 * 1000 + 1 });
  });

  it('keeps fences growing across the room’s removal and re-creation, even within the same millisecond', () => {
    const h = harness({ lockTtlMs: TTL }, T0);
    const a = h.join('alice');
    select(h, a, 'alice', 'p');
    expect(h.take(a).at(-1)).toMatchObject({ fence: T0 * 1000 });
    h.send(a, { type: 'leave', userId: 'alice' });
    expect(h.engine.inspect().rooms).toEqual([]);
    const b = h.join('bob');
    select(h, b, 'bob', 'p');
    expect(h.take(b).at(-1)).toMatchObject({ op: 'select', fence: T0 * 1000 + 1 });
    h.send(b, { type: 'leave', userId: 'bob' });
    h.clock.advance(1);
    h.send(a, { type: 'join', roomId: 'room', user: { userId: 'alice' } });
    select(h, a, 'alice', 'p');
    // A later millisecond: now × 1000 is above the last fence again.
    expect(h.take(a).at(-1)).toMatchObject({ op: 'select', fence: (T0 + 1) * 1000 });
  });

  it('renews the lock on a select by the holder: new expiresAt, same fence, no broadcast', () => {
    const { h, a, b } = twoUsers();
    select(h, a, 'alice', 'p');
    h.take(a);
    h.take(b);
    const seq = seqOf(h);
    h.clock.advance(4_000);
    select(h, a, 'alice', 'p', 'again');
    expect(h.take(a)).toEqual([
      { type: 'ack', op: 'select', ok: true, rid: 'again', expiresAt: T0 + 4_000 + TTL, fence: T0 * 1000 },
    ]);
    expect(h.take(b)).toEqual([]);
    expect(seqOf(h)).toBe(seq);
    // The old expiry passes without releasing the lock.
    h.clock.set(T0 + TTL);
    select(h, b, 'bob', 'p');
    expect(h.take(b)).toEqual([
      { type: 'conflict', planetId: 'p', lockedBy: 'alice', reason: 'locked', expiresAt: T0 + 4_000 + TTL },
    ]);
  });

  it('releases the previous planet with a single selection_state when the holder selects another', () => {
    const { h, a, b } = twoUsers();
    select(h, a, 'alice', 'p');
    h.take(a);
    h.take(b);
    const seq = seqOf(h);
    select(h, a, 'alice', 'q');
    const state = { type: 'selection_state', selected: { q: ['alice'] }, seq: seq + 1 };
    expect(h.take(a)).toEqual([
      state,
      { type: 'ack', op: 'select', ok: true, expiresAt: T0 + TTL, fence: T0 * 1000 },
    ]);
    expect(h.take(b)).toEqual([state]);
    select(h, b, 'bob', 'p');
    expect(h.take(b).at(-1)).toMatchObject({ type: 'ack', op: 'select' });
  });

  it('releases the lock on unselect by the holder and tells the whole room', () => {
    const { h, a, b } = twoUsers();
    select(h, a, 'alice', 'p');
    h.take(a);
    h.take(b);
    const seq = seqOf(h);
    h.send(a, { type: 'unselect', planetId: 'p', userId: 'alice', rid: 'u' });
    const state = { type: 'selection_state', selected: {}, seq: seq + 1 };
    expect(h.take(a)).toEqual([state, { type: 'ack', op: 'unselect', ok: true, rid: 'u' }]);
    expect(h.take(b)).toEqual([state]);
    expect(h.engine.inspect().rooms[0]!.selected).toEqual([]);
  });

  it('refuses unselect by a user who does not hold the lock with NOT_SELECTED', () => {
    const { h, a, b } = twoUsers();
    select(h, a, 'alice', 'p');
    h.take(a);
    h.take(b);
    const before = h.engine.inspect();
    h.send(b, { type: 'unselect', planetId: 'p', userId: 'bob', rid: 3 });
    expect(h.take(b)).toEqual([
      { type: 'error', op: 'unselect', ok: false, code: 'NOT_SELECTED', message: expect.any(String), rid: 3 },
    ]);
    expect(h.take(a)).toEqual([]);
    expect(h.engine.inspect()).toEqual(before);
  });

  it('holds the lock until expiresAt − 1 and frees it exactly at expiresAt, before the next command', () => {
    const { h, a, b } = twoUsers();
    select(h, a, 'alice', 'p');
    h.take(a);
    h.take(b);
    const seq = seqOf(h);
    h.clock.set(T0 + TTL - 1);
    select(h, b, 'bob', 'p');
    expect(h.take(b)).toEqual([
      { type: 'conflict', planetId: 'p', lockedBy: 'alice', reason: 'locked', expiresAt: T0 + TTL },
    ]);
    // No tick at expiresAt: the select stamped then must see the lock already expired.
    h.clock.set(T0 + TTL);
    select(h, b, 'bob', 'p');
    const expired = { type: 'selection_state', selected: {}, seq: seq + 1 };
    const granted = { type: 'selection_state', selected: { p: ['bob'] }, seq: seq + 2 };
    expect(h.take(b)).toEqual([
      expired,
      granted,
      { type: 'ack', op: 'select', ok: true, expiresAt: T0 + 2 * TTL, fence: (T0 + TTL) * 1000 },
    ]);
    expect(h.take(a)).toEqual([expired, granted]);
  });

  it('renews the lock on the holder’s heartbeat, whose ack echoes ts and adds serverTs and expiresAt', () => {
    const { h, a, b } = twoUsers();
    select(h, a, 'alice', 'p');
    h.take(a);
    h.take(b);
    h.clock.advance(6_000);
    h.send(a, { type: 'heartbeat', userId: 'alice', ts: 12.5, rid: 'hb' });
    expect(h.take(a)).toEqual([
      {
        type: 'ack',
        op: 'heartbeat',
        ok: true,
        rid: 'hb',
        ts: 12.5,
        serverTs: T0 + 6_000,
        expiresAt: T0 + 6_000 + TTL,
      },
    ]);
    expect(h.take(b)).toEqual([]);
    expect(h.advance(TTL - 6_000)).toEqual([]);
    expect(h.engine.inspect().rooms[0]!.selected).toEqual([['p', ['alice']]]);
    h.advance(6_000);
    expect(h.take(b)).toEqual([{ type: 'selection_state', selected: {}, seq: expect.any(Number) }]);
  });

  it('acks a heartbeat without expiresAt when the user holds no lock', () => {
    const { h, a } = twoUsers();
    h.clock.advance(1);
    h.send(a, { type: 'heartbeat', userId: 'alice', ts: 0 });
    expect(h.take(a)).toEqual([{ type: 'ack', op: 'heartbeat', ok: true, ts: 0, serverTs: T0 + 1 }]);
  });

  it('releases an expired lock with a selection_state to the whole room', () => {
    const { h, a, b } = twoUsers();
    select(h, a, 'alice', 'p');
    h.take(a);
    h.take(b);
    const seq = seqOf(h);
    h.advance(TTL);
    const state = { type: 'selection_state', selected: {}, seq: seq + 1 };
    expect(h.take(a)).toEqual([state]);
    expect(h.take(b)).toEqual([state]);
    expect(h.engine.inspect().rooms[0]!.members.map((m) => m.selection)).toEqual([null, null]);
  });

  it('releases the lock when its holder leaves', () => {
    const { h, a, b } = twoUsers();
    select(h, a, 'alice', 'p');
    h.take(a);
    h.take(b);
    h.send(a, { type: 'leave', userId: 'alice' });
    expect(h.take(a)).toEqual([{ type: 'ack', op: 'leave', ok: true }]);
    expect(h.take(b)).toEqual([
      { type: 'presence', users: [expect.objectContaining({ userId: 'bob' })], seq: expect.any(Number) },
      { type: 'selection_state', selected: {}, seq: expect.any(Number) },
    ]);
    select(h, b, 'bob', 'p');
    expect(h.take(b).at(-1)).toMatchObject({ type: 'ack', op: 'select' });
  });

  it('releases the lock when its holder disconnects', () => {
    const { h, a, b } = twoUsers();
    select(h, a, 'alice', 'p');
    h.take(a);
    h.take(b);
    h.close(a, 'network');
    expect(h.take(b)).toEqual([
      { type: 'presence', users: [expect.objectContaining({ userId: 'bob' })], seq: expect.any(Number) },
      { type: 'selection_state', selected: {}, seq: expect.any(Number) },
    ]);
  });

  it('releases the lock when its holder’s presence expires', () => {
    const { h, a, b } = twoUsers({ presenceTimeoutMs: 2_000 });
    select(h, a, 'alice', 'p');
    h.take(a);
    h.take(b);
    h.clock.advance(1_000);
    h.send(b, { type: 'heartbeat', userId: 'bob', ts: 1 });
    h.take(b);
    h.advance(1_000);
    expect(h.closeOf(a)).toEqual({ type: 'close', conn: a, code: 4008, reason: 'presence expired' });
    expect(h.take(b)).toEqual([
      { type: 'presence', users: [expect.objectContaining({ userId: 'bob' })], seq: expect.any(Number) },
      { type: 'selection_state', selected: {}, seq: expect.any(Number) },
    ]);
  });

  it('lists only planets with a selector in selection_state, sent to the whole room on every change', () => {
    const { h, a, b } = twoUsers();
    const c = h.join('carol');
    h.take(a);
    h.take(b);
    select(h, a, 'alice', 'p');
    select(h, b, 'bob', 'q');
    h.send(a, { type: 'unselect', planetId: 'p', userId: 'alice' });
    const seen = h.take(c);
    expect(seen.map((m) => m.type === 'selection_state' && m.selected)).toEqual([
      { p: ['alice'] },
      { p: ['alice'], q: ['bob'] },
      { q: ['bob'] },
    ]);
    for (const conn of [a, b]) {
      const states = h.take(conn).filter((m) => m.type === 'selection_state');
      expect(states).toEqual(seen);
    }
  });
});
