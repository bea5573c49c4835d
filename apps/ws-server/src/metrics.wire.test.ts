// GET /metrics after a scripted run of real clients (joins, a select and a conflict, cameras, bad
// frames, a flood past the rate budget): every count the run caused is there, and no room or user
// id appears anywhere in the text (CONTRACT §9).

import { describe, expect, it } from 'vitest';
import { connect, joined } from '../test/kit.js';
import { opsPerTest, sample } from '../test/ops-kit.js';

const ops = opsPerTest();
const ROOM = 'room-zq81';
const ANA = 'user-ana-zq82';
const BEN = 'user-ben-zq83';
const CLEO = 'user-cleo-zq84';
const PLANET = 'planet-zq85';
// Long enough that the coalesced camera's wait dominates any scheduling noise.
const THROTTLE_MS = 300;

async function scrape(base: string): Promise<string> {
  const res = await fetch(`${base}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

describe('GET /metrics', () => {
  it('counts what a scripted run of clients caused', async () => {
    const { exo, base } = await ops({
      server: { core: { cameraMinIntervalMs: THROTTLE_MS, rateLimitMax: 20 } },
    });
    const ana = await joined(exo.url, ANA, ROOM);
    const ben = await joined(exo.url, BEN, ROOM);
    ana.inbox.length = 0;

    ana.send({ type: 'select', planetId: PLANET, userId: ANA });
    await ana.until('ack');
    ben.send({ type: 'select', planetId: PLANET, userId: BEN, rid: 'b1' });
    await ben.until('conflict');

    ana.send({ type: 'join_viewer', planetId: PLANET, userId: ANA });
    await ana.until('ack');
    ben.send({ type: 'join_viewer', planetId: PLANET, userId: BEN });
    await ben.until('ack');
    const camera = (x: number) => ({
      type: 'camera',
      planetId: PLANET,
      userId: ANA,
      camera: { position: [x, 0, 0] },
    });
    ana.send(camera(1));
    ana.send(camera(2));
    expect((await ben.until('camera')).at(-1)).toMatchObject({ camera: { position: [1, 0, 0] } });
    expect((await ben.until('camera')).at(-1)).toMatchObject({ camera: { position: [2, 0, 0] } });

    ben.send('not json');
    await ben.until('error');
    ben.send({ type: `dance-${BEN}` });
    await ben.until('error');

    // 1 join + 24 heartbeats against a budget of 20: the last 5 are refused.
    const cleo = await connect(exo.url);
    cleo.send({ type: 'join', roomId: `${ROOM}-2`, user: { userId: CLEO } });
    await cleo.until('ack');
    for (let i = 0; i < 24; i++) cleo.send({ type: 'heartbeat', userId: CLEO, ts: i });
    for (let i = 0; i < 24; i++) await cleo.until(i < 19 ? 'ack' : 'error');

    const text = await scrape(base);
    expect(sample(text, 'exo_messages_in_total', { type: 'join' })).toBe(3);
    expect(sample(text, 'exo_messages_in_total', { type: 'select' })).toBe(2);
    expect(sample(text, 'exo_messages_in_total', { type: 'join_viewer' })).toBe(2);
    expect(sample(text, 'exo_messages_in_total', { type: 'camera' })).toBe(2);
    expect(sample(text, 'exo_messages_in_total', { type: 'heartbeat' })).toBe(24);
    expect(sample(text, 'exo_messages_in_total', { type: 'invalid' })).toBe(1);
    expect(sample(text, 'exo_messages_in_total', { type: 'unknown' })).toBe(1);

    expect(sample(text, 'exo_messages_out_total', { type: 'conflict' })).toBe(1);
    expect(sample(text, 'exo_messages_out_total', { type: 'camera' })).toBe(2);
    // ana's join: presence to ana; ben's join: presence to both; cleo's join: presence to cleo.
    expect(sample(text, 'exo_messages_out_total', { type: 'presence' })).toBe(4);
    expect(sample(text, 'exo_messages_out_total', { type: 'error' })).toBe(7);
    expect(sample(text, 'exo_errors_total', { code: 'BAD_JSON' })).toBe(1);
    expect(sample(text, 'exo_errors_total', { code: 'UNKNOWN_TYPE' })).toBe(1);
    expect(sample(text, 'exo_errors_total', { code: 'RATE_LIMITED' })).toBe(5);
    expect(sample(text, 'exo_rate_limited_total')).toBe(5);
    expect(sample(text, 'exo_slow_consumer_dropped_total')).toBe(0);
    expect(sample(text, 'exo_slow_consumer_closed_total')).toBe(0);

    // Two relays: one at once, one coalesced that waited for the throttle interval to end.
    expect(sample(text, 'exo_relay_delay_seconds_count')).toBe(2);
    expect(sample(text, 'exo_relay_delay_seconds_bucket', { le: '0.05' })).toBe(1);
    expect(sample(text, 'exo_relay_delay_seconds_sum')).toBeGreaterThan((THROTTLE_MS / 1000) * 0.5);

    expect(sample(text, 'exo_connections')).toBe(3);
    expect(sample(text, 'exo_rooms')).toBe(2);
    expect(sample(text, 'exo_users')).toBe(3);
    expect(sample(text, 'exo_users_in_grace')).toBe(0);
    expect(sample(text, 'exo_locks')).toBe(1);
    expect(sample(text, 'exo_viewers')).toBe(2);
    expect(sample(text, 'exo_pending_deadlines')).toBeGreaterThan(0);
    expect(sample(text, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);

    for (const id of [ROOM, ANA, BEN, CLEO, PLANET, 'zq8']) expect(text).not.toContain(id);
  });

  it('answers HEAD without a body, and 405 to another method', async () => {
    const { base } = await ops();
    const head = await fetch(`${base}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await fetch(`${base}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });
});
