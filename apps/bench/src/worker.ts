// A load-generator process. It opens the users of the rooms it is given (every user of a room in
// this one process, so it knows how many relays each send should produce), then sends cameras on
// a fixed schedule: each user at `hz`, phases spread evenly, a heartbeat every 30 s. Inside a
// measurement window it counts sends, the relays they should produce and the relays that arrive,
// with their one-way latency. It reports how late its own schedule ran, so a run can tell when the
// generator, not the server, was the bottleneck. With several server processes it also splits the
// relays by whether sender and receiver are on the same one (each user knows its server's index).

import { Histogram } from './histogram.js';
import { type FromWorker, nowUs, type RelayPart, type ToWorker, type WindowStats } from './ipc.js';
import { connectUser, type SimUser } from './users.js';

const HEARTBEAT_US = 30_000_000;
const SETUP_CONCURRENCY = 50;

interface Room {
  viewers: number;
  /** Viewers per server process, by index. */
  readonly viewersOn: number[];
}

interface Scheduled {
  readonly user: SimUser;
  readonly room: Room;
  readonly origin: number;
  nextAt: number;
  nextHeartbeatAt: number;
}

let periodUs = 0;
const schedule: Scheduled[] = [];
/** Every user opened, scheduled or not (a capacity run sends nothing). */
const everyone: Scheduled[] = [];
let cursor = 0;
let timer: NodeJS.Timeout | null = null;
let windowFrom = Number.POSITIVE_INFINITY;
let windowTo = Number.POSITIVE_INFINITY;
let stats = emptyStats();
let errors: Record<string, number> = {};

interface Part {
  expected: number;
  received: number;
  readonly hist: Histogram;
}

function emptyPart(): Part {
  return { expected: 0, received: 0, hist: new Histogram() };
}

function emptyStats(): Omit<WindowStats, 'bins' | 'maxUs' | 'errors' | 'connections' | 'local' | 'cross'> & {
  hist: Histogram;
  local: Part;
  cross: Part;
} {
  return {
    sent: 0,
    expected: 0,
    received: 0,
    outside: 0,
    maxSendLagMs: 0,
    skipped: 0,
    hist: new Histogram(),
    local: emptyPart(),
    cross: emptyPart(),
  };
}

function partOut(part: Part): RelayPart {
  return { expected: part.expected, received: part.received, bins: part.hist.bins(), maxUs: part.hist.maxUs };
}

function count(key: string): void {
  errors[key] = (errors[key] ?? 0) + 1;
}

function post(message: FromWorker): void {
  process.send?.(message);
}

const events = {
  relay(sentUs: number, cross: boolean): void {
    if (sentUs >= windowFrom && sentUs <= windowTo) {
      const us = nowUs() - sentUs;
      stats.received++;
      stats.hist.record(us);
      const part = cross ? stats.cross : stats.local;
      part.received++;
      part.hist.record(us);
    } else {
      stats.outside++;
    }
  },
  error: count,
  closed(code: number): void {
    if (!stopping) count(`close:${code}`);
  },
};

let stopping = false;

async function setup(msg: Extract<ToWorker, { type: 'setup' }>): Promise<void> {
  periodUs = msg.hz > 0 ? 1_000_000 / msg.hz : 0;
  const setupErrors: Record<string, number> = {};
  let connected = 0;
  let failed = 0;
  const jobs: (() => Promise<void>)[] = [];
  const added: Scheduled[] = [];
  for (const plan of msg.rooms) {
    const room: Room = { viewers: 0, viewersOn: msg.urls.map(() => 0) };
    plan.users.forEach((userId, i) => {
      const origin = i % msg.urls.length;
      jobs.push(async () => {
        try {
          const user = await connectUser(
            {
              wire: msg.wire,
              url: msg.urls[origin]!,
              roomId: plan.roomId,
              userId,
              planetId: msg.planetId,
              origin,
            },
            {
              ...events,
              relay(sentUs, from) {
                events.relay(sentUs, from !== origin);
              },
              closed(code) {
                room.viewers--;
                room.viewersOn[origin]!--;
                events.closed(code);
              },
            },
          );
          room.viewers++;
          room.viewersOn[origin]!++;
          connected++;
          added.push({ user, room, origin, nextAt: 0, nextHeartbeatAt: 0 });
        } catch (err) {
          failed++;
          const key = `connect: ${String((err as Error).message ?? err).slice(0, 60)}`;
          setupErrors[key] = (setupErrors[key] ?? 0) + 1;
        }
      });
    });
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(SETUP_CONCURRENCY, jobs.length) }, async () => {
      while (next < jobs.length) await jobs[next++]!();
    }),
  );
  const now = nowUs();
  for (const s of added) s.nextHeartbeatAt = now + Math.random() * HEARTBEAT_US;
  everyone.push(...added);
  if (periodUs > 0) admit(added);
  post({ type: 'ready', connected, failed, errors: setupErrors });
}

