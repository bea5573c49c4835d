// `pnpm bench`: the fan-out benchmark. Runs our daemon, a bare ws relay and Socket.IO one after
// another on identical workloads and prints one report: a steady load (the headline: server CPU
// per delivered relay), a ramp to each server's knee, and idle-connection capacity, with ratios.
//
//   node apps/bench/dist/cli.js [--mode full|load|ramp|capacity|smoke] [--servers exo,bare,socketio]
//     [--rooms 50] [--users 10] [--hz 10] [--seconds 10] [--rounds 3] [--workers 2] [--connections 10000]
//     [--steps 50,75,100] [--cpu-prof DIR] [--json FILE] [--base-main path/to/main.js]
//
// --servers may add `base`: another build of the daemon (say, an older commit's dist/main.js),
// run like ours on the same workload, to compare a change before and after.
//
// --mode smoke is a few seconds of tiny load that prints JSON; the smoke test runs it.
//
// --mode cluster (`pnpm bench:cluster`) is another benchmark: our daemon alone, on one workload,
// as one process with REDIS_URL, two processes sharing a Redis, and one process without Redis
// (cluster.ts); it starts its own redis-server. Its defaults: --rooms 20 --seconds 6 --rounds 3
// (under 2 minutes). --mode cluster-smoke runs the two Redis setups on a tiny load and prints JSON.

import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { CLUSTER_SETUPS, type ClusterResult, runCluster } from './cluster.js';
import { clusterSummary, clusterTable } from './cluster-report.js';
import type { ServerKind } from './ipc.js';
import { loadAverage } from './proc.js';
import { capacityTable, goals, goalsTable, kneeTable, loadTable, rampTable } from './report.js';
import {
  type CapacityResult,
  pool,
  type RampResult,
  runCapacity,
  runLoad,
  runRamp,
  type WindowResult,
} from './run.js';

// `pnpm bench -- --mode load` hands the `--` on (after `--mode cluster` with `pnpm bench:cluster`);
// it separates nothing here.
const argv = process.argv.slice(2).filter((arg) => arg !== '--');
const { values } = parseArgs({
  args: argv,
  options: {
    mode: { type: 'string', default: 'full' },
    servers: { type: 'string', default: 'exo,bare,socketio' },
    rooms: { type: 'string' },
    users: { type: 'string', default: '10' },
    hz: { type: 'string', default: '10' },
    seconds: { type: 'string' },
    rounds: { type: 'string' },
    workers: { type: 'string', default: '2' },
    connections: { type: 'string', default: '10000' },
    steps: { type: 'string', default: '30,40,50,55,60,70,80,90,100,110,120,135,150,170,200' },
    'cpu-prof': { type: 'string' },
    'base-main': { type: 'string' },
    json: { type: 'string' },
  },
});

