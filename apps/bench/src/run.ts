// The three kinds of run, each against one server at a time:
// - load: R rooms × U users at H Hz, a warm-up, then one measurement window;
// - ramp: rooms added step by step under continuous load until p99 ≥ 50 ms or < 99 % delivered,
//   which finds the knee (the highest relay rate that passed);
// - capacity: N idle joined connections, and the server's RSS per connection.
// Server CPU and RSS come from /proc, read by this process; so does the generator's CPU. A load may
// run against several server processes at once (cluster mode, sharing a Redis): their CPU and RSS
// are summed, Redis's CPU and calls are read apart, and relays are split by whether they crossed
// from one server process to another.

import { type Bins, Histogram } from './histogram.js';
import type { FromWorker, RelayPart, RoomPlan, ServerKind, WindowStats } from './ipc.js';
import { type RunningServer, startServer, startWorkers, WIRE, type Worker } from './launch.js';
import { cpuSeconds, cpuTimes, loadAverage, rssBytes } from './proc.js';
import type { RedisServer } from './redis.js';

export interface LoadShape {
  readonly rooms: number;
  readonly users: number;
  readonly hz: number;
}

/** Relays of one kind: between users on the same server process (local) or on two (cross). */
export interface PartResult {
  readonly expected: number;
  readonly received: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly bins: Bins;
  readonly maxUs: number;
}

export interface WindowResult extends LoadShape {
  readonly kind: ServerKind;
  /** Server processes sharing the load (users of each room spread evenly over them). */
  readonly processes: number;
  readonly local: PartResult;
  readonly cross: PartResult;
  /** Redis's CPU over the window (NaN without Redis), and its calls by command. */
  readonly redisCpuSec: number;
  readonly redisCalls: Record<string, number>;
  readonly seconds: number;
  readonly connections: number;
  readonly sent: number;
  readonly expected: number;
  readonly received: number;
  readonly relaysPerSec: number;
  readonly delivery: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly errors: Record<string, number>;
  readonly serverCpuPct: number;
  readonly cpuUsPerRelay: number;
  /** Summed over the server processes. */
  readonly serverRssMb: number;
  /** Generator CPU over the window: all workers together, and the busiest one (% of one core). */
  readonly generatorCpuPct: number;
  readonly busiestWorkerPct: number;
  readonly maxSendLagMs: number;
  readonly skipped: number;
  readonly loadAverage: string;
  /** Raw sums, so windows of one server can be pooled. */
  readonly serverCpuSec: number;
  /** The part of serverCpuSec spent in the kernel. */
  readonly serverSysSec: number;
  readonly generatorCpuSec: number;
  readonly bins: Bins;
  readonly maxUs: number;
  /** How many windows were pooled into this result. */
  readonly windows: number;
}

export interface RunOptions {
  readonly workers: number;
  readonly cpuProfDir?: string;
  readonly baseMain?: string;
  readonly log: (line: string) => void;
}

const PLANET = 'kepler-22b';
const READY_TIMEOUT_MS = 120_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rooms `from`..`to`-1, each given whole to one worker, round-robin. */
function planRooms(from: number, to: number, users: number, workers: number): RoomPlan[][] {
  const plans: RoomPlan[][] = Array.from({ length: workers }, () => []);
  for (let r = from; r < to; r++) {
    const roomId = `room-${r}`;
    plans[r % workers]!.push({ roomId, users: Array.from({ length: users }, (_, u) => `u${r}-${u}`) });
  }
  return plans;
}

/** One server process of a run: which server, and what to add to its environment. */
export interface ServerSpec {
  readonly kind: ServerKind;
  readonly env?: Readonly<Record<string, string>>;
  /** Names its CPU profile when several servers run at once. */
  readonly name?: string;
}

class Session {
  private constructor(
    readonly servers: readonly RunningServer[],
    readonly workers: Worker[],
    readonly redis: RedisServer | null,
  ) {}