/** Adds users to the send schedule at random phases, keeping it ordered by next send time. */
function admit(added: Scheduled[]): void {
  const now = nowUs();
  for (const s of added) s.nextAt = now + Math.random() * periodUs;
  const rest = schedule.splice(0);
  const ordered = [...rest.slice(cursor), ...rest.slice(0, cursor), ...added].sort(
    (a, b) => a.nextAt - b.nextAt,
  );
  schedule.push(...ordered);
  cursor = 0;
  if (timer === null) tick();
}

function tick(): void {
  timer = null;
  const n = schedule.length;
  if (n === 0 || stopping) return;
  let now = nowUs();
  for (let i = 0; i < n; i++) {
    const s = schedule[cursor]!;
    if (s.nextAt > now) break;
    const lag = now - s.nextAt;
    if (lag / 1000 > stats.maxSendLagMs) stats.maxSendLagMs = lag / 1000;
    if (lag >= periodUs) {
      const behind = Math.floor(lag / periodUs);
      stats.skipped += behind;
      s.nextAt += behind * periodUs;
    }
    now = nowUs();
    s.user.camera(now);
    if (now >= windowFrom && now <= windowTo) {
      stats.sent++;
      stats.expected += Math.max(0, s.room.viewers - 1);
      const near = s.room.viewersOn[s.origin]!;
      stats.local.expected += Math.max(0, near - 1);
      stats.cross.expected += s.room.viewers - near;
    }
    s.nextAt += periodUs;
    cursor = (cursor + 1) % n;
  }
  const waitMs = (schedule[cursor]!.nextAt - nowUs()) / 1000;
  timer = waitMs < 1 ? setTimeout(tick, 0) : setTimeout(tick, Math.floor(waitMs));
}

/** Heartbeats go to every user, sending cameras or idle, each every 30 s at its own phase. */
const heartbeats = setInterval(() => {
  const now = nowUs();
  for (const s of everyone) {
    if (now < s.nextHeartbeatAt) continue;
    s.user.heartbeat();
    s.nextHeartbeatAt += HEARTBEAT_US;
  }
}, 1000);

function collect(): WindowStats {
  const { hist, local, cross, ...rest } = stats;
  const out: WindowStats = {
    ...rest,
    bins: hist.bins(),
    maxUs: hist.maxUs,
    errors,
    connections: everyone.length,
    local: partOut(local),
    cross: partOut(cross),
  };
  stats = emptyStats();
  errors = {};
  windowFrom = Number.POSITIVE_INFINITY;
  windowTo = Number.POSITIVE_INFINITY;
  return out;
}

process.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'setup':
      setup(msg).catch((err: unknown) => {
        process.stderr.write(`worker setup failed: ${String(err)}\n`);
        process.exit(1);
      });
      return;
    case 'window-start':
      stats = emptyStats();
      errors = {};
      windowFrom = nowUs();
      windowTo = Number.POSITIVE_INFINITY;
      return post({ type: 'ok' });
    case 'window-end':
      windowTo = nowUs();
      return post({ type: 'ok' });
    case 'collect':
      return post({ type: 'stats', stats: collect() });
    case 'stop':
      stopping = true;
      clearInterval(heartbeats);
      if (timer !== null) clearTimeout(timer);
      for (const s of everyone) s.user.close();
      setTimeout(() => process.exit(0), 200).unref();
      return;
  }
});

process.on('disconnect', () => process.exit(0));
