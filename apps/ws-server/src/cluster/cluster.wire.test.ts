// Cluster mode in one process: servers sharing one in-memory store behave as one server
// (CONTRACT §9). Fast and Redis-free; test/cluster.test.ts runs real daemons on a real Redis.

import type { ServerMessage } from '@exo/protocol';
import { describe, expect, it } from 'vitest';
import { connect, eventually, joined, serverPerTest, type TestClient } from '../../test/kit.js';
import type { ExoServerOptions } from '../server.js';
import { InMemoryRoomStore } from './memory-store.js';
import type { RoomStore } from './store.js';

const server = serverPerTest();

function clustered(store: InMemoryRoomStore, procId: string, extra: ExoServerOptions = {}) {
  return server({ ...extra, cluster: { store, procId } });
}

/** The store with some methods replaced (a slow or late backend); the rest are the store's own. */
function patched(store: InMemoryRoomStore, patch: Partial<RoomStore>): RoomStore {
  return new Proxy(store, {
    get(target, key) {
      const own = patch[key as keyof RoomStore];
      if (own !== undefined) return own;
      const value = Reflect.get(target, key);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

async function view(client: TestClient, userId: string, planetId: string): Promise<ServerMessage[]> {
  client.send({ type: 'join_viewer', userId, planetId, rid: `v-${userId}` });
  return client.until('ack');
}

describe('two processes sharing one store', () => {
  it('show each other presence, selection_state and conflicts with the rid echoed', async () => {
    const store = new InMemoryRoomStore();
    const a = await clustered(store, 'a');
    const b = await clustered(store, 'b');
    const alice = await joined(a.url, 'alice');
    const bob = await joined(b.url, 'bob');
    expect((await alice.next('presence')).users.map((u) => u.userId)).toEqual(['alice', 'bob']);
    bob.send({ type: 'select', userId: 'bob', planetId: 'p', rid: 's1' });
    const [state] = await Promise.all([alice.next('selection_state'), bob.until('ack')]);
    expect(state.selected).toEqual({ p: ['bob'] });
    alice.send({ type: 'select', userId: 'alice', planetId: 'p', rid: 's2' });
    expect(await alice.next('conflict')).toMatchObject({ planetId: 'p', lockedBy: 'bob', rid: 's2' });
  });

  it('relay cameras across processes, and a late viewer gets the other process user camera', async () => {
    const store = new InMemoryRoomStore();
    const a = await clustered(store, 'a');
    const b = await clustered(store, 'b');
    const alice = await joined(a.url, 'alice');
    const bob = await joined(b.url, 'bob');
    await alice.next('presence');
    await view(alice, 'alice', 'p');
    await view(bob, 'bob', 'p');
    bob.send({ type: 'camera', userId: 'bob', planetId: 'p', camera: { position: [1, 2, 3] } });
    expect(await alice.next('camera')).toEqual({
      type: 'camera',
      planetId: 'p',
      camera: { position: [1, 2, 3] },
      userId: 'bob',
    });
    const carol = await joined(a.url, 'carol');
    const snapshot = (await view(carol, 'carol', 'p')).find((m) => m.type === 'viewer_cameras');
    expect(snapshot).toMatchObject({ planetId: 'p', cameras: { bob: { position: [1, 2, 3] } } });
  });

  it('move a user to another process by takeover, lock and fence included', async () => {
    const store = new InMemoryRoomStore();
    const a = await clustered(store, 'a');
    const b = await clustered(store, 'b');
    const old = await connect(a.url);
    old.send({ type: 'join', roomId: 'room', user: { userId: 'alice' }, rid: 'j' });
    const ack = (await old.until('ack')).at(-1) as { resumeToken: string };
    old.send({ type: 'select', userId: 'alice', planetId: 'p', rid: 's' });
    const granted = (await old.until('ack')).at(-1) as { fence: number };
    const moved = await connect(b.url);
    moved.send({
      type: 'join',
      roomId: 'room',
      user: { userId: 'alice' },
      resumeToken: ack.resumeToken,
      rid: 't',
    });
    const welcome = await moved.until('ack');
    expect(welcome.at(-1)).toMatchObject({ op: 'join', lock: { planetId: 'p', fence: granted.fence } });
    expect(await old.next('error')).toMatchObject({ code: 'SESSION_REPLACED' });
    expect(await old.closed()).toEqual({ code: 4001, reason: 'session replaced' });
    const stranger = await connect(b.url);
    stranger.send({
      type: 'join',
      roomId: 'room',
      user: { userId: 'alice' },
      resumeToken: 'wrong',
      rid: 'x',
    });
    expect(await stranger.next('error')).toMatchObject({ code: 'FORBIDDEN', rid: 'x' });
  });

  it('keep a drained process users for 15 s, connected:false with their locks, until a takeover elsewhere', async () => {
    const store = new InMemoryRoomStore();
    const a = await clustered(store, 'a');
    const b = await clustered(store, 'b');
    const alice = await connect(a.url);
    alice.send({ type: 'join', roomId: 'room', user: { userId: 'alice' }, rid: 'j' });
    const { resumeToken } = (await alice.until('ack')).at(-1) as { resumeToken: string };
    alice.send({ type: 'select', userId: 'alice', planetId: 'p', rid: 's' });
    const { fence } = (await alice.until('ack')).at(-1) as { fence: number };
    const bob = await joined(b.url, 'bob');
    await alice.next('presence');
    await a.close();
    expect((await alice.closed()).code).toBe(1001);
    const presence = await bob.next('presence');
    expect(presence.users.map((u) => [u.userId, u.connected])).toEqual([
      ['alice', false],
      ['bob', true],
    ]);
    await bob.quiet(100);
    const back = await connect(b.url);
    back.send({ type: 'join', roomId: 'room', user: { userId: 'alice' }, resumeToken, rid: 'r' });
    expect((await back.until('ack')).at(-1)).toMatchObject({ lock: { planetId: 'p', fence } });
  });

  it('count MAX_ROOMS across processes', async () => {
    const store = new InMemoryRoomStore();
    const a = await clustered(store, 'a', { core: { maxRooms: 2 } });
    const b = await clustered(store, 'b', { core: { maxRooms: 2 } });
    const one = await joined(a.url, 'u1', 'r1');
    await joined(b.url, 'u2', 'r2');
    const third = await connect(a.url);
    third.send({ type: 'join', roomId: 'r3', user: { userId: 'u3' }, rid: 'j3' });
    expect(await third.next('error')).toMatchObject({ code: 'LIMIT_EXCEEDED', rid: 'j3' });
    // A refused creation writes nothing: scripted clients cannot fill the store with tombstones.
    expect((await store.load('r3')).room).toBeNull();
    one.send({ type: 'leave', userId: 'u1', rid: 'l' });
    await one.until('ack');
    third.send({ type: 'join', roomId: 'r3', user: { userId: 'u3' }, rid: 'j4' });
    expect((await third.until('ack')).at(-1)).toMatchObject({ op: 'join', rid: 'j4' });
  });
});

describe('presence across processes', () => {
  it('keeps a user who only sends cameras, and expires it once it stops, seen from another process', async () => {
    const store = new InMemoryRoomStore();
    const core = { presenceTimeoutMs: 400, cameraMinIntervalMs: 0 };
    const a = await clustered(store, 'a', { core });
    const b = await clustered(store, 'b', { core });
    const alice = await joined(a.url, 'alice');
    const bob = await joined(b.url, 'bob');
    await alice.next('presence');
    await view(alice, 'alice', 'p');
    await view(bob, 'bob', 'p');
    const started = Date.now();
    // Bob heartbeats; alice only moves her camera, for 2.5 presence timeouts.
    while (Date.now() - started < 1000) {
      alice.send({
        type: 'camera',
        userId: 'alice',
        planetId: 'p',
        camera: { position: [Date.now() % 7, 0, 0] },
      });
      bob.send({ type: 'heartbeat', userId: 'bob', ts: Date.now() });
      await new Promise((resolve) => setTimeout(resolve, 60));
    }
    expect(bob.inbox.filter((m) => m.type === 'presence')).toEqual([]);
    const stopped = Date.now();
    const keepBob = setInterval(() => bob.send({ type: 'heartbeat', userId: 'bob', ts: Date.now() }), 60);
    try {
      expect(await alice.closed()).toEqual({ code: 4008, reason: 'presence expired' });
      expect(Date.now() - stopped).toBeGreaterThanOrEqual(300);
      const presence = await bob.until('presence');
      expect((presence.at(-1) as { users: { userId: string }[] }).users.map((u) => u.userId)).toEqual([
        'bob',
      ]);
    } finally {
      clearInterval(keepBob);
    }
  });
});

describe('races between processes', () => {
  it('ignores a frame the replaced connection sent before its close reached its process', async () => {
    const store = new InMemoryRoomStore();
    // Auth on: a join as the credential's user is a takeover without any resumeToken.
    const authenticate = async (req: { url?: string | undefined }) => ({
      userId: new URL(req.url ?? '/', 'http://x').searchParams.get('user') ?? 'nobody',
    });
    // Process a hears of room steps 150 ms late: the takeover's close has not reached it when the
    // old socket's late join is applied.
    const late = patched(store, {
      subscribe: (proc, onMessage) =>
        store.subscribe(proc, (payload) => {
          setTimeout(() => onMessage(payload), 150);
        }),
    });
    const a = await server({ authenticate, cluster: { store: late, procId: 'a' } });
    const b = await clustered(store, 'b', { authenticate });
    const old = await joined(`${a.url}?user=alice`, 'alice');
    const moved = await connect(`${b.url}?user=alice`);
    moved.send({ type: 'join', roomId: 'room', user: { userId: 'alice' }, rid: 'takeover' });
    await moved.until('ack');
    old.send({ type: 'join', roomId: 'room', user: { userId: 'alice' }, rid: 'late' });
    expect(await old.next('error')).toMatchObject({ code: 'SESSION_REPLACED' });
    expect(await old.closed()).toEqual({ code: 4001, reason: 'session replaced' });
    await moved.quiet(300);
    expect(moved.ws.readyState).toBe(moved.ws.OPEN);
  });

  it('gives a new viewer a camera stored between its snapshot read and its step commit', async () => {
    const store = new InMemoryRoomStore();
    let stall: Promise<void> | null = null;
    let reached: () => void = () => {};
    // Process b's commits wait for `stall` when set: bob's join_viewer has read the snapshot,
    // alice's relay is stored meanwhile, then the step commits.
    const slow = patched(store, {
      commit: async (commit) => {
        if (stall !== null) {
          reached();
          await stall;
        }
        return store.commit(commit);
      },
    });
    const a = await clustered(store, 'a');
    const b = await server({ cluster: { store: slow, procId: 'b' } });
    const alice = await joined(a.url, 'alice');
    const bob = await joined(b.url, 'bob');
    await alice.next('presence');
    await view(alice, 'alice', 'p');
    alice.send({ type: 'camera', userId: 'alice', planetId: 'p', camera: { position: [1, 0, 0] } });
    let release: () => void = () => {};
    stall = new Promise<void>((resolve) => {
      release = resolve;
    });
    const atCommit = new Promise<void>((resolve) => {
      reached = resolve;
    });
    bob.send({ type: 'join_viewer', userId: 'bob', planetId: 'p', rid: 'v' });
    await atCommit;
    await new Promise((resolve) => setTimeout(resolve, 80)); // past the throttle interval
    alice.send({ type: 'camera', userId: 'alice', planetId: 'p', camera: { position: [2, 0, 0] } });
    await new Promise((resolve) => setTimeout(resolve, 30));
    stall = null;
    release();
    const [snapshot, ack] = [await bob.next('viewer_cameras'), await bob.next('ack')];
    expect(snapshot.cameras).toEqual({ alice: { position: [1, 0, 0] } });
    expect(ack).toMatchObject({ op: 'join_viewer', rid: 'v' });
    expect(await bob.next('camera')).toEqual({
      type: 'camera',
      planetId: 'p',
      camera: { position: [2, 0, 0] },
      userId: 'alice',
    });
    await bob.quiet(100);
  });
});

describe('a store outage', () => {
  it('answers INTERNAL with the rid and turns not-ready, then recovers by itself', async () => {
    const store = new InMemoryRoomStore();
    const a = await clustered(store, 'a');
    const alice = await joined(a.url, 'alice');
    store.setUp(false);
    expect(a.storeReachable).toBe(false);
    alice.send({ type: 'select', userId: 'alice', planetId: 'p', rid: 's1' });
    const error = await alice.next('error');
    expect(error).toMatchObject({ op: 'select', code: 'INTERNAL', rid: 's1' });
    expect(error.message).toMatch(/unreachable/);
    store.setUp(true);
    expect(a.storeReachable).toBe(true);
    alice.send({ type: 'select', userId: 'alice', planetId: 'p', rid: 's2' });
    expect((await alice.until('ack')).at(-1)).toMatchObject({ op: 'select', rid: 's2' });
  });
});

describe('a store that stops answering without dropping the connection', () => {
  it('turns the process not-ready and answers INTERNAL instead of hanging', async () => {
    const store = new InMemoryRoomStore();
    let frozen = false;
    const never = new Promise<never>(() => {});
    const hanging = patched(store, {
      beat: (proc, ttlMs) => (frozen ? never : store.beat(proc, ttlMs)),
      load: (roomId) => (frozen ? never : store.load(roomId)),
    });
    // presenceTimeoutMs 900: a liveness TTL of 300 ms, so not-ready after 600 ms without a beat.
    const a = await server({ core: { presenceTimeoutMs: 900 }, cluster: { store: hanging, procId: 'a' } });
    const alice = await joined(a.url, 'alice');
    expect(a.storeReachable).toBe(true);
    frozen = true;
    await eventually(() => expect(a.storeReachable).toBe(false), 2000);
    alice.send({ type: 'heartbeat', userId: 'alice', ts: 1, rid: 'h' });
    const started = Date.now();
    const answer = await new Promise<ServerMessage>((resolve) => {
      alice.ws.once('message', (data) => resolve(JSON.parse(String(data)) as ServerMessage));
    });
    expect(answer).toMatchObject({ type: 'error', op: 'heartbeat', code: 'INTERNAL', rid: 'h' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(4000);
  }, 10_000);
});

describe('a connection in cluster mode', () => {
  it('is not closed for a join timeout while its join, sent in time, is still being applied', async () => {
    const store = new InMemoryRoomStore();
    // Every load takes 80 ms: a join sent at 60 ms is applied after the 100 ms timeout came due.
    const slow = patched(store, {
      load: async (roomId) => {
        await new Promise((resolve) => setTimeout(resolve, 80));
        return store.load(roomId);
      },
    });
    const a = await server({ core: { joinTimeoutMs: 100 }, cluster: { store: slow, procId: 'a' } });
    const client = await connect(a.url);
    await new Promise((resolve) => setTimeout(resolve, 60));
    client.send({ type: 'join', roomId: 'room', user: { userId: 'alice' }, rid: 'j' });
    expect((await client.until('ack')).at(-1)).toMatchObject({ op: 'join', rid: 'j' });
    await client.quiet(150);
    await eventually(() => expect(a.engine.stats().boundConnections).toBe(1));
  });
});
