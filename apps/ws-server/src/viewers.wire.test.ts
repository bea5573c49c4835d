// Viewers and cameras over real sockets (CONTRACT §6, §7): snapshots without the recipient's own
// camera, relays only to the planet's other viewers, the throttle's coalesced relay delivered by
// the adapter's deadline timer, snapshots when a viewer leaves, and presence expiry's 4008 close.

import type { ServerMessage } from '@exo/protocol';
import { describe, expect, it } from 'vitest';
import { room, serverPerTest, type TestClient } from '../test/kit.js';

const server = serverPerTest();

/** Makes the client a viewer of the planet; returns the snapshot it got. */
async function view(client: TestClient, userId: string, planetId: string) {
  client.send({ type: 'join_viewer', planetId, userId });
  const taken = await client.until('ack');
  expect(taken.map((m) => m.type)).toEqual(['viewer_cameras', 'ack']);
  return taken[0] as Extract<ServerMessage, { type: 'viewer_cameras' }>;
}

const cam = (x: number) => ({ position: [x, 0, 0] as [number, number, number] });
const relay = (userId: string, planetId: string, x: number) => ({
  type: 'camera',
  planetId,
  userId,
  camera: cam(x),
});

describe('viewers over the wire', () => {
  it('answers join_viewer with the other viewers’ last cameras, never the own one', async () => {
    const s = await server();
    const [alice, bob] = await room(s.url, ['alice', 'bob']);
    expect((await view(alice!, 'alice', 'p')).cameras).toEqual({});
    alice!.send({ type: 'camera', planetId: 'p', userId: 'alice', camera: cam(1) });

    bob!.send({ type: 'join_viewer', planetId: 'p', userId: 'bob', rid: 'v' });
    const snapshot = await bob!.next('viewer_cameras');
    expect(snapshot).toEqual({
      type: 'viewer_cameras',
      planetId: 'p',
      cameras: { alice: cam(1) },
      seq: expect.any(Number),
    });
    expect(await bob!.next()).toEqual({ type: 'ack', op: 'join_viewer', ok: true, rid: 'v' });

    bob!.send({ type: 'camera', planetId: 'p', userId: 'bob', camera: cam(2) });
    expect(await alice!.next()).toEqual(relay('bob', 'p', 2));
    // Joining again answers the same kind of snapshot: bob's camera, not alice's own.
    expect((await view(alice!, 'alice', 'p')).cameras).toEqual({ bob: cam(2) });
  });

  it('relays a camera only to the other viewers of that planet', async () => {
    const s = await server();
    const [alice, bob, carol, dave] = await room(s.url, ['alice', 'bob', 'carol', 'dave']);
    await view(alice!, 'alice', 'p');
    await view(bob!, 'bob', 'p');
    await view(carol!, 'carol', 'q');
    alice!.send({ type: 'camera', planetId: 'p', userId: 'alice', camera: cam(5) });
    expect(await bob!.next()).toEqual(relay('alice', 'p', 5));
    await Promise.all([alice!.quiet(150), carol!.quiet(0), dave!.quiet(0), bob!.quiet(0)]);
  });

  it('relays the first camera of a burst at once and the last one after the throttle interval', async () => {
    const intervalMs = 100;
    const s = await server({ core: { cameraMinIntervalMs: intervalMs } });
    const [alice, bob] = await room(s.url, ['alice', 'bob']);
    await view(alice!, 'alice', 'p');
    await view(bob!, 'bob', 'p');

    const sentAt = Date.now();
    for (let x = 0; x < 10; x++) {
      alice!.send({ type: 'camera', planetId: 'p', userId: 'alice', camera: cam(x) });
    }
    expect(await bob!.next()).toEqual(relay('alice', 'p', 0));
    const firstAt = Date.now();
    expect(firstAt - sentAt).toBeLessThan(intervalMs);
    expect(await bob!.next()).toEqual(relay('alice', 'p', 9));
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(intervalMs - 10);
    await Promise.all([bob!.quiet(2 * intervalMs), alice!.quiet(0)]);

    // After a quiet interval the next camera goes at once again.
    alice!.send({ type: 'camera', planetId: 'p', userId: 'alice', camera: cam(42) });
    const again = Date.now();
    expect(await bob!.next()).toEqual(relay('alice', 'p', 42));
    expect(Date.now() - again).toBeLessThan(intervalMs);
  });

  it('sends the remaining viewers a snapshot without a viewer that leaves after sending a camera', async () => {
    const s = await server();
    const [alice, bob, carol] = await room(s.url, ['alice', 'bob', 'carol']);
    for (const [c, userId] of [
      [alice!, 'alice'],
      [bob!, 'bob'],
      [carol!, 'carol'],
    ] as const) {
      await view(c, userId, 'p');
    }
    alice!.send({ type: 'camera', planetId: 'p', userId: 'alice', camera: cam(1) });
    bob!.send({ type: 'camera', planetId: 'p', userId: 'bob', camera: cam(2) });
    expect(await carol!.next()).toEqual(relay('alice', 'p', 1));
    expect(await carol!.next()).toEqual(relay('bob', 'p', 2));
    expect(await bob!.next()).toEqual(relay('alice', 'p', 1));
    expect(await alice!.next()).toEqual(relay('bob', 'p', 2));

    alice!.send({ type: 'leave_viewer', planetId: 'p', userId: 'alice', rid: 'lv' });
    expect(await alice!.next()).toEqual({ type: 'ack', op: 'leave_viewer', ok: true, rid: 'lv' });
    expect(await bob!.next()).toEqual({
      type: 'viewer_cameras',
      planetId: 'p',
      cameras: {},
      seq: expect.any(Number),
    });
    expect(await carol!.next()).toMatchObject({
      type: 'viewer_cameras',
      planetId: 'p',
      cameras: { bob: cam(2) },
    });
    await alice!.quiet(100);

    // A viewer that never sent a camera leaves silently.
    const [dave] = await Promise.all([
      room(s.url, ['dave']).then(([d]) => d!),
      alice!.next('presence'),
      bob!.next('presence'),
      carol!.next('presence'),
    ]);
    await view(dave, 'dave', 'p');
    dave.send({ type: 'leave_viewer', planetId: 'p', userId: 'dave' });
    await dave.next('ack');
    await Promise.all([bob!.quiet(100), carol!.quiet(0)]);
  });

  it('answers NOT_VIEWING to a camera or leave_viewer from a non-viewer', async () => {
    const s = await server();
    const [alice] = await room(s.url, ['alice']);
    alice!.send({ type: 'camera', planetId: 'p', userId: 'alice', camera: cam(1), rid: 'c' });
    expect(await alice!.next()).toEqual({
      type: 'error',
      op: 'camera',
      ok: false,
      code: 'NOT_VIEWING',
      message: expect.any(String),
      rid: 'c',
    });
    alice!.send({ type: 'leave_viewer', planetId: 'p', userId: 'alice', rid: 'l' });
    expect(await alice!.next()).toMatchObject({
      type: 'error',
      op: 'leave_viewer',
      code: 'NOT_VIEWING',
      rid: 'l',
    });
  });

  it('answers LIMIT_EXCEEDED to one planet past maxViewedPlanets, but not to a planet already viewed', async () => {
    const s = await server({ core: { maxViewedPlanets: 2 } });
    const [alice] = await room(s.url, ['alice']);
    await view(alice!, 'alice', 'p1');
    await view(alice!, 'alice', 'p2');
    alice!.send({ type: 'join_viewer', planetId: 'p3', userId: 'alice', rid: 3 });
    expect(await alice!.next()).toEqual({
      type: 'error',
      op: 'join_viewer',
      ok: false,
      code: 'LIMIT_EXCEEDED',
      message: expect.any(String),
      rid: 3,
    });
    await view(alice!, 'alice', 'p1');
    alice!.send({ type: 'leave_viewer', planetId: 'p2', userId: 'alice' });
    await alice!.next('ack');
    await view(alice!, 'alice', 'p3');
  });
});

