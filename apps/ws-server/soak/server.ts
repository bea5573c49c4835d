// The soak's daemon: createExoServer configured from the environment and wired as the real daemon
// (configFromEnv, so short timers come in as PRESENCE_TIMEOUT_MS and friends; metrics on), logging
// JSON lines with pino to stdout, and answering the soak driver over the Node IPC channel:
//   driver → { type: 'stats', id, gc }   → { type: 'stats', id, stats, connections, backlog, memory }
//   driver → { type: 'stop' }            → closes the server and exits 0
// and, once listening, → { type: 'listening', port }. With `gc` it forces a full collection first
// (the process runs with --expose-gc), so RSS readings compare live memory, not garbage. Every
// memory reading is also logged. Uncaught exceptions and unhandled rejections are logged at fatal
// level and the process goes on, so the driver can count them rather than lose the daemon.

import type { CoreStats } from '@exo/room-core';
import {
  authenticatorFor,
  configFromEnv,
  createExoServer,
  createServerMetrics,
  serverOptions,
} from '@exo/ws-server';
import { pino } from 'pino';

export type DriverMessage = { type: 'stats'; id: number; gc: boolean } | { type: 'stop' };

export interface MemoryReading {
  /** Bytes, from process.memoryUsage(). */
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  /** The largest RSS the process has had (bytes), from process.resourceUsage(). */
  readonly peakRss: number;
  readonly afterGc: boolean;
}

export type DaemonMessage =
  | { type: 'listening'; port: number }
  | {
      type: 'stats';
      id: number;
      stats: CoreStats;
      /** Sockets the adapter still holds. */
      connections: number;
      /** Sockets with bytes buffered or camera relays held back. */
      backlog: number;
      memory: MemoryReading;
    };

const config = configFromEnv(process.env);
const log = pino({ level: config.logLevel });
process.on('uncaughtException', (err) => log.fatal({ err: err.stack ?? String(err) }, 'uncaught exception'));
process.on('unhandledRejection', (err) =>
  log.fatal({ err: err instanceof Error ? (err.stack ?? err.message) : String(err) }, 'unhandled rejection'),
);

// Metrics as the daemon wires them; every stats request also scrapes them, as Prometheus would.
const metrics = createServerMetrics({ stats: () => exo.engine.stats() });
const exo = await createExoServer(
  serverOptions(config, { logger: log, observer: metrics.observer, authenticate: authenticatorFor(config) }),
);
log.info({ wsPort: exo.port, core: config.core }, 'soak daemon listening');

const send = (message: DaemonMessage) => process.send?.(message);

function memory(afterGc: boolean): MemoryReading {
  if (afterGc) collect();
  const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
  const reading = {
    rss,
    heapUsed,
    heapTotal,
    external,
    peakRss: process.resourceUsage().maxRSS * 1024,
    afterGc,
  };
  log.info(reading, 'memory');
  return reading;
}

/** Two full collections: the second frees what the first's finalizers released. */
function collect(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('the soak daemon needs node --expose-gc');
  gc();
  gc();
}

process.on('message', async (message: DriverMessage) => {
  if (message.type === 'stats') {
    await metrics.scrape();
    const backlog = [...exo.sendBacklog().values()].filter((b) => b.buffered > 0 || b.held > 0).length;
    send({
      type: 'stats',
      id: message.id,
      stats: exo.engine.stats(),
      connections: exo.connections,
      backlog,
      memory: memory(message.gc),
    });
  } else {
    exo.close().then(
      () => {
        log.info({}, 'soak daemon stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err: String(err) }, 'soak daemon failed to stop');
        process.exit(1);
      },
    );
  }
});
send({ type: 'listening', port: exo.port });
