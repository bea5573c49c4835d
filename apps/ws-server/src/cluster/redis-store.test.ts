import { createClient } from 'redis';
import { afterEach, describe, expect, it } from 'vitest';
import { describeWithRedis, uncontrollableReason } from '../../test/redis.js';
import { RedisRoomStore } from './redis-store.js';
import { type RoomCommit, type RoomStore, StoreUnavailableError } from './store.js';
import { describeRoomStoreContract } from './store-contract.js';

const STATUS_TIMEOUT_MS = 3000;

const create = (roomId: string, fields: Partial<RoomCommit> = {}): RoomCommit => ({
  roomId,
  expect: 0,
  doc: `doc of ${roomId}`,
  live: true,
  ttlMs: 60_000,
  nextDeadline: null,
  procs: [],
  dropProcs: [],
  publish: [],
  ...fields,
});

/** Deletes a test's keys, for a shared Redis given by REDIS_URL (our own server dies anyway). */
async function deleteKeys(url: string, prefix: string): Promise<void> {
  const client = createClient({ url });
  await client.connect();
  try {
    for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
      if (keys.length > 0) await client.del(keys);
    }
  } finally {
    await client.close();
  }
}

function statusBecomes(store: RoomStore, up: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    if (store.up === up) return resolve();
    const timer = setTimeout(
      () => reject(new Error(`store not ${up ? 'up' : 'down'} within 3 s`)),
      STATUS_TIMEOUT_MS,
    );
    store.onStatus((now) => {
      if (now !== up) return;
      clearTimeout(timer);
      resolve();
    });
  });
}

let suite = 0;
const uniquePrefix = () => `exo-test-${process.pid}-${++suite}:`;

describeWithRedis('RedisRoomStore', (redis) => {
  describeRoomStoreContract('RedisRoomStore', async () => {
    const prefix = uniquePrefix();
    const stores: RedisRoomStore[] = [];
    return {
      async store() {
        const store = await RedisRoomStore.connect(redis().url, { keyPrefix: prefix });
        stores.push(store);
        return store;
      },
      async cleanup() {
        await Promise.all(stores.map((store) => store.close()));
        await deleteKeys(redis().url, prefix);
      },
    };
  });

  describe('round trips and scripts', () => {
    const opened: RedisRoomStore[] = [];
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((store) => store.close()));
    });

    it('costs one round trip per load, commit and relay once the script is cached', async () => {
      let trips = 0;
      const store = await RedisRoomStore.connect(redis().url, {
        keyPrefix: uniquePrefix(),
        onCommand: () => trips++,
      });
      opened.push(store);
      const publish = [
        { proc: 'p1', payload: 'a' },
        { proc: 'p2', payload: 'b' },
      ];
      await store.commit(create('warm-up'));
      trips = 0;
      expect(await store.commit(create('r1', { procs: ['p1', 'p2'], nextDeadline: 5, publish }))).toBe('ok');
      expect(trips).toBe(1);
      await store.load('r1');
      expect(trips).toBe(2);
      await store.relay({ roomId: 'r1', field: 'u1', value: 'cam', ttlMs: 1000, publish });
      expect(trips).toBe(3);
    });

    it('falls back to EVAL when Redis has lost its script cache', async () => {
      const store = await RedisRoomStore.connect(redis().url, { keyPrefix: uniquePrefix() });
      opened.push(store);
      expect(await store.commit(create('r1'))).toBe('ok');
      const admin = createClient({ url: redis().url });
      await admin.connect();
      await admin.sendCommand(['SCRIPT', 'FLUSH']);
      await admin.close();
      expect(await store.commit(create('r1', { expect: 1 }))).toBe('ok');
      expect((await store.load('r1')).room?.version).toBe(2);
    });

    it('refuses to connect to an address where no Redis listens', async () => {
      const url = new URL(redis().url);
      url.port = '1';
      await expect(RedisRoomStore.connect(url.toString())).rejects.toThrow(StoreUnavailableError);
    });
  });

  describe('outage', () => {
    it('goes down at once, refuses commands, and recovers with its subscription when Redis returns', async (ctx) => {
      const reason = uncontrollableReason(redis());
      if (reason) {
        console.warn(`skipping the Redis outage test: ${reason}`);
        ctx.skip();
      }
      const prefix = uniquePrefix();
      const errors: Error[] = [];
      const listener = await RedisRoomStore.connect(redis().url, {
        keyPrefix: prefix,
        onError: (err) => errors.push(err),
      });
      const writer = await RedisRoomStore.connect(redis().url, { keyPrefix: prefix });
      const closedWhileDown = await RedisRoomStore.connect(redis().url, { keyPrefix: prefix });
      const received: string[] = [];
      let wake = (): void => {};
      await listener.subscribe('p1', (payload) => {
        received.push(payload);
        wake();
      });
      const heard: boolean[] = [];
      listener.onStatus((up) => heard.push(up));
      try {
        for (const cut of ['stop', 'kill'] as const) {
          const down = statusBecomes(listener, false);
          const cutAt = Date.now();
          await redis()[cut]();
          await down;
          expect(Date.now() - cutAt, `${cut}: down within 1 s`).toBeLessThan(1000);
          expect(listener.up).toBe(false);
          for (const call of [
            () => listener.commit(create('r1')),
            () => listener.load('r1'),
            () => listener.relay({ roomId: 'r1', field: 'u1', value: 'cam', ttlMs: 1000, publish: [] }),
            () => listener.ping(),
          ]) {
            const calledAt = Date.now();
            await expect(call()).rejects.toThrow(StoreUnavailableError);
            expect(Date.now() - calledAt).toBeLessThan(100);
          }
          if (cut === 'stop') await expect(closedWhileDown.close()).resolves.toBeUndefined();

          await redis().start();
          await Promise.all([statusBecomes(listener, true), statusBecomes(writer, true)]);
          const delivered = new Promise<void>((resolve) => {
            wake = () => received.includes(`after ${cut}`) && resolve();
          });
          // The restarted Redis kept no data: the room starts again from version 0.
          const publish = [{ proc: 'p1', payload: `after ${cut}` }];
          expect(await writer.commit(create(`r-${cut}`, { publish }))).toBe('ok');
          await delivered;
          expect((await listener.load(`r-${cut}`)).room).toEqual({ version: 1, doc: `doc of r-${cut}` });
        }
        expect(heard).toEqual([false, true, false, true]);
        expect(received).toEqual(['after stop', 'after kill']);
        expect(errors.length).toBeGreaterThan(0);
      } finally {
        await Promise.all([listener.close(), writer.close()]);
      }
    });
  });
});