describe('presence expiry over the wire', () => {
  it('closes an idle user with 4008 and tells the others, while a heartbeating user stays', async () => {
    const timeoutMs = 300;
    const s = await server({ core: { presenceTimeoutMs: timeoutMs } });
    const [alice, bob] = await room(s.url, ['alice', 'bob']);
    // Bob heartbeats well within the timeout; alice sends nothing.
    const beat = setInterval(() => bob!.send({ type: 'heartbeat', userId: 'bob', ts: Date.now() }), 80);
    try {
      const idleSince = Date.now();
      expect((await alice!.closed()).code).toBe(4008);
      expect(Date.now() - idleSince).toBeGreaterThanOrEqual(timeoutMs - 100);
      const taken = await bob!.until('presence');
      expect(taken.slice(0, -1).every((m) => m.type === 'ack' && m.op === 'heartbeat')).toBe(true);
      const presence = taken.at(-1) as Extract<ServerMessage, { type: 'presence' }>;
      expect(presence.users.map((u) => u.userId)).toEqual(['bob']);
      // Heartbeats do not broadcast presence, and bob outlives the timeout several times over.
      await new Promise((resolve) => setTimeout(resolve, 2 * timeoutMs));
      expect(bob!.inbox.filter((m) => m.type !== 'ack')).toEqual([]);
      expect(bob!.ws.readyState).toBe(bob!.ws.OPEN);
    } finally {
      clearInterval(beat);
    }
  });
});
