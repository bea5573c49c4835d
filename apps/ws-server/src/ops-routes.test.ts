// GET /rooms and GET /rooms/:id on the health port: absent (404) without ADMIN_TOKEN, refused (401)
// without the right Bearer token, and with it a read-only view of each room — users with last-seen
// and connected, locks with holder, fence and time left, viewers with their last camera time.

import { describe, expect, it } from 'vitest';
import { joined } from '../test/kit.js';
import { opsPerTest } from '../test/ops-kit.js';
import type { RoomDetail, RoomSummary } from './rooms-view.js';

const ops = opsPerTest();
const TOKEN = 'test-admin-token-0123456789';
const auth = { headers: { Authorization: `Bearer ${TOKEN}` } };

describe('the inspection endpoints without ADMIN_TOKEN', () => {
  it.each(['/rooms', '/rooms/kepler', '/inspector'])(
    'answer 404 to GET %s, as to an unknown path',
    async (path) => {
      const { base } = await ops({ adminToken: null });
      const res = await fetch(`${base}${path}`, auth);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ ok: false, error: 'not found' });
    },
  );
});

describe('the inspection endpoints with ADMIN_TOKEN', () => {
  it.each([
    ['no Authorization header', {}],
    ['a wrong token', { Authorization: 'Bearer test-admin-token-0123456780' }],
    ['the token as a prefix', { Authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
    ['the token with a suffix', { Authorization: `Bearer ${TOKEN}x` }],
    ['another scheme', { Authorization: `Basic ${TOKEN}` }],
    ['the token without a scheme', { Authorization: TOKEN }],
  ])('refuse a request with %s: 401 with a Bearer challenge, no data', async (_, headers) => {
    const { exo, base } = await ops({ adminToken: TOKEN });
    const ana = await joined(exo.url, 'ana', 'kepler');
    for (const path of ['/rooms', '/rooms/kepler']) {
      const res = await fetch(`${base}${path}`, { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="exo-admin"');
      const text = await res.text();
      expect(text).not.toContain('ana');
      expect(text).not.toContain('kepler');
    }
    ana.close();
  });

  it('accept the scheme in any case', async () => {
    const { base } = await ops({ adminToken: TOKEN });
    expect((await fetch(`${base}/rooms`, { headers: { Authorization: `bearer ${TOKEN}` } })).status).toBe(
      200,
    );
  });

  it('list the rooms with their counts', async () => {
    const { exo, base } = await ops({ adminToken: TOKEN });
    const ana = await joined(exo.url, 'ana', 'kepler');
    const ben = await joined(exo.url, 'ben', 'kepler');
    const cleo = await joined(exo.url, 'cleo', 'trappist');
    ana.send({ type: 'select', planetId: 'kepler-22b', userId: 'ana' });
    await ana.until('ack');
    ben.send({ type: 'join_viewer', planetId: 'kepler-22b', userId: 'ben' });
    await ben.until('ack');
    const res = await fetch(`${base}/rooms`, auth);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { rooms: RoomSummary[] };
    expect(body.rooms).toEqual([
      { roomId: 'kepler', seq: expect.any(Number), users: 2, connected: 2, locks: 1, viewers: 1 },
      { roomId: 'trappist', seq: expect.any(Number), users: 1, connected: 1, locks: 0, viewers: 0 },
    ]);
    for (const c of [ana, ben, cleo]) c.close();
  });

  it("show a room's users, locks and viewers with their times", async () => {
    let now = 0;
    const { exo, base } = await ops({ adminToken: TOKEN, now: () => now });
    const ana = await joined(exo.url, 'ana', 'kepler', {
      user: { userId: 'ana', name: 'Ana', color: '#3FA' },
    });
    const ben = await joined(exo.url, 'ben', 'kepler');
    ana.send({ type: 'select', planetId: 'kepler-22b', userId: 'ana' });
    const grant = (await ana.until('ack')).at(-1) as { expiresAt: number; fence: number };
    ben.send({ type: 'join_viewer', planetId: 'kepler-22b', userId: 'ben' });
    await ben.until('ack');
    ben.send({ type: 'camera', planetId: 'kepler-22b', userId: 'ben', camera: { position: [1, 2, 3] } });
    ben.send({ type: 'heartbeat', userId: 'ben', ts: 1 });
    await ben.until('ack');

    now = grant.expiresAt - 120_000;
    const res = await fetch(`${base}/rooms/kepler`, auth);
    expect(res.status).toBe(200);
    const room = (await res.json()) as RoomDetail;
    expect(room).toMatchObject({ now, roomId: 'kepler', seq: expect.any(Number) });
    expect(room.users).toEqual([
      {
        userId: 'ana',
        name: 'Ana',
        color: '#3fa',
        joinedAt: expect.any(Number),
        lastSeen: expect.any(Number),
        lastSeenAgoMs: expect.any(Number),
        connected: true,
        graceUntil: null,
      },
      {
        userId: 'ben',
        joinedAt: expect.any(Number),
        lastSeen: expect.any(Number),
        lastSeenAgoMs: expect.any(Number),
        connected: true,
        graceUntil: null,
      },
    ]);
    expect(room.users[0]!.lastSeen).toBeLessThanOrEqual(Date.now());
    expect(room.locks).toEqual([
      {
        planetId: 'kepler-22b',
        holder: 'ana',
        fence: grant.fence,
        expiresAt: grant.expiresAt,
        timeLeftMs: 120_000,
      },
    ]);
    expect(room.viewers).toEqual([
      { planetId: 'kepler-22b', userId: 'ben', cameraAt: expect.any(Number), relayPending: false },
    ]);
    expect(room.viewers[0]!.cameraAt).toBeGreaterThanOrEqual(room.users[1]!.joinedAt);
    ana.close();
    ben.close();
  });

  it('find a room whose id needs percent-encoding, and answer 404 for an unknown one', async () => {
    const { exo, base } = await ops({ adminToken: TOKEN });
    const ana = await joined(exo.url, 'ana', 'org:team@kepler');
    expect((await fetch(`${base}/rooms/${encodeURIComponent('org:team@kepler')}`, auth)).status).toBe(200);
    for (const path of ['/rooms/nowhere', '/rooms/%E0%A4%A', '/rooms/a/b', '/rooms/']) {
      const res = await fetch(`${base}${path}`, auth);
      expect(res.status, path).toBe(404);
      expect(await res.json()).toEqual({ ok: false, error: 'no such room' });
    }
    ana.close();
  });

  it('answer 405 to another method than GET or HEAD', async () => {
    const { base } = await ops({ adminToken: TOKEN });
    const res = await fetch(`${base}/rooms`, { method: 'DELETE', ...auth });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
  });

  it('serve the inspector page without a token, with a policy that allows only its own script', async () => {
    const { base } = await ops({ adminToken: TOKEN });
    const res = await fetch(`${base}/inspector`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'sha256-/);
    const html = await res.text();
    expect(html).toContain('<title>Exo realtime inspector</title>');
    expect(html).not.toContain(TOKEN);
  });
});
