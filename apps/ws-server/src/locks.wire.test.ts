// Locks over real sockets (CONTRACT §5, §7): conflicts reach only the requester, the adapter's one
// deadline timer frees a lock at its expiry and tells the whole room, heartbeats renew it past the
// original TTL, shared mode lists every selector, and fences only grow.

import type { AckMessage, ServerMessage } from '@exo/protocol';
import { describe, expect, it } from 'vitest';
import { room, serverPerTest, type TestClient } from '../test/kit.js';

const server = serverPerTest();

async function select(client: TestClient, userId: string, planetId: string): Promise<AckMessage> {
  client.send({ type: 'select', planetId, userId });
  const taken = await client.until('ack');
  return taken.at(-1) as AckMessage;
}

const selectedOf = (m: ServerMessage) => (m.type === 'selection_state' ? m.selected : null);

describe('exclusive locks over the wire', () => {
  it('sends the conflict, with the holder and its expiry, only to the requester', async () => {
    const s = await server();
    const [alice, bob, carol] = await room(s.url, ['alice', 'bob', 'carol']);
    const granted = await select(alice!, 'alice', 'p');
    await bob!.next('selection_state');
    await carol!.next('selection_state');

    bob!.send({ type: 'select', planetId: 'p', userId: 'bob', rid: 'b1' });
    expect(await bob!.next()).toEqual({
      type: 'conflict',
      planetId: 'p',
      lockedBy: 'alice',
      reason: 'locked',
      expiresAt: granted.expiresAt,
      rid: 'b1',
    });
    await Promise.all([alice!.quiet(100), carol!.quiet(0), bob!.quiet(0)]);
    expect(s.engine.inspect().rooms[0]!.selected).toEqual([['p', ['alice']]]);
  });

  it('frees a lock at its expiry and tells the whole room', async () => {
    const s = await server({ core: { lockTtlMs: 1000 } });
    const [alice, bob] = await room(s.url, ['alice', 'bob']);
    const granted = await select(alice!, 'alice', 'p');
    expect(granted.expiresAt! - Date.now()).toBeLessThanOrEqual(1000);
    await bob!.next('selection_state');

    const [forAlice, forBob] = await Promise.all([
      alice!.next('selection_state'),
      bob!.next('selection_state'),
    ]);
    // The timer fires at expiresAt, not before (a few ms of clock granularity allowed).
    expect(Date.now()).toBeGreaterThanOrEqual(granted.expiresAt! - 5);
    expect(forAlice).toEqual(forBob);
    expect(forBob.selected).toEqual({});
    bob!.send({ type: 'select', planetId: 'p', userId: 'bob' });
    expect((await bob!.until('ack')).at(-1)).toMatchObject({ op: 'select', fence: expect.any(Number) });
  });

  it('renews the lock on heartbeat, keeping it past the original TTL', async () => {
    const s = await server({ core: { lockTtlMs: 1000 } });
    const [alice, bob] = await room(s.url, ['alice', 'bob']);
    const granted = await select(alice!, 'alice', 'p');
    await bob!.next('selection_state');

    // Nothing may happen during the first half of the TTL; then the holder heartbeats.
    await bob!.quiet(500);
    alice!.send({ type: 'heartbeat', userId: 'alice', ts: 12345.5, rid: 'hb' });
    const hb = await alice!.next('ack');
    expect(hb).toEqual({
      type: 'ack',
      op: 'heartbeat',
      ok: true,
      rid: 'hb',
      ts: 12345.5,
      serverTs: expect.any(Number),
      expiresAt: expect.any(Number),
    });
    expect(hb.expiresAt).toBe(hb.serverTs! + 1000);
    expect(hb.expiresAt).toBeGreaterThan(granted.expiresAt! + 400);

    // Past the original expiry, still held: no selection_state, and bob's select conflicts.
    await bob!.quiet(granted.expiresAt! - Date.now() + 150);
    await alice!.quiet(0);
    bob!.send({ type: 'select', planetId: 'p', userId: 'bob' });
    expect(await bob!.next()).toMatchObject({ type: 'conflict', lockedBy: 'alice', expiresAt: hb.expiresAt });

    // Without further renewal it goes at the renewed expiry.
    expect((await bob!.next('selection_state')).selected).toEqual({});
    expect(Date.now()).toBeGreaterThanOrEqual(hb.expiresAt! - 5);
  });

  it('renews the lock on a select by the holder without a broadcast, keeping the fence', async () => {
    const s = await server();
    const [alice, bob] = await room(s.url, ['alice', 'bob']);
    const first = await select(alice!, 'alice', 'p');
    await bob!.next('selection_state');
    alice!.send({ type: 'select', planetId: 'p', userId: 'alice', rid: 2 });
    const again = await alice!.next('ack');
    expect(again).toEqual({
      type: 'ack',
      op: 'select',
      ok: true,
      rid: 2,
      expiresAt: expect.any(Number),
      fence: first.fence,
    });
    expect(again.expiresAt).toBeGreaterThanOrEqual(first.expiresAt!);
    await bob!.quiet(100);
  });

  it('grants fences that only grow, also across the room being removed and re-created', async () => {
    const s = await server();
    const [alice, bob] = await room(s.url, ['alice', 'bob']);
    const before = Date.now();
    const f1 = (await select(alice!, 'alice', 'p')).fence!;
    expect(f1).toBeGreaterThanOrEqual(before * 1000);
    await bob!.next('selection_state');

    alice!.send({ type: 'unselect', planetId: 'p', userId: 'alice' });
    await alice!.until('ack');
    await bob!.next('selection_state');
    const f2 = (await select(bob!, 'bob', 'p')).fence!;
    expect(f2).toBeGreaterThan(f1);
    await alice!.next('selection_state');

    // Moving to another planet releases the first in the same broadcast.
    bob!.send({ type: 'select', planetId: 'q', userId: 'bob' });
    const moved = await bob!.until('ack');
    expect(moved.filter((m) => m.type === 'selection_state').map(selectedOf)).toEqual([{ q: ['bob'] }]);
    expect(selectedOf(await alice!.next('selection_state'))).toEqual({ q: ['bob'] });
    const f3 = (await select(alice!, 'alice', 'p')).fence!;
    expect(f3).toBeGreaterThan(f2);

    for (const [c, userId] of [
      [alice!, 'alice'],
      [bob!, 'bob'],
    ] as const) {
      c.send({ type: 'leave', userId });
      await c.until('ack');
    }
    expect(s.engine.inspect().rooms).toEqual([]);
    const [again] = await room(s.url, ['alice']);
    expect((await select(again!, 'alice', 'p')).fence).toBeGreaterThan(f3);
  });

  it('answers NOT_SELECTED to an unselect by a non-holder', async () => {
    const s = await server();
    const [alice, bob] = await room(s.url, ['alice', 'bob']);
    await select(alice!, 'alice', 'p');
    await bob!.next('selection_state');
    bob!.send({ type: 'unselect', planetId: 'p', userId: 'bob', rid: 'u' });
    expect(await bob!.next()).toEqual({
      type: 'error',
      op: 'unselect',
      ok: false,
      code: 'NOT_SELECTED',
      message: expect.any(String),
      rid: 'u',
    });
    await alice!.quiet(100);
  });
});

