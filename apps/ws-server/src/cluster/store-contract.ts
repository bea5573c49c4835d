// The RoomStore contract as a vitest suite: every implementation runs it (memory-store.test.ts,
// redis-store.test.ts), so the cluster engine can be tested on the in-memory store and trusted on
// Redis. Each test gets a fresh backend; `store()` opens another client on it, the way each
// process of a cluster has its own connection to the one Redis. "Nothing was published" is shown
// by order, never by waiting: a marker published afterwards must be the first message to arrive.
// Only the TTL and liveness tests wait, for keys to expire.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CameraWrite, RoomCommit, RoomStore } from './store.js';

export interface StoreBackend {
  /** A new client on the same backend each call (the in-memory store may return itself). */
  store(): Promise<RoomStore>;
  /** Closes every client handed out and forgets the backend's data. */
  cleanup(): Promise<void>;
}

const LONG_TTL_MS = 60_000;
/** Deadlines are milliseconds since the epoch: keep them realistic so no precision is lost. */
const T0 = 1_700_000_000_000;
const DELIVERY_TIMEOUT_MS = 2000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function commitOf(fields: Partial<RoomCommit> & { roomId: string }): RoomCommit {
  return {
    expect: 0,
    doc: `doc of ${fields.roomId}`,
    live: true,
    ttlMs: LONG_TTL_MS,
    nextDeadline: null,
    procs: [],
    dropProcs: [],
    publish: [],
    ...fields,
  };
}

function cameraOf(fields: Partial<CameraWrite> & { roomId: string; field: string }): CameraWrite {
  return { value: `camera of ${fields.field}`, ttlMs: LONG_TTL_MS, publish: [], ...fields };
}

interface Inbox {
  readonly messages: string[];
  /** Resolves with every message once at least `count` have arrived. */
  take(count: number): Promise<string[]>;
}

async function inbox(store: RoomStore, proc: string): Promise<Inbox> {
  const messages: string[] = [];
  let wake = (): void => {};
  await store.subscribe(proc, (payload) => {
    messages.push(payload);
    wake();
  });
  return {
    messages,
    take: (count) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`${proc} got ${JSON.stringify(messages)}, expected ${count} messages`));
        }, DELIVERY_TIMEOUT_MS);
        wake = () => {
          if (messages.length < count) return;
          clearTimeout(timer);
          resolve([...messages]);
        };
        wake();
      }),
  };
}