const KINDS: readonly ServerKind[] = ['exo', 'bare', 'socketio', 'base'];
const servers = values.servers.split(',').map((s) => {
  if (!(KINDS as readonly string[]).includes(s)) throw new Error(`--servers: unknown server '${s}'`);
  return s as ServerKind;
});
const num = (name: string, s: string) => {
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} expects a positive number, got '${s}'`);
  return n;
};
const mode = values.mode;
const MODES = ['full', 'load', 'ramp', 'capacity', 'smoke', 'cluster', 'cluster-smoke'];
if (!MODES.includes(mode)) throw new Error(`--mode: unknown mode '${mode}' (${MODES.join(', ')})`);
const smoke = mode === 'smoke';
const cluster = mode === 'cluster' || mode === 'cluster-smoke';
const defaults = cluster
  ? { rooms: '20', seconds: '6', rounds: '3' }
  : { rooms: '50', seconds: '10', rounds: '3' };
const rooms = values.rooms ?? defaults.rooms;
const seconds = values.seconds ?? defaults.seconds;
const roundsArg = values.rounds ?? defaults.rounds;
const log = (line: string) => process.stderr.write(`${line}\n`);
const base = {
  workers: smoke || mode === 'cluster-smoke' ? 1 : num('workers', values.workers),
  log,
  ...(values['cpu-prof'] === undefined ? {} : { cpuProfDir: values['cpu-prof'] }),
  ...(values['base-main'] === undefined ? {} : { baseMain: values['base-main'] }),
};
const limits = { p99LimitMs: 50, minDelivery: 0.99 };

async function main(): Promise<void> {
  if (cluster) return clusterMain();
  const started = new Date();
  const loadAtStart = loadAverage();
  const load: WindowResult[] = [];
  const ramps: RampResult[] = [];
  const capacity: CapacityResult[] = [];
  const shape = smoke
    ? { rooms: 2, users: 3, hz: 5 }
    : { rooms: num('rooms', rooms), users: num('users', values.users), hz: num('hz', values.hz) };

  if (mode === 'full' || mode === 'load' || smoke) {
    // Rounds interleave the servers (ours, bare, Socket.IO, ours, …), so whatever else the machine
    // does during the run falls on all of them alike; each server's windows are then pooled.
    const rounds = smoke ? 1 : num('rounds', roundsArg);
    log(`steady load: ${shape.rooms} rooms × ${shape.users} users × ${shape.hz} Hz, ${rounds} round(s)`);
    const windows = new Map<ServerKind, WindowResult[]>(servers.map((k) => [k, []]));
    for (let round = 0; round < rounds; round++) {
      for (const kind of servers) {
        const r = await runLoad(kind, shape, {
          ...base,
          warmupSeconds: smoke ? 0.5 : 3,
          seconds: smoke ? 1.5 : num('seconds', seconds),
          drainMs: smoke ? 500 : 2000,
        });
        log(
          `  ${kind} round ${round + 1}: ${r.cpuUsPerRelay.toFixed(2)} µs/relay, p99 ${r.p99.toFixed(1)} ms, load ${r.loadAverage}`,
        );
        windows.get(kind)!.push(r);
      }
    }
    for (const kind of servers) load.push(pool(windows.get(kind)!));
  }
  if (mode === 'full' || mode === 'ramp') {
    const steps = values.steps.split(',').map((s) => num('steps', s));
    log(`ramp: ${steps.join(', ')} rooms of ${shape.users} users at ${shape.hz} Hz`);
    for (const kind of servers) {
      ramps.push(
        await runRamp(kind, {
          ...base,
          ...limits,
          users: shape.users,
          hz: shape.hz,
          steps,
          settleSeconds: 2,
          seconds: 5,
          drainMs: 1500,
        }),
      );
    }
  }
  if (mode === 'full' || mode === 'capacity') {
    const n = num('connections', values.connections);
    log(`capacity: ${n} idle joined connections`);
    for (const kind of servers) capacity.push(await runCapacity(kind, n, shape.users, base));
  }

  const result = {
    started: started.toISOString(),
    loadAtStart,
    loadAtEnd: loadAverage(),
    load,
    ramps,
    capacity,
  };
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
  if (smoke) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const out: string[] = [];
  out.push(
    `Fan-out benchmark, ${started.toISOString()}: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ` +
      `node ${process.version}, ${base.workers} generator processes; load average ${loadAtStart} at the start, ` +
      `${result.loadAtEnd} at the end.`,
  );
  if (load.length > 0) {
    const l = load[0]!;
    out.push(
      `\n### Steady load: ${l.rooms} rooms × ${l.users} users × ${l.hz} Hz ` +
        `(${(l.rooms * l.users * (l.users - 1) * l.hz).toLocaleString('en-US')} relays/s offered), ` +
        `${l.windows} interleaved windows of ${(l.seconds / l.windows).toFixed(1)} s per server, pooled\n`,
    );
    out.push(loadTable(load));
  }
  if (ramps.length > 0) {
    out.push(`\n### Ramp (${shape.users} users per room at ${shape.hz} Hz, 5 s per step)\n`);
    out.push(rampTable(ramps, limits));
    out.push('\n#### Knees\n');
    out.push(kneeTable(ramps));
  }
  if (capacity.length > 0) {
    out.push(`\n### Idle connection capacity\n`);
    out.push(capacityTable(capacity));
  }
  const g = goals(load, ramps, capacity);
  if (g.length > 0) {
    out.push('\n### Goals\n');
    out.push(goalsTable(g));
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

async function clusterMain(): Promise<void> {
  const started = new Date();
  const loadAtStart = loadAverage();
  const tiny = mode === 'cluster-smoke';
  const shape = tiny
    ? { rooms: 2, users: 4, hz: 5 }
    : { rooms: num('rooms', rooms), users: num('users', values.users), hz: num('hz', values.hz) };
  const rounds = tiny ? 1 : num('rounds', roundsArg);
  log(
    `cluster: ${shape.rooms} rooms × ${shape.users} users × ${shape.hz} Hz, ${rounds} round(s) of ` +
      `${tiny ? 'the two Redis setups' : CLUSTER_SETUPS.join(', ')}`,
  );
  const run: ClusterResult = await runCluster(shape, {
    ...base,
    rounds,
    setups: tiny ? ['redis-1', 'redis-2'] : CLUSTER_SETUPS,
    warmupSeconds: tiny ? 0.5 : 2,
    seconds: tiny ? 1 : num('seconds', seconds),
    drainMs: tiny ? 500 : 1500,
  });
  const loadAtEnd = loadAverage();
  const results = Object.fromEntries(run.results);
  const json = {
    started: started.toISOString(),
    loadAtStart,
    loadAtEnd,
    redisVersion: run.redisVersion,
    results,
  };
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(json, null, 2)}\n`);
  if (tiny) {
    process.stdout.write(`${JSON.stringify(json)}\n`);
    return;
  }
  const first = [...run.results.values()][0]!;
  const out = [
    `Cluster benchmark, ${started.toISOString()}: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ` +
      `node ${process.version}, redis-server ${run.redisVersion}, ${base.workers} generator processes; ` +
      `load average ${loadAtStart} at the start, ${loadAtEnd} at the end.`,
    `\n### Steady load: ${shape.rooms} rooms × ${shape.users} users × ${shape.hz} Hz ` +
      `(${(shape.rooms * shape.users * (shape.users - 1) * shape.hz).toLocaleString('en-US')} relays/s offered), ` +
      `${first.windows} interleaved windows of ${(first.seconds / first.windows).toFixed(1)} s per setup, pooled\n`,
    clusterTable(run),
  ];
  const summary = clusterSummary(run);
  if (summary !== null) out.push(`\n${summary}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
