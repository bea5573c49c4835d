import { describe, expect, it } from 'vitest';
import { harness } from './harness.js';

const ackOf = (h: ReturnType<typeof harness>, conn: string) => h.take(conn).find((m) => m.type === 'ack');

describe('fences follow max(now × 1000, last fence for that room and planet + 1) exactly', () => {
  it('gives a fresh planet in another room exactly now × 1000 right after a room was removed', () => {
    const h = harness({}, 5_000);
    const a = h.join('alice', 'r1');
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
    h.send(a, { type: 'leave', userId: 'alice' });
    h.take(a);
    const b = h.join('bob', 'r2');
    h.send(b, { type: 'select', planetId: 'p', userId: 'bob' });
    expect(ackOf(h, b)).toMatchObject({ op: 'select', fence: 5_000_000 });
  });

  it('continues above the removed room’s fence when the same room and planet are re-created in the same ms', () => {
    const h = harness({}, 5_000);
    const a = h.join('alice', 'r1');
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
    h.send(a, { type: 'unselect', planetId: 'p', userId: 'alice' });
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice' }); // 5_000_001
    h.send(a, { type: 'leave', userId: 'alice' });
    h.take(a);
    const b = h.join('bob', 'r1');
    h.send(b, { type: 'select', planetId: 'p', userId: 'bob' });
    expect(ackOf(h, b)).toMatchObject({ op: 'select', fence: 5_000_002 });
  });

  it('forgets a removed room’s fences once time has moved past them', () => {
    const h = harness({}, 5_000);
    const a = h.join('alice', 'r1');
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
    h.send(a, { type: 'leave', userId: 'alice' });
    expect(h.engine.inspect().retiredFences).toEqual([['r1\u0000p', 5_000_000]]);
    h.advance(1);
    const b = h.join('bob', 'r2');
    h.send(b, { type: 'leave', userId: 'bob' });
    expect(h.engine.inspect().retiredFences).toEqual([]);
    const c = h.join('carol', 'r1');
    h.send(c, { type: 'select', planetId: 'p', userId: 'carol' });
    expect(ackOf(h, c)).toMatchObject({ op: 'select', fence: 5_001_000 });
  });
});

describe('the join ack', () => {
  it('lists the planets the user views in planetId order', () => {
    const h = harness();
    const a = h.join('alice');
    for (const planetId of ['c', 'a', 'b']) h.send(a, { type: 'join_viewer', planetId, userId: 'alice' });
    h.take(a);
    h.send(a, { type: 'join', roomId: 'room', user: { userId: 'alice' } });
    expect(h.take(a).at(-1)).toMatchObject({ type: 'ack', op: 'join', viewing: ['a', 'b', 'c'] });
  });
});

describe('time enters the core in whole milliseconds', () => {
  it('floors a fractional clock reading, so fences and expiry times stay integers', () => {
    const h = harness({}, 5_000.7724);
    const a = h.join('alice');
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
    expect(h.take(a).at(-1)).toMatchObject({ op: 'select', fence: 5_000_000, expiresAt: 305_000 });
  });
});
