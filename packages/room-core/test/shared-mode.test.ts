// CONTRACT §5, SELECTION_MODE=shared: any number of users select a planet, listed in the order
// they selected it; no conflicts and no fences, but one selection per user, TTL and renewal as in
// exclusive mode.

import { describe, expect, it } from 'vitest';
import { type Harness, harness } from './harness.js';

const T0 = 1_000_000;
const TTL = 10_000;

const seqOf = (h: Harness): number => h.engine.inspect().rooms.find((r) => r.roomId === 'room')!.seq;

/** zoe, alice and bob in a shared-mode room, inboxes empty; zoe sorts last, so order is visible. */
function threeUsers() {
  const h = harness({ selectionMode: 'shared', lockTtlMs: TTL }, T0);
  const z = h.join('zoe');
  const a = h.join('alice');
  const b = h.join('bob');
  h.take(z);
  h.take(a);
  return { h, z, a, b };
}

function select(h: Harness, conn: string, userId: string, planetId: string) {
  h.send(conn, { type: 'select', planetId, userId });
}

function drain(h: Harness, ...conns: string[]) {
  for (const conn of conns) h.take(conn);
}

describe('shared selections', () => {
  it('lets a second user select a selected planet without a conflict', () => {
    const { h, z, a } = threeUsers();
    select(h, z, 'zoe', 'p');
    drain(h, z, a);
    const seq = seqOf(h);
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice', rid: 1 });
    expect(h.take(a)).toEqual([
      { type: 'selection_state', selected: { p: ['zoe', 'alice'] }, seq: seq + 1 },
      { type: 'ack', op: 'select', ok: true, rid: 1, expiresAt: T0 + TTL },
    ]);
  });

  it('acks a select with expiresAt and without a fence', () => {
    const { h, z } = threeUsers();
    h.clock.advance(3);
    select(h, z, 'zoe', 'p');
    expect(h.take(z).at(-1)).toEqual({ type: 'ack', op: 'select', ok: true, expiresAt: T0 + 3 + TTL });
    expect(h.engine.inspect().rooms[0]!.lastFence).toEqual([]);
  });

  it('lists every selector in selection order and tells the whole room', () => {
    const { h, z, a, b } = threeUsers();
    select(h, z, 'zoe', 'p');
    select(h, b, 'bob', 'p');
    select(h, a, 'alice', 'p');
    const last = { type: 'selection_state', selected: { p: ['zoe', 'bob', 'alice'] }, seq: seqOf(h) };
    for (const conn of [z, a, b]) {
      expect(h.take(conn).filter((m) => m.type === 'selection_state')).toEqual([
        { ...last, selected: { p: ['zoe'] }, seq: last.seq - 2 },
        { ...last, selected: { p: ['zoe', 'bob'] }, seq: last.seq - 1 },
        last,
      ]);
    }
  });

  it('moves a user’s one selection when it selects another planet, with a single selection_state', () => {
    const { h, z, a, b } = threeUsers();
    select(h, z, 'zoe', 'p');
    select(h, a, 'alice', 'p');
    drain(h, z, a, b);
    const seq = seqOf(h);
    select(h, z, 'zoe', 'q');
    const state = { type: 'selection_state', selected: { p: ['alice'], q: ['zoe'] }, seq: seq + 1 };
    expect(h.take(z)).toEqual([state, { type: 'ack', op: 'select', ok: true, expiresAt: T0 + TTL }]);
    expect(h.take(b)).toEqual([state]);
  });

  it('renews a selection on a select by the selector, without a broadcast', () => {
    const { h, z, a, b } = threeUsers();
    select(h, z, 'zoe', 'p');
    select(h, a, 'alice', 'p');
    drain(h, z, a, b);
    h.clock.advance(2_000);
    select(h, z, 'zoe', 'p');
    expect(h.take(z)).toEqual([{ type: 'ack', op: 'select', ok: true, expiresAt: T0 + 2_000 + TTL }]);
    expect(h.take(a)).toEqual([]);
    expect(h.take(b)).toEqual([]);
    // Re-selecting keeps zoe's place ahead of alice.
    expect(h.engine.inspect().rooms[0]!.selected).toEqual([['p', ['zoe', 'alice']]]);
  });

  it('renews a selection on the selector’s heartbeat, acking the new expiresAt', () => {
    const { h, z, a } = threeUsers();
    select(h, z, 'zoe', 'p');
    drain(h, z, a);
    h.clock.advance(5_000);
    h.send(z, { type: 'heartbeat', userId: 'zoe', ts: 9 });
    expect(h.take(z)).toEqual([
      { type: 'ack', op: 'heartbeat', ok: true, ts: 9, serverTs: T0 + 5_000, expiresAt: T0 + 5_000 + TTL },
    ]);
    h.advance(TTL - 5_000);
    expect(h.take(a)).toEqual([]);
    expect(h.engine.inspect().rooms[0]!.selected).toEqual([['p', ['zoe']]]);
  });

  it('expires each selection LOCK_TTL_MS after its grant or renewal, leaving the others listed', () => {
    const { h, z, a, b } = threeUsers();
    select(h, z, 'zoe', 'p');
    h.clock.advance(1_000);
    select(h, a, 'alice', 'p');
    drain(h, z, a, b);
    // Presence lasts 90 s, far past the TTL: only the selections' TTL acts here.
    h.advance(TTL - 1_000);
    expect(h.take(b)).toEqual([
      { type: 'selection_state', selected: { p: ['alice'] }, seq: expect.any(Number) },
    ]);
    h.advance(1_000);
    expect(h.take(b)).toEqual([{ type: 'selection_state', selected: {}, seq: expect.any(Number) }]);
  });

  it('refuses unselect by a user who has not selected the planet with NOT_SELECTED', () => {
    const { h, z, a } = threeUsers();
    select(h, z, 'zoe', 'p');
    drain(h, z, a);
    h.send(a, { type: 'unselect', planetId: 'p', userId: 'alice' });
    expect(h.take(a)).toEqual([
      { type: 'error', op: 'unselect', ok: false, code: 'NOT_SELECTED', message: expect.any(String) },
    ]);
    expect(h.take(z)).toEqual([]);
  });

  it('unselects one selector and keeps the rest listed', () => {
    const { h, z, a, b } = threeUsers();
    select(h, z, 'zoe', 'p');
    select(h, a, 'alice', 'p');
    drain(h, z, a, b);
    h.send(z, { type: 'unselect', planetId: 'p', userId: 'zoe' });
    const state = { type: 'selection_state', selected: { p: ['alice'] }, seq: seqOf(h) };
    expect(h.take(z)).toEqual([state, { type: 'ack', op: 'unselect', ok: true }]);
    expect(h.take(b)).toEqual([state]);
  });
});
