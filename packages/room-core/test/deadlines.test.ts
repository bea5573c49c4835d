// CONTRACT §7 time: deadlines are applied before any command stamped at or after them, each due
// time in its own step, deadlines due together in the order camera relays, lock expiries, grace
// ends, presence expiries; nextDeadline() tells the shell when to tick; time never goes back.

import { parseClientValue } from '@exo/protocol';
import { describe, expect, it } from 'vitest';
import { type Harness, harness, types } from './harness.js';

const T0 = 1_000_000;

const seqOf = (h: Harness): number => h.engine.inspect().rooms.find((r) => r.roomId === 'room')!.seq;

describe('deadlines due together', () => {
  it('applies a lock expiry and a presence expiry of the same ms in one step: one presence, one selection_state', () => {
    const h = harness({ lockTtlMs: 10_000, presenceTimeoutMs: 10_000 }, T0);
    const a = h.join('alice');
    const b = h.join('bob');
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
    h.clock.advance(1);
    h.send(b, { type: 'heartbeat', userId: 'bob', ts: 1 });
    h.take(a);
    h.take(b);
    const seq = seqOf(h);
    const effects = h.advance(9_999);
    expect(h.take(b)).toEqual([
      {
        type: 'presence',
        users: [{ userId: 'bob', joinedAt: T0, lastSeen: T0 + 1, connected: true }],
        seq: seq + 1,
      },
      { type: 'selection_state', selected: {}, seq: seq + 1 },
    ]);
    expect(h.take(a)).toEqual([]);
    expect(effects.map((e) => e.type)).toEqual(['send', 'send', 'close']);
    expect(h.closeOf(a)).toMatchObject({ code: 4008 });
  });

  it('relays a coalesced camera before applying a presence expiry of the same ms', () => {
    const h = harness({ cameraMinIntervalMs: 1_000, presenceTimeoutMs: 600 }, T0);
    const a = h.join('alice');
    const b = h.join('bob');
    h.send(a, { type: 'join_viewer', planetId: 'p', userId: 'alice' });
    h.send(b, { type: 'join_viewer', planetId: 'p', userId: 'bob' });
    h.send(a, { type: 'camera', planetId: 'p', userId: 'alice', camera: { position: [1, 1, 1] } });
    h.clock.set(T0 + 400);
    // Inside the throttle interval: held until T0 + 1000, when alice's presence (seen at T0 + 400) also expires.
    h.send(a, { type: 'camera', planetId: 'p', userId: 'alice', camera: { position: [2, 2, 2] } });
    h.clock.set(T0 + 500);
    h.send(b, { type: 'heartbeat', userId: 'bob', ts: 1 });
    h.take(a);
    h.take(b);
    h.advance(499);
    expect(h.take(b)).toEqual([]);
    h.advance(1);
    const got = h.take(b);
    expect(types(got).sort()).toEqual(['camera', 'presence', 'viewer_cameras']);
    expect(got).toContainEqual({
      type: 'camera',
      planetId: 'p',
      userId: 'alice',
      camera: { position: [2, 2, 2] },
    });
    expect(got).toContainEqual({ type: 'viewer_cameras', planetId: 'p', cameras: {}, seq: seqOf(h) });
    expect(h.closeOf(a)).toMatchObject({ code: 4008 });
  });

  it('applies a grace end and a presence expiry of the same ms in one step: one presence', () => {
    const h = harness({ presenceTimeoutMs: 10_000, reconnectGraceMs: 5_000 }, T0);
    const a = h.join('alice');
    const b = h.join('bob');
    const c = h.join('carol');
    h.clock.set(T0 + 1);
    h.send(a, { type: 'heartbeat', userId: 'alice', ts: 1 });
    h.clock.set(T0 + 5_000);
    h.close(c, 'network');
    h.take(a);
    h.advance(5_000);
    expect(h.take(a)).toEqual([
      {
        type: 'presence',
        users: [{ userId: 'alice', joinedAt: T0, lastSeen: T0 + 1, connected: true }],
        seq: seqOf(h),
      },
    ]);
    expect(h.closeOf(b)).toMatchObject({ code: 4008 });
    expect(h.engine.inspect().rooms[0]!.members.map((m) => m.userId)).toEqual(['alice']);
  });
});