  static async open(
    specs: readonly ServerSpec[],
    options: RunOptions,
    redis: RedisServer | null = null,
  ): Promise<Session> {
    const started = await Promise.allSettled(
      specs.map((spec) =>
        startServer(spec.kind, {
          ...(options.cpuProfDir === undefined ? {} : { cpuProfDir: options.cpuProfDir }),
          ...(options.baseMain === undefined ? {} : { baseMain: options.baseMain }),
          ...(spec.env === undefined ? {} : { env: spec.env }),
          ...(spec.name === undefined ? {} : { name: spec.name }),
        }),
      ),
    );
    const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s) => s.status === 'rejected');
    if (failed !== undefined) {
      await Promise.all(servers.map((s) => s.stop()));
      throw failed.reason;
    }
    return new Session(servers, startWorkers(options.workers), redis);
  }

  get server(): RunningServer {
    return this.servers[0]!;
  }

  /** Opens rooms `from`..`to`-1 and waits until every user has joined and views the planet. */
  async addRooms(
    from: number,
    to: number,
    shape: LoadShape,
  ): Promise<{ connected: number; failed: number; errors: Record<string, number> }> {
    const plans = planRooms(from, to, shape.users, this.workers.length);
    const answers = await Promise.all(
      this.workers.map((w, i) =>
        w.ask(
          {
            type: 'setup',
            wire: WIRE[this.server.kind],
            urls: this.servers.map((s) => s.url),
            hz: shape.hz,
            planetId: PLANET,
            rooms: plans[i]!,
          },
          (m): m is Extract<FromWorker, { type: 'ready' }> => m.type === 'ready',
          READY_TIMEOUT_MS,
        ),
      ),
    );
    const errors: Record<string, number> = {};
    for (const a of answers) addCounts(errors, a.errors);
    return {
      connected: answers.reduce((n, a) => n + a.connected, 0),
      failed: answers.reduce((n, a) => n + a.failed, 0),
      errors,
    };
  }

  async window(shape: LoadShape, seconds: number, drainMs: number): Promise<WindowResult> {
    const isOk = (m: FromWorker): m is Extract<FromWorker, { type: 'ok' }> => m.type === 'ok';
    const load = loadAverage();
    const redisCalls0 = this.redis === null ? {} : await this.redis.calls();
    await Promise.all(this.workers.map((w) => w.ask({ type: 'window-start' }, isOk, 10_000)));
    const server0 = this.serverCpu();
    const redis0 = this.redis === null ? Number.NaN : cpuSeconds(this.redis.pid);
    const workers0 = this.workers.map((w) => cpuSeconds(w.pid));
    const t0 = performance.now();
    await sleep(seconds * 1000);
    await Promise.all(this.workers.map((w) => w.ask({ type: 'window-end' }, isOk, 10_000)));
    const elapsed = (performance.now() - t0) / 1000;
    const server1 = this.serverCpu();
    const redis1 = this.redis === null ? Number.NaN : cpuSeconds(this.redis.pid);
    const workers1 = this.workers.map((w) => cpuSeconds(w.pid));
    const redisCalls1 = this.redis === null ? {} : await this.redis.calls();
    const rss = this.servers.reduce((n, s) => n + rssBytes(s.pid), 0);
    await sleep(drainMs);
    const all = await Promise.all(
      this.workers.map((w) =>
        w.ask(
          { type: 'collect' },
          (m): m is Extract<FromWorker, { type: 'stats' }> => m.type === 'stats',
          10_000,
        ),
      ),
    );
    const stats = all.map((a) => a.stats);
    const redisCalls: Record<string, number> = {};
    for (const [command, n] of Object.entries(redisCalls1)) {
      const d = n - (redisCalls0[command] ?? 0);
      if (d > 0) redisCalls[command] = d;
    }
    const hist = new Histogram();
    const errors: Record<string, number> = {};
    for (const s of stats) {
      hist.merge(s.bins, s.maxUs);
      addCounts(errors, s.errors);
    }
    const sum = (f: (s: WindowStats) => number) => stats.reduce((n, s) => n + f(s), 0);
    const received = sum((s) => s.received);
    const expected = sum((s) => s.expected);
    const serverSys = server1.system - server0.system;
    const serverCpu = server1.user - server0.user + serverSys;
    const workerPcts = workers1.map((c, i) => ((c - workers0[i]!) / elapsed) * 100);
    return {
      kind: this.server.kind,
      ...shape,
      processes: this.servers.length,
      local: poolParts(stats.map((s) => s.local)),
      cross: poolParts(stats.map((s) => s.cross)),
      redisCpuSec: redis1 - redis0,
      redisCalls,
      seconds: elapsed,
      connections: sum((s) => s.connections),
      sent: sum((s) => s.sent),
      expected,
      received,
      relaysPerSec: received / elapsed,
      delivery: expected === 0 ? Number.NaN : received / expected,
      p50: hist.quantileMs(0.5),
      p90: hist.quantileMs(0.9),
      p99: hist.quantileMs(0.99),
      max: hist.maxUs / 1000,
      errors,
      serverCpuPct: (serverCpu / elapsed) * 100,
      cpuUsPerRelay: received === 0 ? Number.NaN : (serverCpu * 1e6) / received,
      serverRssMb: rss / 2 ** 20,
      generatorCpuPct: workerPcts.reduce((a, b) => a + b, 0),
      busiestWorkerPct: Math.max(...workerPcts),
      maxSendLagMs: Math.max(...stats.map((s) => s.maxSendLagMs)),
      skipped: sum((s) => s.skipped),
      loadAverage: load,
      serverCpuSec: serverCpu,
      serverSysSec: serverSys,
      generatorCpuSec: workers1.reduce((n, c, i) => n + c - workers0[i]!, 0),
      bins: hist.bins(),
      maxUs: hist.maxUs,
      windows: 1,
    };
  }

  private serverCpu(): { user: number; system: number } {
    const times = this.servers.map((s) => cpuTimes(s.pid));
    return {
      user: times.reduce((n, t) => n + t.user, 0),
      system: times.reduce((n, t) => n + t.system, 0),
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
    await Promise.all(this.servers.map((s) => s.stop()));
  }
}

