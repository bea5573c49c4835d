// CONTRACT §6, relay throttle: one relay per (user, planet) per CAMERA_MIN_INTERVAL_MS. The first
// camera after a quiet interval goes at once; later ones inside the interval are coalesced and the
// latest goes exactly when the interval ends; stopping viewing cancels what is pending.

import { describe, expect, it } from 'vitest';
import { type Harness, harness, types } from './harness.js';

const START = 1_000_000;
const at = (x: number) => ({ position: [x, 0, 0] });
const cameraMsg = (userId: string, planetId: string, x: number) => ({
  type: 'camera',
  planetId,
  userId,
  camera: at(x),
});
const relay = (userId: string, planetId: string, x: number) => ({
  type: 'camera',
  planetId,
  userId,
  camera: at(x),
});

/** Joins each user and makes it a viewer of every planet given; inboxes are emptied. */
function viewers(h: Harness, users: string[], planets: string[]): string[] {
  const conns = users.map((u) => h.join(u));
  users.forEach((userId, i) => {
    for (const planetId of planets) h.send(conns[i]!, { type: 'join_viewer', planetId, userId });
  });
  for (const conn of conns) h.take(conn);
  return conns;
}

/** Moves the clock to START + ms and ticks. */
const moveTo = (h: Harness, ms: number) => h.advance(START + ms - h.clock.now());

