import { describe, expect, it } from 'vitest';
import { connect, joined, serverPerTest } from '../test/kit.js';

const server = serverPerTest();

describe('createExoServer over real sockets', () => {
  it('lets two clients see each other, lock a planet, conflict and relay a camera', async () => {
    const s = await server();
    const alice = await joined(s.url, 'alice');
    const bob = await connect(s.url);
    bob.send({ type: 'join', roomId: 'room', user: { userId: 'bob', name: 'Bob' }, rid: 1 });
    const presence = await bob.next('presence');
    expect(presence.users.map((u) => u.userId)).toEqual(['alice', 'bob']);
    await bob.next('selection_state');
    expect(await bob.next('ack')).toMatchObject({ op: 'join', ok: true, rid: 1, viewing: [] });
    expect((await alice.next('presence')).users).toHaveLength(2);

    alice.send({ type: 'select', planetId: 'kepler-22b', userId: 'alice' });
    expect((await alice.next('selection_state')).selected).toEqual({ 'kepler-22b': ['alice'] });
    expect(await alice.next('ack')).toMatchObject({ op: 'select', ok: true });
    expect((await bob.next('selection_state')).selected).toEqual({ 'kepler-22b': ['alice'] });
    bob.send({ type: 'select', planetId: 'kepler-22b', userId: 'bob', rid: 'b1' });
    expect(await bob.next('conflict')).toMatchObject({
      planetId: 'kepler-22b',
      lockedBy: 'alice',
      rid: 'b1',
    });

    for (const [c, id] of [
      [alice, 'alice'],
      [bob, 'bob'],
    ] as const) {
      c.send({ type: 'join_viewer', planetId: 'kepler-22b', userId: id });
      await c.until('ack');
    }
    alice.send({
      type: 'camera',
      planetId: 'kepler-22b',
      userId: 'alice',
      camera: { position: [1, 2, 3], fov: 60 },
    });
    expect(await bob.next('camera')).toEqual({
      type: 'camera',
      planetId: 'kepler-22b',
      userId: 'alice',
      camera: { position: [1, 2, 3], fov: 60 },
    });
    await alice.quiet(100);
  });

  it('selects the exo.v1 subprotocol and never echoes an exo.auth entry', async () => {
    const s = await server();
    const offered = await connect(s.url, ['exo.auth.abc', 'exo.v1']);
    expect(offered.ws.protocol).toBe('exo.v1');
    const plain = await connect(s.url);
    expect(plain.ws.protocol).toBe('');
  });

  it('hands out unguessable resume tokens by default: 192 random bits, base64url, new for every join', async () => {
    const s = await server();
    const tokens = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const client = await connect(s.url);
      client.send({ type: 'join', roomId: `r${i}`, user: { userId: 'ana' } });
      const ack = (await client.until('ack')).at(-1);
      const token = ack?.type === 'ack' ? ack.resumeToken : undefined;
      expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
      tokens.add(token!);
    }
    expect(tokens.size).toBe(20);
  });
});
