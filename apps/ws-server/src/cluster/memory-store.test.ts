import { describe, expect, it } from 'vitest';
import { InMemoryRoomStore } from './memory-store.js';
import { type RoomCommit, type RoomStore, StoreUnavailableError } from './store.js';
import { describeRoomStoreContract } from './store-contract.js';

// Several "processes" share one instance, so every client of a backend is that instance.
describeRoomStoreContract('InMemoryRoomStore', async () => {
  const store = new InMemoryRoomStore();
  return { store: async () => store, cleanup: () => store.close() };
});

function manualClock(start = 1_000_000) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

const create = (roomId: string, fields: Partial<RoomCommit> = {}): RoomCommit => ({
  roomId,
  expect: 0,
  doc: `doc of ${roomId}`,
  live: true,
  ttlMs: 1000,
  nextDeadline: null,
  procs: [],
  dropProcs: [],
  publish: [],
  ...fields,
});

describe('InMemoryRoomStore on an injected clock', () => {
  it('expires a room, its cameras and its deadline exactly ttlMs after the last write', async () => {
    const clock = manualClock();
    const store = new InMemoryRoomStore({ clock });
    await store.commit(create('r1', { ttlMs: 1000, nextDeadline: 5 }));
    await store.relay({ roomId: 'r1', field: 'u1', value: 'cam', ttlMs: 1000, publish: [] });
    clock.advance(999);
    expect(await store.load('r1')).toEqual({
      room: { version: 1, doc: 'doc of r1' },
      cameras: new Map([['u1', 'cam']]),
      roomCount: 1,
    });
    expect(await store.nextDeadline()).toBe(5);
    clock.advance(1);
    expect(await store.load('r1')).toEqual({ room: null, cameras: new Map(), roomCount: 0 });
    expect(await store.nextDeadline()).toBeNull();
  });

  it('declares a process dead exactly when its liveness ttl has passed', async () => {
    const clock = manualClock();
    const store = new InMemoryRoomStore({ clock });
    await store.beat('p1', 500);
    clock.advance(499);
    expect(await store.deadProcs()).toEqual([]);
    clock.advance(1);
    expect(await store.deadProcs()).toEqual(['p1']);
  });

  it("drops a process's room index ten liveness ttls after its last beat", async () => {
    const clock = manualClock();
    const store = new InMemoryRoomStore({ clock });
    await store.commit(create('r1', { procs: ['p1'], ttlMs: 60_000 }));
    await store.beat('p1', 100);
    clock.advance(999);
    expect(await store.roomsOf('p1')).toEqual(['r1']);
    clock.advance(1);
    expect(await store.roomsOf('p1')).toEqual([]);
  });
});

describe('InMemoryRoomStore outage (setUp)', () => {
  const everyMethod = (store: RoomStore): Array<[string, () => Promise<unknown>]> => [
    ['load', () => store.load('r1')],
    ['commit', () => store.commit(create('r1'))],
    ['relay', () => store.relay({ roomId: 'r1', field: 'u1', value: 'cam', ttlMs: 1000, publish: [] })],
    ['subscribe', () => store.subscribe('p2', () => {})],
    ['dueRooms', () => store.dueRooms(0, 10)],
    ['nextDeadline', () => store.nextDeadline()],
    ['beat', () => store.beat('p1', 1000)],
    ['deadProcs', () => store.deadProcs()],
    ['roomsOf', () => store.roomsOf('p1')],
    ['forget', () => store.forget('p1')],
    ['ping', () => store.ping()],
  ];

  it('rejects every method with StoreUnavailableError while down', async () => {
    const store = new InMemoryRoomStore();
    store.setUp(false);
    expect(store.up).toBe(false);
    for (const [name, call] of everyMethod(store)) {
      await expect(call(), name).rejects.toThrow(StoreUnavailableError);
    }
    await expect(store.close()).resolves.toBeUndefined();
  });

  it('tells status listeners of each change, once', async () => {
    const store = new InMemoryRoomStore();
    const heard: boolean[] = [];
    store.onStatus((up) => heard.push(up));
    store.setUp(false);
    store.setUp(false);
    store.setUp(true);
    store.setUp(true);
    expect(heard).toEqual([false, true]);
  });

  it('keeps its data and subscriptions across an outage', async () => {
    const store = new InMemoryRoomStore();
    const received: string[] = [];
    await store.subscribe('p1', (payload) => received.push(payload));
    await store.commit(create('r1'));
    store.setUp(false);
    await expect(store.commit(create('r1', { expect: 1 }))).rejects.toThrow(StoreUnavailableError);
    store.setUp(true);
    expect((await store.load('r1')).room).toEqual({ version: 1, doc: 'doc of r1' });
    const publish = [{ proc: 'p1', payload: 'after' }];
    expect(await store.commit(create('r1', { expect: 1, publish }))).toBe('ok');
    await Promise.resolve();
    expect(received).toEqual(['after']);
  });
});
