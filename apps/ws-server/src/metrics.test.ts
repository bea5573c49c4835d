// createServerMetrics: a registry per server (two servers never share a count), gauges read from
// the core's stats once per scrape, counters fed by the hub observer, and the Redis hook present
// only in cluster mode.

import type { CoreStats } from '@exo/room-core';
import { describe, expect, it } from 'vitest';
import { sample } from '../test/ops-kit.js';
import { createServerMetrics } from './metrics.js';

const STATS: CoreStats = {
  connections: 5,
  boundConnections: 4,
  rooms: 2,
  users: 4,
  usersInGrace: 1,
  locks: 3,
  viewers: 6,
  cameras: 2,
  pendingRelays: 1,
  pendingDeadlines: 9,
  heapSize: 12,
};

describe('createServerMetrics', () => {
  it('reports every gauge from one stats() call per scrape', async () => {
    let calls = 0;
    const stats = () => {
      calls++;
      return STATS;
    };
    const metrics = createServerMetrics({ stats, processMetrics: false });
    const { body, contentType } = await metrics.scrape();
    expect(contentType).toMatch(/^text\/plain/);
    expect(calls).toBe(1);
    expect(sample(body, 'exo_connections')).toBe(5);
    expect(sample(body, 'exo_rooms')).toBe(2);
    expect(sample(body, 'exo_users')).toBe(4);
    expect(sample(body, 'exo_users_in_grace')).toBe(1);
    expect(sample(body, 'exo_locks')).toBe(3);
    expect(sample(body, 'exo_viewers')).toBe(6);
    expect(sample(body, 'exo_pending_deadlines')).toBe(9);
    await metrics.scrape();
    expect(calls).toBe(2);
  });

  it('keeps counts per instance: what one server observes never shows in another', async () => {
    const a = createServerMetrics({ stats: () => STATS, processMetrics: false });
    const b = createServerMetrics({ stats: () => STATS, processMetrics: false });
    a.observer.slowReaderClosed();
    a.observer.relayHeld();
    a.observer.messageOut({ type: 'error', ok: false, code: 'RATE_LIMITED', message: 'x' }, 1, 1);
    const textA = (await a.scrape()).body;
    const textB = (await b.scrape()).body;
    expect(sample(textA, 'exo_slow_consumer_closed_total')).toBe(1);
    expect(sample(textA, 'exo_slow_consumer_dropped_total')).toBe(1);
    expect(sample(textA, 'exo_rate_limited_total')).toBe(1);
    expect(sample(textA, 'exo_errors_total', { code: 'RATE_LIMITED' })).toBe(1);
    expect(sample(textB, 'exo_slow_consumer_closed_total')).toBe(0);
    expect(sample(textB, 'exo_errors_total', { code: 'RATE_LIMITED' })).toBeUndefined();
  });

  it('counters only grow across scrapes', async () => {
    const metrics = createServerMetrics({ stats: () => STATS, processMetrics: false });
    metrics.observer.relayHeld();
    expect(sample((await metrics.scrape()).body, 'exo_slow_consumer_dropped_total')).toBe(1);
    metrics.observer.relayHeld();
    expect(sample((await metrics.scrape()).body, 'exo_slow_consumer_dropped_total')).toBe(2);
  });

  it('registers exo_redis_commands_total only in cluster mode, for the Redis store to count', async () => {
    const single = createServerMetrics({ stats: () => STATS, processMetrics: false });
    expect(single.redisCommands).toBeNull();
    expect((await single.scrape()).body).not.toContain('exo_redis_commands_total');
    const cluster = createServerMetrics({ stats: () => STATS, processMetrics: false, cluster: true });
    cluster.redisCommands!.inc({ command: 'evalsha' });
    cluster.redisCommands!.inc({ command: 'evalsha' });
    expect(sample((await cluster.scrape()).body, 'exo_redis_commands_total', { command: 'evalsha' })).toBe(2);
  });

  it('includes the Node.js process metrics, event-loop lag among them, unless turned off', async () => {
    const on = createServerMetrics({ stats: () => STATS });
    expect(sample((await on.scrape()).body, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    const off = createServerMetrics({ stats: () => STATS, processMetrics: false });
    expect((await off.scrape()).body).not.toContain('nodejs_');
  });
});