describe('camera relay throttle', () => {
  it('relays the first camera after a quiet interval at once', () => {
    const h = harness();
    const [a, b] = viewers(h, ['alice', 'bob'], ['p']) as [string, string];
    h.send(a, cameraMsg('alice', 'p', 1));
    expect(h.take(b)).toEqual([relay('alice', 'p', 1)]);
    moveTo(h, 50);
    h.send(a, cameraMsg('alice', 'p', 2));
    expect(h.take(b)).toEqual([relay('alice', 'p', 2)]);
    moveTo(h, 5000);
    h.send(a, cameraMsg('alice', 'p', 3));
    expect(h.take(b)).toEqual([relay('alice', 'p', 3)]);
  });

  it('coalesces cameras inside the interval and relays only the latest, exactly when the interval ends', () => {
    const h = harness();
    const [a, b] = viewers(h, ['alice', 'bob'], ['p']) as [string, string];
    h.send(a, cameraMsg('alice', 'p', 1));
    h.take(b);
    for (const [t, x] of [
      [10, 2],
      [20, 3],
      [30, 4],
    ] as const) {
      moveTo(h, t);
      h.send(a, cameraMsg('alice', 'p', x));
    }
    expect(h.engine.nextDeadline()).toBe(START + 50);
    moveTo(h, 49);
    expect(h.take(b)).toEqual([]);
    moveTo(h, 50);
    expect(h.take(b)).toEqual([relay('alice', 'p', 4)]);
    moveTo(h, 10_000);
    expect(h.take(b)).toEqual([]);
    expect(h.take(a)).toEqual([]);
  });

  it('relays a due coalesced camera before a camera stamped at that very time, which then waits its turn', () => {
    const h = harness();
    const [a, b] = viewers(h, ['alice', 'bob'], ['p']) as [string, string];
    h.send(a, cameraMsg('alice', 'p', 1));
    moveTo(h, 10);
    h.send(a, cameraMsg('alice', 'p', 2));
    h.take(b);
    // No tick at START + 50: the command itself applies the due relay first.
    h.clock.set(START + 50);
    h.send(a, cameraMsg('alice', 'p', 3));
    expect(h.take(b)).toEqual([relay('alice', 'p', 2)]);
    moveTo(h, 99);
    expect(h.take(b)).toEqual([]);
    moveTo(h, 100);
    expect(h.take(b)).toEqual([relay('alice', 'p', 3)]);
  });

  it('relays at once again after the coalesced camera has gone out and a quiet interval passed', () => {
    const h = harness();
    const [a, b] = viewers(h, ['alice', 'bob'], ['p']) as [string, string];
    h.send(a, cameraMsg('alice', 'p', 1));
    moveTo(h, 10);
    h.send(a, cameraMsg('alice', 'p', 2));
    moveTo(h, 50);
    h.take(b);
    moveTo(h, 100);
    h.send(a, cameraMsg('alice', 'p', 3));
    expect(h.take(b)).toEqual([relay('alice', 'p', 3)]);
  });

  it('never loses the final camera of a long burst, and never relays twice within an interval', () => {
    // A camera budget above the burst's rate, so only the throttle shapes the relays.
    const h = harness({ cameraRateMax: 1000 });
    const [a, b] = viewers(h, ['alice', 'bob'], ['p']) as [string, string];
    const relayedAt: number[] = [];
    let last: unknown;
    // A camera every 7 ms for a second, then silence; the shell ticks every millisecond.
    for (let t = 0; t <= 1100; t++) {
      moveTo(h, t);
      if (t % 7 === 0 && t <= 980) h.send(a, cameraMsg('alice', 'p', t));
      for (const m of h.take(b)) {
        relayedAt.push(t);
        last = m;
      }
    }
    expect(last).toEqual(relay('alice', 'p', 980));
    expect(relayedAt[0]).toBe(0);
    for (let i = 1; i < relayedAt.length; i++) expect(relayedAt[i]! - relayedAt[i - 1]!).toBe(50);
    expect(relayedAt.at(-1)).toBe(1000);
  });

  it("throttles one user's planets independently", () => {
    const h = harness();
    const [a, b] = viewers(h, ['alice', 'bob'], ['p', 'q']) as [string, string];
    h.send(a, cameraMsg('alice', 'p', 1));
    moveTo(h, 10);
    h.send(a, cameraMsg('alice', 'q', 2));
    expect(h.take(b)).toEqual([relay('alice', 'p', 1), relay('alice', 'q', 2)]);
    moveTo(h, 20);
    h.send(a, cameraMsg('alice', 'p', 3));
    h.send(a, cameraMsg('alice', 'q', 4));
    moveTo(h, 50);
    expect(h.take(b)).toEqual([relay('alice', 'p', 3)]);
    moveTo(h, 60);
    expect(h.take(b)).toEqual([relay('alice', 'q', 4)]);
  });

  it('throttles two users on one planet independently', () => {
    const h = harness();
    const [a, b, c] = viewers(h, ['alice', 'bob', 'carol'], ['p']) as [string, string, string];
    h.send(a, cameraMsg('alice', 'p', 1));
    moveTo(h, 10);
    h.send(b, cameraMsg('bob', 'p', 2));
    expect(h.take(c)).toEqual([relay('alice', 'p', 1), relay('bob', 'p', 2)]);
    expect(h.take(a)).toEqual([relay('bob', 'p', 2)]);
  });

  it('relays every camera at once when CAMERA_MIN_INTERVAL_MS is 0', () => {
    const h = harness({ cameraMinIntervalMs: 0 });
    const [a, b] = viewers(h, ['alice', 'bob'], ['p']) as [string, string];
    for (const x of [1, 2, 3]) h.send(a, cameraMsg('alice', 'p', x));
    expect(h.take(b)).toEqual([relay('alice', 'p', 1), relay('alice', 'p', 2), relay('alice', 'p', 3)]);
  });

  it('follows a configured CAMERA_MIN_INTERVAL_MS', () => {
    const h = harness({ cameraMinIntervalMs: 200 });
    const [a, b] = viewers(h, ['alice', 'bob'], ['p']) as [string, string];
    h.send(a, cameraMsg('alice', 'p', 1));
    moveTo(h, 50);
    h.send(a, cameraMsg('alice', 'p', 2));
    moveTo(h, 199);
    expect(h.take(b)).toEqual([relay('alice', 'p', 1)]);
    moveTo(h, 200);
    expect(h.take(b)).toEqual([relay('alice', 'p', 2)]);
  });

  it.each([
    [
      'leave_viewer',
      (h: Harness, a: string) => h.send(a, { type: 'leave_viewer', planetId: 'p', userId: 'alice' }),
    ],
    ['leave', (h: Harness, a: string) => h.send(a, { type: 'leave', userId: 'alice' })],
    ['a socket close', (h: Harness, a: string) => h.close(a, 'network')],
  ])('cancels a pending relay on %s and leaves a snapshot without the camera', (_, stop) => {
    const h = harness();
    const [a, b] = viewers(h, ['alice', 'bob'], ['p']) as [string, string];
    h.send(a, cameraMsg('alice', 'p', 1));
    moveTo(h, 10);
    h.send(a, cameraMsg('alice', 'p', 2));
    h.take(b);
    stop(h, a);
    const messages = h.take(b);
    expect(messages.at(-1)).toEqual({
      type: 'viewer_cameras',
      planetId: 'p',
      cameras: {},
      seq: expect.any(Number),
    });
    expect(types(messages).filter((t) => t === 'camera')).toEqual([]);
    moveTo(h, 1000);
    expect(h.take(b)).toEqual([]);
  });

  it('starts afresh, with nothing pending, when the viewer comes back to the planet', () => {
    const h = harness();
    const [a, b] = viewers(h, ['alice', 'bob'], ['p']) as [string, string];
    h.send(a, cameraMsg('alice', 'p', 1));
    moveTo(h, 10);
    h.send(a, cameraMsg('alice', 'p', 2));
    h.send(a, { type: 'leave_viewer', planetId: 'p', userId: 'alice' });
    h.send(a, { type: 'join_viewer', planetId: 'p', userId: 'alice' });
    h.take(b);
    moveTo(h, 1000);
    expect(h.take(b)).toEqual([]);
  });
});
