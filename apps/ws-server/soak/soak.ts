// `pnpm soak`: churn against a real daemon over loopback for SOAK_SECONDS (default 300), then
// check that nothing is left behind. Phases: warm-up churn (10% of the run, 1–30 s), drain, a
// memory reading; the rest of the churn, drain, a second reading. A drain cuts every client socket
// and waits, at most the daemon's reconnect grace + presence timeout + lock TTL + join timeout,
// for every count to reach zero. Both readings are taken with nobody connected, after forced full
// GCs in the daemon (see DAEMON_NODE_FLAGS), so they compare retained memory, not garbage or load.
// The checks are in report.ts; the process exits 1 if any fails.
// Environment: SOAK_SECONDS, SOAK_CLIENTS (default 40), SOAK_SEED (default random).

import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ENV_VARS } from '@exo/ws-server';
import { churn } from './churn.js';
import { Sockets, Tally } from './clients.js';
import { DAEMON_NODE_FLAGS, type Daemon, type StatsReply, startDaemon } from './daemon.js';
import { leftovers, list, memoryLine, mib, type Outcome, table, verdict } from './report.js';

const PROGRESS_MS = 30_000;
const ACTORS_STOP_MS = 30_000;

/** The daemon's settings: short timers so expiries happen within the soak. */
const TIMERS = {
  PRESENCE_TIMEOUT_MS: 3000,
  LOCK_TTL_MS: 2000,
  RECONNECT_GRACE_MS: 1000,
  JOIN_TIMEOUT_MS: 2000,
  PING_INTERVAL_MS: 1000,
};
const DAEMON_ENV = {
  ...TIMERS,
  HOST: '127.0.0.1',
  WS_PORT: 0,
  LOG_LEVEL: 'info',
  MAX_ROOM_USERS: 6,
  MAX_MESSAGE_BYTES: 16384,
  // Every soak client comes from 127.0.0.1: the per-IP cap would refuse most of them.
  MAX_CONNECTIONS_PER_IP: 10_000,
};
const ROOMS = 8;
const USERS_PER_ROOM = 10;
const PLANETS = 5;

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) {
    process.stderr.write(`soak: ${name} accepts a whole number ≥ 1, got ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return n;
}

/** mulberry32: a small seeded generator; SOAK_SEED replays a run's choices (not its timing). */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function daemonEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined) env[name] = value;
  // Only the soak's settings: an AUTH_JWT_SECRET or REDIS_URL in the caller's shell would change the run.
  for (const name of ENV_VARS) delete env[name];
  for (const [name, value] of Object.entries(DAEMON_ENV)) env[name] = String(value);
  return env;
}

interface Run {
  readonly daemon: Daemon;
  readonly tally: Tally;
  readonly clients: number;
  readonly random: () => number;
  peakConnections: number;
}

async function churnFor(run: Run, ms: number, label: string): Promise<void> {
  const sockets = new Sockets();
  let release!: () => void;
  const stop = new Promise<void>((resolve) => {
    release = resolve;
  });
  const actors = churn(
    {
      port: run.daemon.port,
      clients: run.clients,
      rooms: ROOMS,
      usersPerRoom: USERS_PER_ROOM,
      planets: PLANETS,
      presenceTimeoutMs: TIMERS.PRESENCE_TIMEOUT_MS,
      joinTimeoutMs: TIMERS.JOIN_TIMEOUT_MS,
      reconnectGraceMs: TIMERS.RECONNECT_GRACE_MS,
      maxMessageBytes: DAEMON_ENV.MAX_MESSAGE_BYTES,
      random: run.random,
    },
    run.tally,
    sockets,
    stop,
  );
  const started = Date.now();
  for (let left = ms; left > 0; left = ms - (Date.now() - started)) {
    await sleep(Math.min(left, PROGRESS_MS));
    const { stats, connections, memory } = await run.daemon.stats(false);
    run.peakConnections = Math.max(run.peakConnections, connections);
    const t = Math.round((Date.now() - started) / 1000);
    console.log(
      `  ${label} ${t} s: ${connections} sockets, ${stats.rooms} rooms, ${stats.users} users, ` +
        `${stats.locks} locks, ${stats.viewers} viewers, rss ${mib(memory.rss)}, ` +
        `${run.tally.framesSent} frames sent so far`,
    );
  }
  release();
  sockets.cutAll();
  const finished = await Promise.race([actors.then(() => true), sleep(ACTORS_STOP_MS, false)]);
  if (!finished) run.tally.driverErrors.push(`the churn did not stop within ${ACTORS_STOP_MS} ms`);
}

/** Waits for every count to reach zero (bounded by the daemon's timers); then GC and a reading. */
async function drain(run: Run): Promise<{ reply: StatsReply; ms: number }> {
  const limit =
    TIMERS.RECONNECT_GRACE_MS +
    TIMERS.PRESENCE_TIMEOUT_MS +
    TIMERS.LOCK_TTL_MS +
    TIMERS.JOIN_TIMEOUT_MS +
    1000;
  const started = Date.now();
  while (Date.now() - started < limit) {
    if (leftovers(await run.daemon.stats(false)).length === 0) break;
    await sleep(100);
  }
  const ms = Date.now() - started;
  return { reply: await run.daemon.stats(true), ms };
}

async function main(): Promise<number> {
  const seconds = positiveInt('SOAK_SECONDS', 300);
  const clients = positiveInt('SOAK_CLIENTS', 40);
  const seed = positiveInt('SOAK_SEED', 1 + Math.floor(Math.random() * 2 ** 31));
  const warmupSeconds = Math.min(30, Math.max(1, Math.round(seconds / 10)));
  const mainSeconds = Math.max(1, seconds - warmupSeconds);
  const settings = Object.entries(DAEMON_ENV).map(([k, v]) => `${k}=${v}`);
  console.log(
    `soak: ${seconds} s of churn (${warmupSeconds} s warm-up), ${clients} clients, seed ${seed}\n` +
      `daemon: node ${DAEMON_NODE_FLAGS.join(' ')} soak/server.js, ${settings.join(' ')}`,
  );
  const daemon = await startDaemon(fileURLToPath(new URL('./server.js', import.meta.url)), daemonEnv());
  try {
    const run: Run = { daemon, tally: new Tally(), clients, random: seeded(seed), peakConnections: 0 };
    await churnFor(run, warmupSeconds * 1000, 'warm-up');
    const warm = await drain(run);
    console.log(`  warm-up drained in ${warm.ms} ms; after forced GC: ${memoryLine(warm.reply.memory)}`);
    await churnFor(run, mainSeconds * 1000, 'churn');
    const end = await drain(run);
    console.log(`  churn drained in ${end.ms} ms; after forced GC: ${memoryLine(end.reply.memory)}`);
    const outcome: Outcome = {
      tally: run.tally,
      warm: warm.reply,
      end: end.reply,
      exitCode: await daemon.stop(),
      logLines: daemon.lines,
      badLines: daemon.bad,
      stderr: daemon.stderr(),
    };
    const checks = verdict(outcome);
    console.log(
      `\n${table({ seconds: warmupSeconds + mainSeconds, warmupSeconds, clients, seed, outcome, drainMs: end.ms })}\n`,
    );
    console.log(`peak sockets open at a progress reading: ${run.peakConnections}`);
    console.log(`scenarios: ${list(run.tally.scenarios)}\n`);
    for (const c of checks) console.log(`${c.ok ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`);
    const failed = checks.filter((c) => !c.ok).length;
    console.log(failed === 0 ? '\nsoak passed' : `\nsoak FAILED: ${failed} check(s)`);
    return failed === 0 ? 0 : 1;
  } finally {
    daemon.kill();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
