// Cluster mode in one process: two or three servers sharing one in-memory store behave as one
// server (CONTRACT §9). The same engine runs over Redis in test/cluster.test.ts.

import { describe, expect, it } from 'vitest';
import { connect, serverPerTest } from '../../test/kit.js';
import type { ExoServerOptions } from '../server.js';
import { InMemoryRoomStore } from './memory-store.js';

const server = serverPerTest();

function clustered(store: InMemoryRoomStore, procId: string, extra: ExoServerOptions = {}) {
  return server({ ...extra, cluster: { store, procId } });
}

async function joinAs(url: string, userId: string, roomId = 'room') {
  const c = await connect(url);
  c.send({ type: 'join', roomId, user: { userId }, rid: `j-${userId}` });
  await c.until('ack');
  return c;
}

describe('two processes sharing one store', () => {
  it('users on different processes see each other in presence', async () => {
    const store = new InMemoryRoomStore();
    const a = await clustered(store, 'a');
    const b = await clustered(store, 'b');
    const alice = await joinAs(a.url, 'alice');
    const bob = await joinAs(b.url, 'bob');
    const seen = await alice.next('presence');
    expect(seen.users.map((u) => u.userId)).toEqual(['alice', 'bob']);
    bob.send({ type: 'select', userId: 'bob', planetId: 'p', rid: 's1' });
    const [state] = await Promise.all([alice.next('selection_state'), bob.until('ack')]);
    expect(state.selected).toEqual({ p: ['bob'] });
    alice.send({ type: 'select', userId: 'alice', planetId: 'p', rid: 's2' });
    const conflict = await alice.next('conflict');
    expect(conflict).toMatchObject({ planetId: 'p', lockedBy: 'bob', rid: 's2' });
  });

  it('relays cameras across processes', async () => {
    const store = new InMemoryRoomStore();
    const a = await clustered(store, 'a');
    const b = await clustered(store, 'b');
    const alice = await joinAs(a.url, 'alice');
    const bob = await joinAs(b.url, 'bob');
    await alice.next('presence');
    for (const [c, u] of [
      [alice, 'alice'],
      [bob, 'bob'],
    ] as const) {
      c.send({ type: 'join_viewer', userId: u, planetId: 'p', rid: `v-${u}` });
      await c.until('ack');
    }
    bob.send({ type: 'camera', userId: 'bob', planetId: 'p', camera: { position: [1, 2, 3] } });
    const relay = await alice.until('camera');
    expect(relay.at(-1)).toEqual({
      type: 'camera',
      planetId: 'p',
      camera: { position: [1, 2, 3] },
      userId: 'bob',
    });
  });
});
