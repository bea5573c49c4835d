// The cluster benchmark's private redis-server: spawned on a free 127.0.0.1 port without
// persistence, stopped by its own PID at the end (and killed if the orchestrator exits first).
// The orchestrator speaks to it only to read INFO commandstats at a window's edges and to FLUSHALL
// between setups, one short connection per command, so a few lines of RESP are enough here; the
// daemons use their real client.

import { spawn, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { freePort, waitForPort } from './launch.js';

const STOP_GRACE_MS = 5000;
const COMMAND_TIMEOUT_MS = 5000;

export interface RedisServer {
  readonly pid: number;
  readonly url: string;
  /** Sends one command; resolves with a status, integer or bulk reply as text. */
  command(...args: string[]): Promise<string>;
  /** Calls per command since the server started (INFO commandstats), INFO itself left out. */
  calls(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/** Why the cluster benchmark cannot run here, or null when redis-server is on the PATH. */
export function redisServerMissing(): string | null {
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  if (probe.error === undefined && probe.status === 0) return null;
  return 'redis-server not found on the PATH: the cluster benchmark starts its own (apt-get install -y redis-server)';
}

export async function startRedis(): Promise<RedisServer> {
  const missing = redisServerMissing();
  if (missing !== null) throw new Error(missing);
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  try {
    await waitForPort(port, child);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`redis-server did not start: ${String(err)}\n${output}`);
  }
  const command = (...args: string[]) => send(port, args);
  return {
    pid: child.pid!,
    url: `redis://127.0.0.1:${port}`,
    command,
    async calls() {
      const out: Record<string, number> = {};
      for (const match of (await command('INFO', 'commandstats')).matchAll(
        /^cmdstat_([^:]+):calls=(\d+)/gm,
      )) {
        if (match[1] !== 'info') out[match[1]!] = Number(match[2]);
      }
      return out;
    },
    async stop() {
      process.off('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

function send(port: number, args: string[]): Promise<string> {
  const request = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    const fail = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    socket.setTimeout(COMMAND_TIMEOUT_MS, () => fail(new Error(`redis ${args[0]}: no reply in time`)));
    socket.once('error', fail);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const reply = parseReply(data);
      if (reply === null) return;
      socket.end();
      if (reply.error) reject(new Error(`redis ${args[0]}: ${reply.text}`));
      else resolve(reply.text);
    });
    socket.write(request);
  });
}

/** A whole simple reply (+, -, :, $) from the start of `data`, or null while incomplete. */
function parseReply(data: Buffer): { text: string; error: boolean } | null {
  const eol = data.indexOf('\r\n');
  if (eol < 0) return null;
  const head = data.toString('latin1', 1, eol);
  switch (String.fromCharCode(data[0]!)) {
    case '+':
    case ':':
      return { text: head, error: false };
    case '-':
      return { text: head, error: true };
    case '$': {
      const length = Number(head);
      if (length < 0) return { text: '', error: false };
      if (data.length < eol + 2 + length + 2) return null;
      return { text: data.toString('utf8', eol + 2, eol + 2 + length), error: false };
    }
    default:
      return { text: `unexpected reply ${JSON.stringify(data.toString('latin1', 0, 40))}`, error: true };
  }
}
