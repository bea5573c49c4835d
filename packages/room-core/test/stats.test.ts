import { describe, expect, it } from 'vitest';
import { harness } from './harness.js';

describe('stats', () => {
  it('counts what the core holds and returns to zero when everyone is gone', () => {
    const h = harness({ reconnectGraceMs: 1000 });
    expect(h.engine.stats()).toMatchObject({ connections: 0, rooms: 0, users: 0, pendingDeadlines: 0 });
    const a = h.join('alice');
    const b = h.join('bob');
    h.open('idle');
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
    for (const [conn, userId] of [
      [a, 'alice'],
      [b, 'bob'],
    ]) {
      h.send(conn!, { type: 'join_viewer', planetId: 'p', userId });
    }
    h.send(a, { type: 'camera', planetId: 'p', userId: 'alice', camera: { position: [0, 0, 1] } });
    h.send(a, { type: 'camera', planetId: 'p', userId: 'alice', camera: { position: [0, 0, 2] } });
    h.close(b, 'network');
    expect(h.engine.stats()).toEqual({
      connections: 2,
      boundConnections: 1,
      rooms: 1,
      users: 2,
      usersInGrace: 1,
      locks: 1,
      viewers: 2,
      cameras: 1,
      pendingRelays: 1,
      // alice's presence and lock, bob's grace end, the idle join timeout, alice's coalesced camera
      pendingDeadlines: 5,
      heapSize: expect.any(Number),
    });
    h.close(a, 'other');
    h.close('idle', 'other');
    h.advance(1000);
    expect(h.engine.stats()).toMatchObject({
      connections: 0,
      rooms: 0,
      users: 0,
      locks: 0,
      viewers: 0,
      cameras: 0,
      pendingRelays: 0,
      pendingDeadlines: 0,
    });
  });
});