/** Merges relay parts (of workers or of windows) into one, with its own histogram. */
function poolParts(parts: readonly (RelayPart | PartResult)[]): PartResult {
  const hist = new Histogram();
  for (const p of parts) hist.merge(p.bins, p.maxUs);
  return {
    expected: parts.reduce((n, p) => n + p.expected, 0),
    received: parts.reduce((n, p) => n + p.received, 0),
    p50: hist.quantileMs(0.5),
    p99: hist.quantileMs(0.99),
    max: hist.maxUs / 1000,
    bins: hist.bins(),
    maxUs: hist.maxUs,
  };
}

/** Pools windows of one server (interleaved rounds) into one result: sums, and one histogram. */
export function pool(results: WindowResult[]): WindowResult {
  if (results.length === 1) return results[0]!;
  const first = results[0]!;
  const hist = new Histogram();
  const errors: Record<string, number> = {};
  for (const r of results) {
    hist.merge(r.bins, r.maxUs);
    addCounts(errors, r.errors);
  }
  const sum = (f: (r: WindowResult) => number) => results.reduce((n, r) => n + f(r), 0);
  const seconds = sum((r) => r.seconds);
  const received = sum((r) => r.received);
  const expected = sum((r) => r.expected);
  const serverCpuSec = sum((r) => r.serverCpuSec);
  const serverSysSec = sum((r) => r.serverSysSec);
  const generatorCpuSec = sum((r) => r.generatorCpuSec);
  const redisCalls: Record<string, number> = {};
  for (const r of results) addCounts(redisCalls, r.redisCalls);
  return {
    ...first,
    local: poolParts(results.map((r) => r.local)),
    cross: poolParts(results.map((r) => r.cross)),
    redisCpuSec: sum((r) => r.redisCpuSec),
    redisCalls,
    seconds,
    connections: Math.min(...results.map((r) => r.connections)),
    sent: sum((r) => r.sent),
    expected,
    received,
    relaysPerSec: received / seconds,
    delivery: expected === 0 ? Number.NaN : received / expected,
    p50: hist.quantileMs(0.5),
    p90: hist.quantileMs(0.9),
    p99: hist.quantileMs(0.99),
    max: hist.maxUs / 1000,
    errors,
    serverCpuPct: (serverCpuSec / seconds) * 100,
    cpuUsPerRelay: received === 0 ? Number.NaN : (serverCpuSec * 1e6) / received,
    serverRssMb: Math.max(...results.map((r) => r.serverRssMb)),
    generatorCpuPct: (generatorCpuSec / seconds) * 100,
    busiestWorkerPct: Math.max(...results.map((r) => r.busiestWorkerPct)),
    maxSendLagMs: Math.max(...results.map((r) => r.maxSendLagMs)),
    skipped: sum((r) => r.skipped),
    loadAverage: results.map((r) => r.loadAverage.split(' ')[0]).join(', '),
    serverCpuSec,
    serverSysSec,
    generatorCpuSec,
    bins: hist.bins(),
    maxUs: hist.maxUs,
    windows: sum((r) => r.windows),
  };
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n;
}

export interface LoadOptions extends RunOptions {
  readonly warmupSeconds: number;
  readonly seconds: number;
  readonly drainMs: number;
}

/** One steady load: every user connected and viewing, a warm-up, then one window. */
export function runLoad(kind: ServerKind, shape: LoadShape, options: LoadOptions): Promise<WindowResult> {
  return runLoadOn([{ kind }], shape, options);
}

/**
 * The same against several server processes at once, each room's users spread over them in turn;
 * `redis`, when the servers share one, is measured with them.
 */
