// The Prometheus metrics of one server, served as text on GET /metrics (CONTRACT §9). Rules:
// - one prom-client Registry per server, never the library's global one: tests run many servers
//   in one process, and each must count only its own;
// - no room or user id is ever a label; label values come from closed sets (see hub-tally.ts);
// - gauges are read from engine.stats() when scraped, once per scrape; counters are kept as plain
//   numbers by HubTally on the hot path and copied into prom-client when scraped; the relay delay
//   histogram is observed as relays go out;
// - Node.js process metrics (event-loop lag, heap, GC, handles) come from prom-client's defaults;
// - exo_redis_commands_total exists only in cluster mode: the Redis store increments it, one per
//   round trip, labelled by command name (a fixed set of verbs, never keys).

import type { CoreStats } from '@exo/room-core';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { HubTally } from './hub-tally.js';
import type { HubObserver } from './observer.js';

export interface MetricsOptions {
  /** The core's counts, read when scraped (`() => exo.engine.stats()`). */
  readonly stats: () => CoreStats;
  /** Cluster mode: registers exo_redis_commands_total. */
  readonly cluster?: boolean;
  /** prom-client's Node.js process metrics; default on. */
  readonly processMetrics?: boolean;
  /** A monotonic clock in milliseconds, for the relay delay; default performance.now. */
  readonly now?: () => number;
}

export interface ServerMetrics {
  readonly registry: Registry;
  /** Pass to createExoServer({ observer }). */
  readonly observer: HubObserver;
  /** Redis round trips, for the cluster store to count; null outside cluster mode. */
  readonly redisCommands: Counter<'command'> | null;
  /** The text exposition and its content type, for GET /metrics. */
  scrape(): Promise<{ contentType: string; body: string }>;
}

const GAUGES: readonly [name: string, help: string, read: (s: CoreStats) => number][] = [
  ['exo_connections', 'Open WebSocket connections, joined or not.', (s) => s.connections],
  ['exo_rooms', 'Rooms with at least one user.', (s) => s.rooms],
  ['exo_users', 'Users in rooms, including those in a reconnect grace.', (s) => s.users],
  ['exo_users_in_grace', 'Users disconnected and waiting in their reconnect grace.', (s) => s.usersInGrace],
  ['exo_locks', 'Planet selections held (exclusive locks, or shared selections).', (s) => s.locks],
  ['exo_viewers', 'Viewer pairs (user, planet).', (s) => s.viewers],
  [
    'exo_pending_deadlines',
    'Live deadlines the core will apply (expiries, grace ends, relays).',
    (s) => s.pendingDeadlines,
  ],
];

// From well under a millisecond (relayed at once) to past the throttle interval (coalesced).
const RELAY_DELAY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export function createServerMetrics(options: MetricsOptions): ServerMetrics {
  const registry = new Registry();
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });

  let sampled: CoreStats | null = null;
  // prom-client runs every collect() synchronously before its first await: one stats() per scrape.
  const sample = (): CoreStats => {
    if (sampled === null) {
      sampled = options.stats();
      queueMicrotask(() => {
        sampled = null;
      });
    }
    return sampled;
  };
  for (const [name, help, read] of GAUGES) {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(sample()));
      },
    });
  }

  const relayDelay = new Histogram({
    name: 'exo_relay_delay_seconds',
    help: "Time from a camera frame's arrival to its relay being written; coalesced relays include the throttle wait.",
    buckets: RELAY_DELAY_BUCKETS,
    registers: [registry],
  });
  const tally = new HubTally((seconds) => relayDelay.observe(seconds), options.now);

  const labelled = (name: string, help: string, label: string, read: () => Map<string, number>) =>
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset();
        for (const [value, count] of read()) this.inc({ [label]: value }, count);
      },
    });
  const plain = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  labelled(
    'exo_messages_in_total',
    'Client frames received, by message type.',
    'type',
    () => tally.messagesIn,
  );
  labelled(
    'exo_messages_out_total',
    'Server messages written to sockets, one per recipient, by message type.',
    'type',
    () => tally.messagesOut,
  );
  labelled('exo_errors_total', 'error answers sent, by code.', 'code', () => tally.errors);
  plain('exo_rate_limited_total', 'Frames refused with RATE_LIMITED.', () => tally.rateLimited);
  plain(
    'exo_slow_consumer_dropped_total',
    'Camera relays held back because the reader was over SEND_SOFT_LIMIT_BYTES.',
    () => tally.slowConsumerDropped,
  );
  plain(
    'exo_slow_consumer_closed_total',
    'Connections closed with 1013 for being over SEND_HARD_LIMIT_BYTES.',
    () => tally.slowConsumerClosed,
  );

  const redisCommands =
    options.cluster === true
      ? new Counter({
          name: 'exo_redis_commands_total',
          help: 'Redis round trips in cluster mode, by command.',
          labelNames: ['command'] as const,
          registers: [registry],
        })
      : null;

  return {
    registry,
    observer: tally,
    redisCommands,
    async scrape() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