export function describeRoomStoreContract(name: string, factory: () => Promise<StoreBackend>): void {
  describe(`${name} (RoomStore contract)`, () => {
    let backend: StoreBackend;
    let store: RoomStore;
    beforeEach(async () => {
      backend = await factory();
      store = await backend.store();
    });
    afterEach(async () => {
      await backend.cleanup();
    });

    describe('versions', () => {
      it('reads an absent room as null, with no cameras and no live rooms', async () => {
        expect(await store.load('r1')).toEqual({ room: null, cameras: new Map(), roomCount: 0 });
      });

      it('creates a room at version 1 and raises the version by one per commit', async () => {
        expect(await store.commit(commitOf({ roomId: 'r1', expect: 0, doc: 'first' }))).toBe('ok');
        expect((await store.load('r1')).room).toEqual({ version: 1, doc: 'first' });
        expect(await store.commit(commitOf({ roomId: 'r1', expect: 1, doc: 'second' }))).toBe('ok');
        expect(await store.commit(commitOf({ roomId: 'r1', expect: 2, doc: 'third' }))).toBe('ok');
        expect((await store.load('r1')).room).toEqual({ version: 3, doc: 'third' });
      });

      it('refuses a commit whose expected version is stale and keeps the stored document', async () => {
        await store.commit(commitOf({ roomId: 'r1', doc: 'v1' }));
        await store.commit(commitOf({ roomId: 'r1', expect: 1, doc: 'v2' }));
        expect(await store.commit(commitOf({ roomId: 'r1', expect: 1, doc: 'stale' }))).toBe('clash');
        expect(await store.commit(commitOf({ roomId: 'r1', expect: 0, doc: 'create' }))).toBe('clash');
        expect(await store.commit(commitOf({ roomId: 'r2', expect: 4, doc: 'ahead' }))).toBe('clash');
        expect((await store.load('r1')).room).toEqual({ version: 2, doc: 'v2' });
        expect((await store.load('r2')).room).toBeNull();
      });

      it('lets exactly one of two concurrent commits on the same version through', async () => {
        const other = await backend.store();
        await store.commit(commitOf({ roomId: 'r1', doc: 'base' }));
        const results = await Promise.all([
          store.commit(commitOf({ roomId: 'r1', expect: 1, doc: 'from a' })),
          other.commit(commitOf({ roomId: 'r1', expect: 1, doc: 'from b' })),
        ]);
        expect([...results].sort()).toEqual(['clash', 'ok']);
        const winner = results[0] === 'ok' ? 'from a' : 'from b';
        expect((await other.load('r1')).room).toEqual({ version: 2, doc: winner });
      });

      it('lets exactly one of several concurrent creations of one room through', async () => {
        const clients = [store, await backend.store(), await backend.store()];
        const results = await Promise.all(
          clients.map((client, i) => client.commit(commitOf({ roomId: 'r1', doc: `creator ${i}` }))),
        );
        expect(results.filter((result) => result === 'ok')).toHaveLength(1);
        expect((await store.load('r1')).room?.version).toBe(1);
      });
    });

    describe('publication', () => {
      it("publishes a commit's messages to their processes, in the commit's order", async () => {
        const p1 = await inbox(store, 'p1');
        const p2 = await inbox(store, 'p2');
        const publish = [
          { proc: 'p1', payload: 'a' },
          { proc: 'p2', payload: 'b' },
          { proc: 'p1', payload: 'c' },
        ];
        expect(await store.commit(commitOf({ roomId: 'r1', publish }))).toBe('ok');
        expect(await p1.take(2)).toEqual(['a', 'c']);
        expect(await p2.take(1)).toEqual(['b']);
      });

      it('publishes nothing for a clash or a full refusal', async () => {
        const p1 = await inbox(store, 'p1');
        await store.commit(commitOf({ roomId: 'r1' }));
        const refused = [{ proc: 'p1', payload: 'refused' }];
        expect(await store.commit(commitOf({ roomId: 'r1', expect: 0, publish: refused }))).toBe('clash');
        expect(await store.commit(commitOf({ roomId: 'r2', maxRooms: 1, publish: refused }))).toBe('full');
        const marker = [{ proc: 'p1', payload: 'marker' }];
        expect(await store.commit(commitOf({ roomId: 'r1', expect: 1, publish: marker }))).toBe('ok');
        expect(await p1.take(1)).toEqual(['marker']);
      });

      it('delivers to a process in commit order across two clients of one backend', async () => {
        const a = store;
        const b = await backend.store();
        const listener = await backend.store();
        const p1 = await inbox(listener, 'p1');
        const p2 = await inbox(listener, 'p2');
        const expected: string[] = [];
        for (let i = 0; i < 20; i++) {
          const payload = `m${i}`;
          expected.push(payload);
          const client = i % 2 === 0 ? a : b;
          const publish = [
            { proc: 'p1', payload },
            { proc: 'p2', payload },
          ];
          expect(await client.commit(commitOf({ roomId: 'r1', expect: i, publish }))).toBe('ok');
        }
        expect(await p1.take(20)).toEqual(expected);
        expect(await p2.take(20)).toEqual(expected);
      });

      it('keeps the order of commits one client issues back to back without waiting', async () => {
        const p1 = await inbox(store, 'p1');
        const expected = Array.from({ length: 30 }, (_, i) => `m${i}`);
        const results = await Promise.all(
          expected.map((payload, i) =>
            store.commit(commitOf({ roomId: 'r1', expect: i, publish: [{ proc: 'p1', payload }] })),
          ),
        );
        expect(results).toEqual(expected.map(() => 'ok'));
        expect(await p1.take(30)).toEqual(expected);
      });

      it("delivers only a process's own messages, never inside the publisher's call", async () => {
        const p1 = await inbox(store, 'p1');
        const pending = store.commit(
          commitOf({
            roomId: 'r1',
            publish: [
              { proc: 'p2', payload: 'for p2' },
              { proc: 'p1', payload: 'for p1' },
            ],
          }),
        );
        expect(p1.messages).toEqual([]);
        await pending;
        expect(await p1.take(1)).toEqual(['for p1']);
        const marker = store.relay(
          cameraOf({ roomId: 'r1', field: 'u1', publish: [{ proc: 'p1', payload: 'next' }] }),
        );
        await marker;
        expect(await p1.take(2)).toEqual(['for p1', 'next']);
      });
    });

    describe('live rooms and tombstones', () => {
      it('counts rooms committed live, cluster-wide', async () => {
        const other = await backend.store();
        await store.commit(commitOf({ roomId: 'r1' }));
        await other.commit(commitOf({ roomId: 'r2' }));
        await store.commit(commitOf({ roomId: 'r3', live: false }));
        expect((await other.load('r1')).roomCount).toBe(2);
        expect((await store.load('absent')).roomCount).toBe(2);
      });

      it('keeps the document of a room committed not live but drops its count and cameras', async () => {
        await store.commit(commitOf({ roomId: 'r1', doc: 'open' }));
        await store.relay(cameraOf({ roomId: 'r1', field: 'u1', value: 'cam' }));
        expect(await store.load('r1')).toEqual({
          room: { version: 1, doc: 'open' },
          cameras: new Map([['u1', 'cam']]),
          roomCount: 1,
        });
        expect(await store.commit(commitOf({ roomId: 'r1', expect: 1, doc: 'tombstone', live: false }))).toBe(
          'ok',
        );
        expect(await store.load('r1')).toEqual({
          room: { version: 2, doc: 'tombstone' },
          cameras: new Map(),
          roomCount: 0,
        });
        expect(await store.commit(commitOf({ roomId: 'r1', expect: 2, doc: 'again' }))).toBe('ok');
        expect(await store.load('r1')).toEqual({
          room: { version: 3, doc: 'again' },
          cameras: new Map(),
          roomCount: 1,
        });
      });

      it('refuses a room that would go live beyond maxRooms, but not a room already live', async () => {
        await store.commit(commitOf({ roomId: 'r1', maxRooms: 2 }));
        await store.commit(commitOf({ roomId: 'r2', maxRooms: 2 }));
        expect(await store.commit(commitOf({ roomId: 'r3', maxRooms: 2 }))).toBe('full');
        expect(await store.load('r3')).toEqual({ room: null, cameras: new Map(), roomCount: 2 });
        expect(await store.commit(commitOf({ roomId: 'r1', expect: 1, maxRooms: 2 }))).toBe('ok');
        expect(await store.commit(commitOf({ roomId: 'r3', live: false, maxRooms: 2 }))).toBe('ok');
        expect(await store.commit(commitOf({ roomId: 'r2', expect: 1, live: false }))).toBe('ok');
        expect(await store.commit(commitOf({ roomId: 'r3', expect: 1, maxRooms: 2 }))).toBe('ok');
        expect((await store.load('r3')).roomCount).toBe(2);
      });

      it('admits exactly maxRooms of concurrent creations from several clients', async () => {
        const clients = [store, await backend.store(), await backend.store()];
        const results = await Promise.all(
          ['r0', 'r1', 'r2', 'r3', 'r4'].map((roomId, i) =>
            clients[i % clients.length]!.commit(commitOf({ roomId, maxRooms: 3 })),
          ),
        );
        expect(results.filter((result) => result === 'ok')).toHaveLength(3);
        expect(results.filter((result) => result === 'full')).toHaveLength(2);
        expect((await store.load('r0')).roomCount).toBe(3);
      });
    });

    describe('deadlines', () => {
      beforeEach(async () => {
        await store.commit(commitOf({ roomId: 'a', nextDeadline: T0 + 300 }));
        await store.commit(commitOf({ roomId: 'b', nextDeadline: T0 + 100 }));
        await store.commit(commitOf({ roomId: 'c', nextDeadline: T0 + 200 }));
        await store.commit(commitOf({ roomId: 'd', nextDeadline: T0 + 10_000 }));
        await store.commit(commitOf({ roomId: 'none' }));
      });

      it('lists the rooms due at a time, earliest first, at most limit', async () => {
        expect(await store.dueRooms(T0 + 250, 10)).toEqual(['b', 'c']);
        expect(await store.dueRooms(T0 + 300, 10)).toEqual(['b', 'c', 'a']);
        expect(await store.dueRooms(T0 + 20_000, 2)).toEqual(['b', 'c']);
        expect(await store.dueRooms(T0 + 99, 10)).toEqual([]);
        expect(await store.dueRooms(T0 + 20_000, 0)).toEqual([]);
      });

      it('answers the earliest indexed deadline', async () => {
        expect(await store.nextDeadline()).toBe(T0 + 100);
      });

      it('moves a room in the index, and drops it on a null deadline', async () => {
        expect(await store.commit(commitOf({ roomId: 'b', expect: 1, nextDeadline: null }))).toBe('ok');
        expect(await store.nextDeadline()).toBe(T0 + 200);
        expect(await store.commit(commitOf({ roomId: 'c', expect: 1, nextDeadline: T0 + 5000 }))).toBe('ok');
        expect(await store.nextDeadline()).toBe(T0 + 300);
        expect(await store.dueRooms(T0 + 20_000, 10)).toEqual(['a', 'c', 'd']);
      });

      it('answers null when no room is indexed', async () => {
        for (const [roomId, live] of [
          ['a', true],
          ['b', false],
          ['c', true],
          ['d', false],
        ] as const) {
          await store.commit(commitOf({ roomId, expect: 1, live, nextDeadline: null }));
        }
        expect(await store.nextDeadline()).toBeNull();
        expect(await store.dueRooms(T0 + 20_000, 10)).toEqual([]);
      });

      it('leaves the index untouched on a refused commit', async () => {
        expect(await store.commit(commitOf({ roomId: 'b', expect: 7, nextDeadline: null }))).toBe('clash');
        expect(await store.commit(commitOf({ roomId: 'e', maxRooms: 1, nextDeadline: T0 }))).toBe('full');
        expect(await store.nextDeadline()).toBe(T0 + 100);
      });
    });

    describe('expiry', () => {
      it('expires a room, its cameras, its count and its deadline after ttlMs without a commit', async () => {
        await store.commit(commitOf({ roomId: 'r1', ttlMs: 150, nextDeadline: T0, procs: ['never-beats'] }));
        await store.relay(cameraOf({ roomId: 'r1', field: 'u1', ttlMs: 150 }));
        await store.commit(commitOf({ roomId: 'kept', nextDeadline: T0 + 1 }));
        expect((await store.load('r1')).roomCount).toBe(2);
        await sleep(300);
        expect(await store.load('r1')).toEqual({ room: null, cameras: new Map(), roomCount: 1 });
        expect(await store.dueRooms(T0 + 10, 10)).toEqual(['kept']);
        expect(await store.nextDeadline()).toBe(T0 + 1);
        expect(
          await store.roomsOf('never-beats'),
          'an index no beat refreshes expires with the room',
        ).toEqual([]);
        expect(
          await store.commit(commitOf({ roomId: 'r2', maxRooms: 2 })),
          'expired rooms do not count',
        ).toBe('ok');
        expect(await store.commit(commitOf({ roomId: 'r1', expect: 0, doc: 'reborn' }))).toBe('ok');
        expect((await store.load('r1')).room).toEqual({ version: 1, doc: 'reborn' });
      });

      it('stops blocking the head of the deadline index once the earliest room expired', async () => {
        await store.commit(commitOf({ roomId: 'early', ttlMs: 150, nextDeadline: T0 }));
        await store.commit(commitOf({ roomId: 'late', nextDeadline: T0 + 50 }));
        expect(await store.nextDeadline()).toBe(T0);
        await sleep(300);
        expect(await store.nextDeadline()).toBe(T0 + 50);
        expect(await store.dueRooms(T0 + 50, 1)).toEqual(['late']);
      });

      it('refreshes the expiry of the room and its cameras on every commit', async () => {
        await store.commit(commitOf({ roomId: 'r1', ttlMs: 500 }));
        await store.relay(cameraOf({ roomId: 'r1', field: 'u1', value: 'cam', ttlMs: 500 }));
        await sleep(250);
        expect(await store.commit(commitOf({ roomId: 'r1', expect: 1, ttlMs: 500 }))).toBe('ok');
        await sleep(300);
        expect(await store.load('r1')).toEqual({
          room: { version: 2, doc: 'doc of r1' },
          cameras: new Map([['u1', 'cam']]),
          roomCount: 1,
        });
      });

      it("expires a room's cameras on their own ttl when no commit refreshes them", async () => {
        await store.commit(commitOf({ roomId: 'r1' }));
        await store.relay(cameraOf({ roomId: 'r1', field: 'u1', ttlMs: 150 }));
        await sleep(300);
        expect(await store.load('r1')).toEqual({
          room: { version: 1, doc: 'doc of r1' },
          cameras: new Map(),
          roomCount: 1,
        });
      });
    });

    describe('processes', () => {
      it('reports a registered process dead once its liveness ttl passed without a beat', async () => {
        await store.beat('short', 150);
        await store.beat('long', LONG_TTL_MS);
        expect(await store.deadProcs()).toEqual([]);
        await sleep(300);
        expect(await store.deadProcs()).toEqual(['short']);
        await store.beat('short', LONG_TTL_MS);
        expect(await store.deadProcs()).toEqual([]);
      });

      it('indexes rooms by process: procs join the index, dropProcs leave it', async () => {
        await store.commit(commitOf({ roomId: 'r1', procs: ['p1', 'p2'] }));
        await store.commit(commitOf({ roomId: 'r2', procs: ['p1'] }));
        expect((await store.roomsOf('p1')).sort()).toEqual(['r1', 'r2']);
        expect(await store.roomsOf('p2')).toEqual(['r1']);
        await store.commit(commitOf({ roomId: 'r1', expect: 1, procs: ['p2'], dropProcs: ['p1'] }));
        expect(await store.roomsOf('p1')).toEqual(['r2']);
        expect(await store.roomsOf('p2')).toEqual(['r1']);
        expect(await store.roomsOf('p3')).toEqual([]);
      });

      it('leaves the process index untouched on a refused commit', async () => {
        await store.commit(commitOf({ roomId: 'r1', procs: ['p1'] }));
        expect(await store.commit(commitOf({ roomId: 'r1', procs: ['p2'], dropProcs: ['p1'] }))).toBe(
          'clash',
        );
        expect(await store.roomsOf('p1')).toEqual(['r1']);
        expect(await store.roomsOf('p2')).toEqual([]);
      });

      it('forgets a dead process: it leaves the process set and its room index', async () => {
        const survivor = await backend.store();
        await store.beat('dead', 150);
        await store.beat('also-dead', 150);
        await survivor.beat('alive', LONG_TTL_MS);
        await store.commit(commitOf({ roomId: 'r1', procs: ['dead', 'also-dead', 'alive'] }));
        await sleep(300);
        expect((await survivor.deadProcs()).sort()).toEqual(['also-dead', 'dead']);
        expect(await survivor.roomsOf('dead')).toEqual(['r1']);
        await survivor.forget('dead');
        expect(await survivor.deadProcs()).toEqual(['also-dead']);
        expect(await survivor.roomsOf('dead')).toEqual([]);
        expect(await survivor.roomsOf('alive')).toEqual(['r1']);
      });

      it('leaves a process alone that beat again after it was found dead', async () => {
        const survivor = await backend.store();
        await store.beat('back', 150);
        await store.commit(commitOf({ roomId: 'r1', procs: ['back'] }));
        await sleep(300);
        expect(await survivor.deadProcs()).toEqual(['back']);
        await store.beat('back', LONG_TTL_MS);
        await survivor.forget('back');
        expect(await survivor.deadProcs()).toEqual([]);
        expect(await survivor.roomsOf('back')).toEqual(['r1']);
        await survivor.beat('back', 1);
        await sleep(20);
        expect(await survivor.deadProcs()).toEqual(['back']);
      });
    });

    describe('cameras', () => {
      it('stores the last value per field and publishes each relay in order', async () => {
        const listener = await backend.store();
        const p1 = await inbox(listener, 'p1');
        const relay = (field: string, value: string) =>
          store.relay(
            cameraOf({ roomId: 'r1', field, value, publish: [{ proc: 'p1', payload: `${field}=${value}` }] }),
          );
        await store.commit(commitOf({ roomId: 'r1' }));
        await relay('u1', 'one');
        await relay('u2', 'two');
        await relay('u1', 'three');
        expect((await listener.load('r1')).cameras).toEqual(
          new Map([
            ['u1', 'three'],
            ['u2', 'two'],
          ]),
        );
        expect(await p1.take(3)).toEqual(['u1=one', 'u2=two', 'u1=three']);
      });

      it('never touches the version or the live count', async () => {
        await store.relay(cameraOf({ roomId: 'r1', field: 'u1', value: 'cam' }));
        expect(await store.load('r1')).toEqual({
          room: null,
          cameras: new Map([['u1', 'cam']]),
          roomCount: 0,
        });
      });
    });

    describe('reachability', () => {
      it('answers ping and reports itself up', async () => {
        await expect(store.ping()).resolves.toBeUndefined();
        expect(store.up).toBe(true);
      });
    });
  });
}
