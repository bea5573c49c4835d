// A private redis-server per test file, for the cluster tests. Rules:
// - `startRedis()` spawns `redis-server` on a free 127.0.0.1 port, without persistence, and resolves
//   once it logs that it accepts connections and answers PING. `stop()` / `kill()` end only that
//   PID (SIGTERM / SIGKILL) and wait for its exit; `start()` runs it again on the same port, so a
//   test can cut Redis off and bring it back under connected clients.
// - With REDIS_URL set, that server is used instead and cannot be stopped: `controllable` is false
//   and the fault tests skip, saying why.
// - `describeWithRedis` runs a suite against a fresh server. Without redis-server the suite is
//   skipped with a loud warning on stderr, except under CI, where it fails: CI installs Redis
//   (.ci/run), so a missing one there is a broken machine, not a reason to test less.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createConnection, createServer } from 'node:net';
import { afterAll, beforeAll, describe, it } from 'vitest';

export interface RedisHandle {
  readonly url: string;
  readonly port: number;
  /** False with REDIS_URL: stop/start/kill then throw. */
  readonly controllable: boolean;
  /** SIGTERM, then waits for the process to exit. */
  stop(): Promise<void>;
  /** Starts the server again on the same port; resolves once it answers PING. */
  start(): Promise<void>;
  /** SIGKILL (no goodbye to clients), then waits for the process to exit. */
  kill(): Promise<void>;
}

const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 5000;
const MISSING =
  '⚠ cluster tests SKIPPED: redis-server not found; install it (apt-get install -y redis-server) — under CI they run';

const MISSING_UNDER_CI =
  'cluster tests FAILED: redis-server not found and CI is set; .ci/run installs it (apt-get install -y redis-server)';

export function redisAvailable(): boolean {
  if (process.env.REDIS_URL) return true;
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Why the fault tests cannot run on this handle, or null when they can. */
export function uncontrollableReason(redis: RedisHandle): string | null {
  return redis.controllable ? null : 'REDIS_URL is set: the tests cannot stop and restart that server';
}

export async function startRedis(): Promise<RedisHandle> {
  const external = process.env.REDIS_URL;
  if (external) {
    const unsupported = async (): Promise<never> => {
      throw new Error('REDIS_URL is set: this Redis is not ours to stop or start');
    };
    const port = Number(new URL(external).port || 6379);
    return {
      url: external,
      port,
      controllable: false,
      stop: unsupported,
      start: unsupported,
      kill: unsupported,
    };
  }
  const port = await freePort();
  let child: ChildProcess | undefined = await spawnRedis(port);
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, 'exit');
    running.kill(signal);
    await exited;
  };
  return {
    url: `redis://${HOST}:${port}`,
    port,
    controllable: true,
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    async start() {
      if (child) throw new Error(`redis-server on port ${port} is already running`);
      child = await spawnRedis(port);
    },
  };
}

/**
 * A describe block with a running Redis: `redis()` is the handle inside tests and hooks. Skipped
 * loudly without redis-server; failing under CI.
 */
export function describeWithRedis(name: string, fn: (redis: () => RedisHandle) => void): void {
  if (!redisAvailable()) {
    if (process.env.CI) {
      describe(name, () => {
        it('needs redis-server', () => {
          throw new Error(MISSING_UNDER_CI);
        });
      });
      return;
    }
    process.stderr.write(`\n${MISSING}\n  (suite: ${name})\n\n`);
    describe.skip(name, () => fn(() => unavailable()));
    return;
  }
  describe(name, () => {
    let handle: RedisHandle | undefined;
    beforeAll(async () => {
      handle = await startRedis();
    });
    afterAll(async () => {
      if (handle?.controllable) await handle.stop();
    });
    fn(() => handle ?? unavailable());
  });
}

function unavailable(): never {
  throw new Error('no Redis: describeWithRedis did not start one');
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, HOST);
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no TCP port from listen(0)');
  return address.port;
}

async function spawnRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // A crashed test worker must not leave its server running: kill it when this process exits.
  const reap = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', reap);
  child.once('exit', () => process.off('exit', reap));
  let output = '';
  let ready = false;
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  const accepting = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`redis-server on port ${port} not ready within ${START_TIMEOUT_MS} ms:\n${output}`));
    }, START_TIMEOUT_MS);
    // The listener stays to keep the pipes drained (a full pipe would block the server), but
    // stops collecting once the server is ready.
    const onData = (chunk: string): void => {
      if (ready) return;
      output += chunk;
      if (output.includes('Ready to accept connections')) {
        ready = true;
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(`redis-server on port ${port} exited (${signal ?? code}) before it was ready:\n${output}`),
      );
    });
  });
  try {
    await accepting;
    await ping(port);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return child;
}

/** One PING over a raw socket: the server is up when it answers +PONG. */
async function ping(port: number): Promise<void> {
  const socket = createConnection({ host: HOST, port });
  try {
    await once(socket, 'connect');
    socket.write('PING\r\n');
    const [reply] = (await once(socket, 'data')) as [Buffer];
    if (!reply.toString('utf8').startsWith('+PONG')) {
      throw new Error(`redis-server on port ${port} answered PING with ${JSON.stringify(reply.toString())}`);
    }
  } finally {
    socket.destroy();
  }
}
