// The driver's handle on the soak daemon (server.ts): forked with DAEMON_NODE_FLAGS and the IPC channel,
// its stdout read as JSON log lines and counted by level, its stderr kept whole (a healthy daemon
// writes nothing there). Every request has a deadline, so a stuck daemon fails the soak instead of
// hanging it.

import { type ChildProcess, fork } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { DaemonMessage, DriverMessage } from './server.js';

export type StatsReply = Extract<DaemonMessage, { type: 'stats' }>;

/**
 * --expose-gc for forced collections before each memory reading. A young generation of a fixed
 * 2 MiB: V8 otherwise grows it (up to 2 × 16 MiB) under allocation pressure and keeps it through
 * every GC, which would show as RSS growth of tens of MiB that is sizing policy, not a leak.
 */
export const DAEMON_NODE_FLAGS = [
  '--expose-gc',
  '--min-semi-space-size=2',
  '--max-semi-space-size=2',
] as const;
const REPLY_MS = 10_000;
/** pino's numeric levels. */
const LEVELS: Readonly<Record<number, string>> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

export interface Daemon {
  readonly port: number;
  /** Log lines by level name; lines that are not a JSON log entry count as `unparsable`. */
  readonly lines: Map<string, number>;
  /** The first few error, fatal and unparsable lines, for the report. */
  readonly bad: string[];
  stderr(): string;
  stats(gc: boolean): Promise<StatsReply>;
  /** Asks the daemon to close its server and exit; resolves with its exit code. */
  stop(): Promise<number | null>;
  /** Kills it if it is still running (after a failure). */
  kill(): void;
}

export async function startDaemon(script: string, env: Record<string, string>): Promise<Daemon> {
  const child: ChildProcess = fork(script, [], {
    env,
    execArgv: [...DAEMON_NODE_FLAGS],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const lines = new Map<string, number>();
  const bad: string[] = [];
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const level = levelOf(line);
    lines.set(level, (lines.get(level) ?? 0) + 1);
    if ((level === 'error' || level === 'fatal' || level === 'unparsable') && bad.length < 10) bad.push(line);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waiting = new Map<number, (reply: StatsReply) => void>();
  let nextId = 0;
  const port = await new Promise<number>((resolve, reject) => {
    child.on('message', (message: DaemonMessage) => {
      if (message.type === 'listening') resolve(message.port);
      else waiting.get(message.id)?.(message);
    });
    exited.then((code) =>
      reject(new Error(`the soak daemon exited with ${code} before listening: ${stderr}`)),
    );
  });
  const request = (message: DriverMessage) => child.send(message);
  return {
    port,
    lines,
    bad,
    stderr: () => stderr,
    stats(gc) {
      const id = ++nextId;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`the soak daemon did not answer a stats request within ${REPLY_MS} ms`));
        }, REPLY_MS);
        waiting.set(id, (reply) => {
          clearTimeout(timer);
          waiting.delete(id);
          resolve(reply);
        });
        request({ type: 'stats', id, gc });
      });
    },
    async stop() {
      request({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), REPLY_MS);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

function levelOf(line: string): string {
  try {
    const entry = JSON.parse(line) as { level?: unknown };
    return typeof entry.level === 'number' ? (LEVELS[entry.level] ?? 'unparsable') : 'unparsable';
  } catch {
    return 'unparsable';
  }
}
