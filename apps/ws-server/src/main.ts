// The daemon's composition root: the environment in, real adapters wired, signals handled. It is
// the embedding API (createExoServer) plus a health server (with /metrics, and /rooms when
// ADMIN_TOKEN is set) plus pino. SIGTERM/SIGINT: stop accepting, /ready answers 503, sockets close
// with 1001, exit 0 within 10 s.

import type { Server } from 'node:http';
import { type Logger as PinoLogger, pino } from 'pino';
import { RedisRoomStore } from './cluster/redis-store.js';
import type { RoomStore } from './cluster/store.js';
import { configFromEnv, EnvError, type ServerConfig } from './config.js';
import { type Authenticator, authenticatorFor, serverOptions } from './daemon-options.js';
import { createHealthServer } from './http.js';
import { createServerMetrics, type ServerMetrics } from './metrics.js';
import { opsRoutes } from './ops-routes.js';
import { createExoServer } from './server.js';

const SHUTDOWN_LIMIT_MS = 9000;

async function main(): Promise<void> {
  let config: ServerConfig;
  try {
    config = configFromEnv(process.env);
  } catch (err) {
    if (!(err instanceof EnvError)) throw err;
    pino().fatal({ err: err.message }, `invalid configuration: ${err.message}`);
    process.stderr.write(`exo-realtime: invalid configuration: ${err.message}\n`);
    process.exit(1);
  }
  const logger = pino({ level: config.logLevel });
  let authenticate: Authenticator | null;
  try {
    authenticate = authenticatorFor(config);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    logger.fatal({}, message);
    process.stderr.write(`exo-realtime: ${message}\n`);
    process.exit(1);
  }
  if (authenticate !== null) {
    logger.info(
      { algorithm: config.authJwtSecret !== null ? 'HS256' : 'public key' },
      'JWT authentication is on',
    );
  } else {
    logger.warn(
      {},
      'authentication is off: any client may join as any user (set AUTH_JWT_SECRET or AUTH_JWT_PUBLIC_KEY)',
    );
  }

  // The closures read `exo` only when scraped or inspected, after it is assigned below.
  const metrics = createServerMetrics({ stats: () => exo.engine.stats(), cluster: config.redisUrl !== null });
  const store = await clusterStore(config, metrics, logger);
  const exo = await createExoServer({
    ...serverOptions(config, { logger, observer: metrics.observer, authenticate }),
    ...(store === null ? {} : { cluster: { store } }),
  });
  const health = createHealthServer({
    ready: () => {
      if (exo.draining) return { ok: false, reason: 'draining' };
      if (!exo.storeReachable) return { ok: false, reason: 'redis unreachable' };
      return { ok: true };
    },
    routes: opsRoutes({ metrics, adminToken: config.adminToken, inspect: () => exo.engine.inspect() }),
  });
  if (config.adminToken !== null) logger.info({}, 'inspection endpoints are on: GET /rooms, /inspector');
  await listen(health, config.healthPort, config.host);
  const healthPort = (health.address() as { port: number }).port;
  logger.info(
    {
      host: config.host,
      wsPort: exo.port,
      healthPort,
      selectionMode: config.core.selectionMode,
      cluster: exo.procId === null ? null : { procId: exo.procId },
    },
    'listening',
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, connections: exo.connections }, 'shutting down');
    setTimeout(() => {
      logger.error({}, 'shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_LIMIT_MS).unref();
    exo
      .close()
      .then(() => store?.close())
      .then(() => new Promise<void>((resolve) => health.close(() => resolve())))
      .then(() => {
        logger.info({}, 'stopped');
        process.exit(0);
      })
      .catch((err: unknown) => {
        logger.error({ err: String(err) }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('uncaughtException', (err) => {
    logger.fatal({ err: err.stack ?? String(err) }, 'uncaught exception');
    process.exit(1);
  });
}

/** Cluster mode's store, or null for one process. A Redis unreachable at start-up stops the start. */
async function clusterStore(
  config: ServerConfig,
  metrics: ServerMetrics,
  logger: PinoLogger,
): Promise<RoomStore | null> {
  if (config.redisUrl === null) return null;
  const where = redactedUrl(config.redisUrl);
  try {
    const store = await RedisRoomStore.connect(config.redisUrl, {
      onCommand: (command) => metrics.redisCommands?.inc({ command }),
    });
    store.onStatus((up) => {
      if (up) logger.info({ redis: where }, 'Redis reachable again');
      else logger.error({ redis: where }, 'Redis unreachable: commands answer INTERNAL, /ready answers 503');
    });
    return store;
  } catch (err) {
    const message = err instanceof Error ? err.message : `cannot reach Redis at ${where}: ${String(err)}`;
    logger.fatal({}, message);
    process.stderr.write(`exo-realtime: ${message}\n`);
    process.exit(1);
  }
}

/** The URL without its password, for logs. */
function redactedUrl(url: string): string {
  const u = new URL(url);
  if (u.password !== '') u.password = '***';
  return u.toString();
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

await main();
