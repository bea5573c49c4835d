import { describe, expect, it } from 'vitest';
import { harness, types } from './harness.js';

describe('a room in brief', () => {
  it('lets two users see each other, lock a planet, conflict, and relay cameras', () => {
    const h = harness();
    const a = h.join('alice');
    expect(h.engine.inspect().rooms[0]?.members.map((m) => m.userId)).toEqual(['alice']);
    h.open('c-bob');
    h.send('c-bob', { type: 'join', roomId: 'room', user: { userId: 'bob', color: '#ABC' }, rid: 7 });
    expect(types(h.take('c-bob'))).toEqual(['presence', 'selection_state', 'ack']);
    expect(types(h.take(a))).toEqual(['presence']);
    h.send(a, { type: 'select', planetId: 'kepler-22b', userId: 'alice', rid: 'x' });
    const [state, answer] = h.take(a);
    expect(state).toMatchObject({ type: 'selection_state', selected: { 'kepler-22b': ['alice'] } });
    expect(answer).toMatchObject({ type: 'ack', op: 'select', rid: 'x', fence: 1_000_000_000 });
    h.take('c-bob');
    h.send('c-bob', { type: 'select', planetId: 'kepler-22b', userId: 'bob' });
    expect(h.take('c-bob')).toEqual([
      { type: 'conflict', planetId: 'kepler-22b', lockedBy: 'alice', reason: 'locked', expiresAt: 1_300_000 },
    ]);
    h.send(a, { type: 'join_viewer', planetId: 'p', userId: 'alice' });
    h.send('c-bob', { type: 'join_viewer', planetId: 'p', userId: 'bob' });
    h.take(a);
    h.take('c-bob');
    h.send(a, { type: 'camera', planetId: 'p', userId: 'alice', camera: { position: [1, 2, 3] } });
    expect(h.take('c-bob')).toEqual([
      { type: 'camera', planetId: 'p', userId: 'alice', camera: { position: [1, 2, 3] } },
    ]);
    expect(h.take(a)).toEqual([]);
  });
});