export async function runLoadOn(
  specs: readonly ServerSpec[],
  shape: LoadShape,
  options: LoadOptions,
  redis: RedisServer | null = null,
): Promise<WindowResult> {
  const session = await Session.open(specs, options, redis);
  try {
    const setup = await session.addRooms(0, shape.rooms, shape);
    options.log(
      `  ${specs.map((s) => s.name ?? s.kind).join(' + ')}: ${setup.connected} connected, ${setup.failed} failed; warming up`,
    );
    await sleep(options.warmupSeconds * 1000);
    const result = await session.window(shape, options.seconds, options.drainMs);
    if (setup.failed > 0) addCounts(result.errors, setup.errors);
    return result;
  } finally {
    await session.close();
  }
}

export interface RampOptions extends RunOptions {
  readonly users: number;
  readonly hz: number;
  /** Room counts of the steps, increasing. */
  readonly steps: readonly number[];
  readonly settleSeconds: number;
  readonly seconds: number;
  readonly drainMs: number;
  readonly p99LimitMs: number;
  readonly minDelivery: number;
}

export interface RampResult {
  readonly kind: ServerKind;
  readonly steps: WindowResult[];
  /** The last step that passed, or null when none did. */
  readonly knee: WindowResult | null;
  /** Steps (room counts) measured twice because the first window failed. */
  readonly retried: number[];
}

export function passes(r: WindowResult, options: Pick<RampOptions, 'p99LimitMs' | 'minDelivery'>): boolean {
  return r.p99 < options.p99LimitMs && r.delivery >= options.minDelivery;
}

/** Adds rooms step by step under continuous load and stops at the first step that fails. */
export async function runRamp(kind: ServerKind, options: RampOptions): Promise<RampResult> {
  const session = await Session.open([{ kind }], options);
  const steps: WindowResult[] = [];
  const retried: number[] = [];
  let knee: WindowResult | null = null;
  try {
    let rooms = 0;
    for (const target of options.steps) {
      const shape = { rooms: target, users: options.users, hz: options.hz };
      await session.addRooms(rooms, target, shape);
      rooms = target;
      await sleep(options.settleSeconds * 1000);
      let r = await session.window(shape, options.seconds, options.drainMs);
      // The machine is shared: a step that fails is measured once more before the ramp stops,
      // so one burst of outside load does not end it. Every server gets the same second chance.
      if (!passes(r, options)) {
        options.log(
          `  ${kind} ramp ${target} rooms: p99 ${r.p99.toFixed(1)} ms, ${(r.delivery * 100).toFixed(2)} % — measuring again`,
        );
        retried.push(target);
        r = await session.window(shape, options.seconds, options.drainMs);
      }
      steps.push(r);
      const ok = passes(r, options);
      options.log(
        `  ${kind} ramp ${target} rooms: ${Math.round(r.relaysPerSec)} relays/s, p99 ${r.p99.toFixed(1)} ms, ` +
          `${(r.delivery * 100).toFixed(2)} % delivered, server CPU ${r.serverCpuPct.toFixed(0)} % ${ok ? 'pass' : 'FAIL'}`,
      );
      if (!ok) break;
      knee = r;
    }
  } finally {
    await session.close();
  }
  return { kind, steps, knee, retried };
}

export interface CapacityResult {
  readonly kind: ServerKind;
  readonly target: number;
  readonly connected: number;
  readonly failed: number;
  readonly rssBeforeMb: number;
  readonly rssAfterMb: number;
  readonly bytesPerConnection: number;
  readonly errors: Record<string, number>;
}

/** Opens `connections` idle joined viewers (rooms of `users`) and reports RSS per connection. */
export async function runCapacity(
  kind: ServerKind,
  connections: number,
  users: number,
  options: RunOptions,
): Promise<CapacityResult> {
  const session = await Session.open([{ kind }], options);
  try {
    await sleep(500);
    await session.server.gc();
    const before = rssBytes(session.server.pid);
    const rooms = Math.ceil(connections / users);
    const setup = await session.addRooms(0, rooms, { rooms, users, hz: 0 });
    await sleep(2000);
    await session.server.gc();
    await sleep(500);
    const after = rssBytes(session.server.pid);
    return {
      kind,
      target: rooms * users,
      connected: setup.connected,
      failed: setup.failed,
      rssBeforeMb: before / 2 ** 20,
      rssAfterMb: after / 2 ** 20,
      bytesPerConnection: (after - before) / Math.max(1, setup.connected),
      errors: setup.errors,
    };
  } finally {
    await session.close();
  }
}