describe('shared selections over the wire', () => {
  it('lists every selector of a planet, without conflicts or fences', async () => {
    const s = await server({ core: { selectionMode: 'shared' } });
    const [alice, bob, carol] = await room(s.url, ['alice', 'bob', 'carol']);
    const clients = { alice: alice!, bob: bob!, carol: carol! };
    const expected = [['alice'], ['alice', 'carol'], ['alice', 'carol', 'bob']];
    for (const [i, userId] of (['alice', 'carol', 'bob'] as const).entries()) {
      clients[userId].send({ type: 'select', planetId: 'p', userId });
      const taken = await clients[userId].until('ack');
      expect(taken).toEqual([
        expect.objectContaining({ type: 'selection_state', selected: { p: expected[i] } }),
        { type: 'ack', op: 'select', ok: true, expiresAt: expect.any(Number) },
      ]);
      for (const [other, c] of Object.entries(clients)) {
        if (other !== userId) expect(selectedOf(await c.next('selection_state'))).toEqual({ p: expected[i] });
      }
    }
    // A select by a listed selector renews without a broadcast.
    carol!.send({ type: 'select', planetId: 'p', userId: 'carol' });
    expect(await carol!.next()).toMatchObject({ type: 'ack', op: 'select' });
    await Promise.all([alice!.quiet(100), bob!.quiet(0)]);
  });
});
