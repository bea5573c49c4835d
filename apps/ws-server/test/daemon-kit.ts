// The daemon as a process, for tests: `node apps/ws-server/dist/main.js` (built by global-setup.ts)
// with only the variables a test gives (plus ports 0 on 127.0.0.1), found through its JSON
// `listening` log line. Every daemon started here is remembered, so a file can end them all
// (`killDaemons`) and no process outlives its tests.

import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { ENV_VARS } from '../src/config.js';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const WAIT_MS = 5000;

/** What the daemon's `listening` line says. */
export interface Listening {
  readonly wsPort: number;
  readonly healthPort: number;
  /** Cluster mode (REDIS_URL set): this process's id; null for one process. */
  readonly cluster: { readonly procId: string } | null;
}

export interface Daemon {
  readonly child: ChildProcess;
  /** Raw stdout lines so far. */
  readonly lines: string[];
  stderr(): string;
  /** Resolves with the ports from the `listening` log line; rejects if the process exits first. */
  listening(): Promise<Listening>;
  /** Resolves once the process has exited and its output is read. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running: Daemon[] = [];

/** SIGKILLs every daemon started here that still runs, and waits until each has exited. */
export async function killDaemons(): Promise<void> {
  const daemons = running.splice(0);
  for (const { child } of daemons) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  await Promise.all(daemons.map((daemon) => daemon.exited));
}

export function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Starts the daemon with only the variables given (plus ports 0 on 127.0.0.1), none inherited. */
export function startDaemon(vars: Record<string, string> = {}): Daemon {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of ENV_VARS) delete env[name];
  Object.assign(env, { WS_PORT: '0', HEALTH_PORT: '0', HOST: '127.0.0.1' }, vars);
  const child = spawn(process.execPath, [MAIN], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  const listening = new Promise<Listening>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      const entry = parseObject(line);
      if (entry?.msg === 'listening') resolve(entry as unknown as Listening);
    });
    exited.then(({ code }) =>
      reject(new Error(`the daemon exited with ${code} before listening: ${stderr}${lines.join('\n')}`)),
    );
  });
  // A test that expects a failed start-up never awaits `listening`.
  listening.catch(() => {});
  const daemon: Daemon = {
    child,
    lines,
    stderr: () => stderr,
    listening: () => within(listening, 'the listening line'),
    exited,
  };
  running.push(daemon);
  return daemon;
}

export function parseObject(line: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

export function expectJsonLines(lines: readonly string[]): Record<string, unknown>[] {
  expect(lines.length).toBeGreaterThan(0);
  const entries = lines.map(parseObject);
  expect(lines.filter((_, i) => entries[i] === null)).toEqual([]);
  return entries as Record<string, unknown>[];
}