describe('deadlines and commands', () => {
  it('applies a deadline due at the command’s own ms first: a heartbeat at its presence deadline is too late', () => {
    const h = harness({ presenceTimeoutMs: 10_000 }, T0);
    const a = h.join('alice');
    h.clock.set(T0 + 10_000);
    const effects = h.send(a, { type: 'heartbeat', userId: 'alice', ts: 1 });
    expect(effects).toEqual([{ type: 'close', conn: a, code: 4008, reason: 'presence expired' }]);
    expect(h.take(a)).toEqual([]);
    expect(h.engine.inspect().rooms).toEqual([]);
  });

  it('applies every earlier due time in its own step, in time order, before the command', () => {
    const h = harness({ lockTtlMs: 10_000, presenceTimeoutMs: 20_000 }, T0);
    const a = h.join('alice');
    const b = h.join('bob');
    h.join('carol');
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
    // Seen again without renewing the lock: the lock expires at T0 + 10 s, carol's presence at T0 + 20 s,
    // alice's and bob's at T0 + 29 s.
    h.clock.set(T0 + 9_000);
    h.send(a, { type: 'join_viewer', planetId: 'q', userId: 'alice' });
    h.send(b, { type: 'join_viewer', planetId: 'q', userId: 'bob' });
    h.take(b);
    const seq = seqOf(h);
    h.clock.set(T0 + 25_000);
    h.send(b, { type: 'heartbeat', userId: 'bob', ts: 3 });
    expect(h.take(b)).toEqual([
      { type: 'selection_state', selected: {}, seq: seq + 1 },
      {
        type: 'presence',
        users: [
          { userId: 'alice', joinedAt: T0, lastSeen: T0 + 9_000, connected: true },
          // Built in the expiry's step, before the heartbeat that follows it.
          { userId: 'bob', joinedAt: T0, lastSeen: T0 + 9_000, connected: true },
        ],
        seq: seq + 2,
      },
      { type: 'ack', op: 'heartbeat', ok: true, ts: 3, serverTs: T0 + 25_000 },
    ]);
  });

  it('applies a deadline on a tick at exactly its time, not a millisecond before', () => {
    const h = harness({ lockTtlMs: 10_000 }, T0);
    const a = h.join('alice');
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
    h.take(a);
    const due = h.engine.nextDeadline()!;
    expect(due).toBe(T0 + 10_000);
    h.clock.set(due - 1);
    expect(h.engine.tick()).toEqual([]);
    h.clock.set(due);
    expect(h.engine.tick()).toEqual([
      { type: 'send', to: [a], message: { type: 'selection_state', selected: {}, seq: seqOf(h) } },
    ]);
  });

  it('treats a command stamped before the latest time seen as happening now', () => {
    const h = harness({ lockTtlMs: 10_000 }, T0);
    const a = h.join('alice');
    const b = h.join('bob');
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
    h.engine.apply({ type: 'tick', at: T0 + 10_000 });
    expect(h.engine.inspect().rooms[0]!.selected).toEqual([]);
    h.take(b);
    // Stamped before the expiry already applied: the lock stays expired, and the grant is dated now.
    const frame = (conn: string, message: object, at: number) =>
      h.engine.apply({ type: 'frame', conn, at, input: parseClientValue(message) });
    const effects = frame(b, { type: 'select', planetId: 'p', userId: 'bob' }, T0 + 5_000);
    expect(effects.at(-1)).toEqual({
      type: 'send',
      to: [b],
      message: { type: 'ack', op: 'select', ok: true, expiresAt: T0 + 20_000, fence: (T0 + 10_000) * 1000 },
    });
    expect(h.engine.inspect().now).toBe(T0 + 10_000);
    expect(h.engine.inspect().rooms[0]!.members.find((m) => m.userId === 'bob')!.lastSeen).toBe(T0 + 10_000);
    const hb = frame(b, { type: 'heartbeat', userId: 'bob', ts: 0 }, T0);
    expect(hb).toEqual([
      {
        type: 'send',
        to: [b],
        message: {
          type: 'ack',
          op: 'heartbeat',
          ok: true,
          ts: 0,
          serverTs: T0 + 10_000,
          expiresAt: T0 + 20_000,
        },
      },
    ]);
  });
});

describe('nextDeadline', () => {
  it('is null when nothing is pending', () => {
    const h = harness({}, T0);
    expect(h.engine.nextDeadline()).toBeNull();
    h.open('c-x');
    h.close('c-x', 'other');
    expect(h.engine.nextDeadline()).toBeNull();
  });

  it('is the join timeout of a connection that has not joined', () => {
    const h = harness({ joinTimeoutMs: 7_000 }, T0);
    h.open('c-x');
    expect(h.engine.nextDeadline()).toBe(T0 + 7_000);
  });

  it('is the presence expiry of a member that holds nothing', () => {
    const h = harness({ presenceTimeoutMs: 30_000 }, T0);
    h.join('alice');
    expect(h.engine.nextDeadline()).toBe(T0 + 30_000);
  });

  it('is a lock expiry when it comes first', () => {
    const h = harness({ lockTtlMs: 5_000, presenceTimeoutMs: 30_000 }, T0);
    const a = h.join('alice');
    h.clock.advance(3);
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
    expect(h.engine.nextDeadline()).toBe(T0 + 3 + 5_000);
  });

  it('is a coalesced camera relay when it comes first', () => {
    const h = harness({ cameraMinIntervalMs: 50 }, T0);
    const a = h.join('alice');
    h.send(a, { type: 'join_viewer', planetId: 'p', userId: 'alice' });
    h.send(a, { type: 'camera', planetId: 'p', userId: 'alice', camera: { position: [0, 0, 0] } });
    expect(h.engine.nextDeadline()).toBe(T0 + 90_000);
    h.clock.advance(10);
    h.send(a, { type: 'camera', planetId: 'p', userId: 'alice', camera: { position: [1, 0, 0] } });
    expect(h.engine.nextDeadline()).toBe(T0 + 50);
  });

  it('follows a renewal: ticking at each reported deadline frees the lock exactly at the renewed expiresAt', () => {
    const h = harness({ lockTtlMs: 5_000, presenceTimeoutMs: 30_000 }, T0);
    const a = h.join('alice');
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
    h.clock.set(T0 + 2_000);
    h.send(a, { type: 'heartbeat', userId: 'alice', ts: 0 });
    h.take(a);
    // Renewals re-arm lazily, so the shell may be woken early (and then nothing happens), never late.
    let due = h.engine.nextDeadline()!;
    for (let wakeups = 0; due < T0 + 7_000 && wakeups < 3; wakeups++) {
      h.clock.set(due);
      expect(h.engine.tick()).toEqual([]);
      due = h.engine.nextDeadline()!;
    }
    expect(due).toBe(T0 + 7_000);
    h.clock.set(due);
    h.engine.tick();
    expect(h.engine.inspect().rooms[0]!.selected).toEqual([]);
  });
});
