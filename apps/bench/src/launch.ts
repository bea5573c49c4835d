// Starting and stopping the processes of a run: one server (ours, the bare relay or Socket.IO),
// each through a shell that raises its open-file limit to the hard limit, with the gc hook
// preloaded; and the load-generator workers. Everything listens on 127.0.0.1 only, every wait
// has a deadline, and every process started is stopped (SIGKILL after a grace period).

import { type ChildProcess, fork, spawn } from 'node:child_process';
import { createServer, connect as tcpConnect } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { FromWorker, ServerKind, ToWorker, Wire } from './ipc.js';

const START_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 12_000;

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const ENTRY: Record<Exclude<ServerKind, 'base'>, string> = {
  exo: here('../../ws-server/dist/main.js'),
  bare: here('./servers/bare-relay.js'),
  socketio: here('./servers/socketio-relay.js'),
};

export const WIRE: Record<ServerKind, Wire> = { exo: 'ws', bare: 'ws', socketio: 'sio', base: 'ws' };
export const LABEL: Record<ServerKind, string> = {
  exo: 'exo (ours)',
  bare: 'bare ws',
  socketio: 'Socket.IO',
  base: 'exo (base build)',
};

export interface RunningServer {
  readonly kind: ServerKind;
  readonly pid: number;
  readonly url: string;
  /** Runs a full garbage collection in the server and resolves when it is done. */
  gc(): Promise<void>;
  stop(): Promise<void>;
}

export interface LaunchOptions {
  /** Write a V8 CPU profile of the server (node --cpu-prof) into this folder. */
  readonly cpuProfDir?: string;
  /** The daemon build run as `base` (e.g. an older commit's main.js, for a before/after). */
  readonly baseMain?: string;
  /** More environment for the server (e.g. REDIS_URL for cluster mode). */
  readonly env?: Readonly<Record<string, string>>;
  /** The profile's file name without extension, when several servers of one kind run at once. */
  readonly name?: string;
}

export async function startServer(kind: ServerKind, options: LaunchOptions = {}): Promise<RunningServer> {
  const port = await freePort();
  const healthPort = await freePort();
  const nodeArgs = ['--expose-gc', '--import', here('./servers/gc-hook.js')];
  if (options.cpuProfDir !== undefined) {
    nodeArgs.push(
      '--cpu-prof',
      '--cpu-prof-dir',
      options.cpuProfDir,
      '--cpu-prof-name',
      `${options.name ?? kind}.cpuprofile`,
    );
  }
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    PORT: String(port),
    WS_PORT: String(port),
    HEALTH_PORT: String(healthPort),
    HOST: '127.0.0.1',
    // Every simulated user comes from 127.0.0.1; the per-address cap is for the internet.
    MAX_CONNECTIONS_PER_IP: '20000',
    MAX_CONNECTIONS: '20000',
    ...options.env,
  };
  // exec keeps the pid, so /proc/<pid> is the server itself.
  const child = spawn(
    '/bin/sh',
    [
      '-c',
      'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"',
      process.execPath,
      ...nodeArgs,
      entry(kind, options),
    ],
    { env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForPort(port, child);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${kind} server did not start: ${String(err)}\n${stderr}`);
  }
  return {
    kind,
    pid: child.pid!,
    url: `ws://127.0.0.1:${port}/`,
    gc: () => request(child, 'gc', (m) => m === 'gc-done', 10_000).then(() => {}),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

function entry(kind: ServerKind, options: LaunchOptions): string {
  if (kind !== 'base') return ENTRY[kind];
  if (options.baseMain === undefined) throw new Error('the base server needs --base-main path/to/main.js');
  return options.baseMain;
}

export interface Worker {
  readonly pid: number;
  send(message: ToWorker): void;
  /** Sends `message` and resolves with the first answer `accept` takes. */
  ask<T extends FromWorker>(
    message: ToWorker,
    accept: (m: FromWorker) => m is T,
    timeoutMs: number,
  ): Promise<T>;
  stop(): Promise<void>;
}

export function startWorkers(count: number): Worker[] {
  return Array.from({ length: count }, () => {
    const child = fork(here('./worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return {
      pid: child.pid!,
      send: (message: ToWorker) => child.send(message),
      ask: <T extends FromWorker>(message: ToWorker, accept: (m: FromWorker) => m is T, timeoutMs: number) =>
        request(child, message, accept as (m: unknown) => boolean, timeoutMs) as Promise<T>,
      async stop() {
        if (child.exitCode !== null || child.signalCode !== null) return;
        if (child.connected) child.send({ type: 'stop' } satisfies ToWorker);
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      },
    };
  });
}

function request(
  child: ChildProcess,
  message: unknown,
  accept: (m: unknown) => boolean,
  timeoutMs: number,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown) => {
      if (!accept(m)) return;
      done();
      resolve(m);
    };
    const onExit = () => {
      done();
      reject(new Error(`process ${child.pid} exited while answering ${JSON.stringify(message)}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`process ${child.pid} did not answer ${JSON.stringify(message)} in ${timeoutMs} ms`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(message as never);
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = tcpConnect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`port ${port} not open after ${START_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
