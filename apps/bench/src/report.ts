// The run's tables, as Markdown so a run can be pasted into docs/benchmarks.md unchanged: the
// steady load (the headline: server CPU per delivered relay), the ramp and its knees, idle
// connection capacity, and the goals with met / NOT met.

import type { ServerKind } from './ipc.js';
import { LABEL } from './launch.js';
import type { CapacityResult, RampResult, WindowResult } from './run.js';

type Row = [label: string, ...cells: string[]];

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
const ratio = (a: number, b: number) =>
  Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}×` : '–';

function table(header: string[], rows: Row[]): string {
  const lines = [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? '---' : '--:')).join('|')}|`,
  ];
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
  return lines.join('\n');
}

/** Columns: each server, then ours / bare and ours / Socket.IO when those ran. */
function compare(
  kinds: ServerKind[],
  rows: [label: string, value: (k: ServerKind) => number, show: (n: number) => string, ratioToo: boolean][],
): string {
  const withRatios = kinds.includes('exo');
  const others = (['bare', 'socketio'] as const).filter((k) => withRatios && kinds.includes(k));
  const header = ['', ...kinds.map((k) => LABEL[k]), ...others.map((k) => `ours / ${LABEL[k]}`)];
  return table(
    header,
    rows.map(([label, value, show, ratioToo]) => [
      label,
      ...kinds.map((k) => show(value(k))),
      ...others.map((k) => (ratioToo ? ratio(value('exo'), value(k)) : '')),
    ]),
  );
}

export function loadTable(results: WindowResult[]): string {
  const by = new Map(results.map((r) => [r.kind, r]));
  const kinds = results.map((r) => r.kind);
  const v = (f: (r: WindowResult) => number) => (k: ServerKind) => f(by.get(k)!);
  const errors = (k: ServerKind) =>
    Object.entries(by.get(k)!.errors)
      .map(([code, n]) => `${code} ${n}`)
      .join(', ') || 'none';
  const body = compare(kinds, [
    ['**server CPU per delivered relay (µs)**', v((r) => r.cpuUsPerRelay), (n) => `**${fmt(n, 2)}**`, true],
    ['latency p50 (ms)', v((r) => r.p50), (n) => fmt(n, 2), true],
    ['latency p90 (ms)', v((r) => r.p90), (n) => fmt(n, 2), true],
    ['latency p99 (ms)', v((r) => r.p99), (n) => fmt(n, 2), true],
    ['latency max (ms)', v((r) => r.max), (n) => fmt(n, 1), true],
    ['delivered / expected (%)', v((r) => r.delivery * 100), (n) => fmt(n, 3), false],
    ['relays received per second', v((r) => r.relaysPerSec), int, true],
    ['relays expected', v((r) => r.expected), int, false],
    ['camera frames sent', v((r) => r.sent), int, false],
    ['connections', v((r) => r.connections), int, false],
    ['server CPU (% of one core)', v((r) => r.serverCpuPct), (n) => fmt(n, 0), true],
    [
      '… of which in the kernel (%)',
      v((r) => (r.serverSysSec / r.serverCpuSec) * 100),
      (n) => fmt(n, 0),
      false,
    ],
    [
      'server CPU in user space per relay (µs)',
      v((r) => ((r.serverCpuSec - r.serverSysSec) * 1e6) / r.received),
      (n) => fmt(n, 2),
      true,
    ],
    [
      'server CPU in the kernel per relay (µs)',
      v((r) => (r.serverSysSec * 1e6) / r.received),
      (n) => fmt(n, 2),
      true,
    ],
    ['server RSS at the end (MB)', v((r) => r.serverRssMb), (n) => fmt(n, 0), true],
    ['generator CPU, all workers (% of one core)', v((r) => r.generatorCpuPct), (n) => fmt(n, 0), false],
    ['generator CPU, busiest worker (%)', v((r) => r.busiestWorkerPct), (n) => fmt(n, 0), false],
    ['generator send lag, worst (ms)', v((r) => r.maxSendLagMs), (n) => fmt(n, 1), false],
  ]);
  const errorRow = `\nErrors: ${kinds.map((k) => `${LABEL[k]}: ${errors(k)}`).join('; ')}.`;
  return body + errorRow;
}

export function rampTable(ramps: RampResult[], limits: { p99LimitMs: number; minDelivery: number }): string {
  const rows: Row[] = [];
  for (const ramp of ramps) {
    for (const s of ramp.steps) {
      const ok = s.p99 < limits.p99LimitMs && s.delivery >= limits.minDelivery;
      rows.push([
        LABEL[ramp.kind],
        String(s.rooms),
        int(s.rooms * s.users * (s.users - 1) * s.hz),
        int(s.relaysPerSec),
        fmt(s.p50, 2),
        fmt(s.p99, 1),
        fmt(s.delivery * 100, 2),
        fmt(s.serverCpuPct, 0),
        fmt(s.generatorCpuPct, 0),
        ok ? 'pass' : '**fail**',
      ]);
    }
  }
  return table(
    [
      'server',
      'rooms',
      'offered relays/s',
      'delivered relays/s',
      'p50 (ms)',
      'p99 (ms)',
      'delivered (%)',
      'server CPU (%)',
      'generator CPU (%)',
      `p99 < ${limits.p99LimitMs} ms, ≥ ${limits.minDelivery * 100} %`,
    ],
    rows,
  );
}

export function kneeTable(ramps: RampResult[]): string {
  const by = new Map(ramps.map((r) => [r.kind, r]));
  const kinds = ramps.map((r) => r.kind);
  const knee = (k: ServerKind) => by.get(k)!.knee?.relaysPerSec ?? Number.NaN;
  const last = (k: ServerKind) => by.get(k)!.steps.at(-1)?.rooms ?? Number.NaN;
  const topped = (k: ServerKind) => {
    const r = by.get(k)!;
    return r.knee !== null && r.knee === r.steps.at(-1) ? 1 : 0;
  };
  return compare(kinds, [
    ['knee: highest passing relay rate (relays/s)', knee, int, true],
    ['rooms at the knee', (k) => by.get(k)!.knee?.rooms ?? Number.NaN, int, false],
    ['last step tried (rooms)', last, int, false],
    ['passed every step (ramp ended before the knee)', topped, (n) => (n === 1 ? 'yes' : 'no'), false],
    ['steps measured twice (first window failed)', (k) => by.get(k)!.retried.length, int, false],
  ]);
}

export function capacityTable(results: CapacityResult[]): string {
  const by = new Map(results.map((r) => [r.kind, r]));
  const kinds = results.map((r) => r.kind);
  const v = (f: (r: CapacityResult) => number) => (k: ServerKind) => f(by.get(k)!);
  return compare(kinds, [
    ['idle joined connections', v((r) => r.connected), int, false],
    ['failed connections', v((r) => r.failed), int, false],
    ['server RSS before (MB)', v((r) => r.rssBeforeMb), (n) => fmt(n, 1), false],
    ['server RSS after, post-GC (MB)', v((r) => r.rssAfterMb), (n) => fmt(n, 1), true],
    [
      '**RSS per idle joined connection (KB)**',
      v((r) => r.bytesPerConnection / 1024),
      (n) => `**${fmt(n, 2)}**`,
      true,
    ],
  ]);
}

export interface Goal {
  readonly goal: string;
  readonly value: string;
  readonly met: boolean | null;
}

export function goalsTable(goals: Goal[]): string {
  return table(
    ['goal', 'this run', 'met'],
    goals.map((g) => [g.goal, g.value, g.met === null ? 'not measured' : g.met ? 'met' : '**NOT met**']),
  );
}

export function goals(load: WindowResult[], ramps: RampResult[], capacity: CapacityResult[]): Goal[] {
  const l = new Map(load.map((r) => [r.kind, r]));
  const k = new Map(ramps.map((r) => [r.kind, r]));
  const c = new Map(capacity.map((r) => [r.kind, r]));
  const out: Goal[] = [];
  const ours = l.get('exo');
  const bare = l.get('bare');
  const sio = l.get('socketio');
  if (ours !== undefined && bare !== undefined) {
    const r = ours.cpuUsPerRelay / bare.cpuUsPerRelay;
    out.push({
      goal: 'server CPU per delivered relay ≤ 1.0× bare ws (aim 0.75×)',
      value: `${r.toFixed(2)}×`,
      met: r <= 1,
    });
    out.push({
      goal: 'p99 latency no worse than bare ws',
      value: `${fmt(ours.p99, 2)} ms vs ${fmt(bare.p99, 2)} ms`,
      met: ours.p99 <= bare.p99,
    });
  }
  if (ours !== undefined && sio !== undefined) {
    const r = ours.cpuUsPerRelay / sio.cpuUsPerRelay;
    out.push({
      goal: 'server CPU per delivered relay below Socket.IO',
      value: `${r.toFixed(2)}×`,
      met: r < 1,
    });
  }
  const kOurs = k.get('exo');
  const kBare = k.get('bare');
  if (kOurs !== undefined && kBare !== undefined) {
    const a = kOurs.knee?.relaysPerSec ?? 0;
    const b = kBare.knee?.relaysPerSec ?? 0;
    out.push({
      goal: 'knee at least the bare relay’s',
      value: `${int(a)} vs ${int(b)} relays/s`,
      met: a >= b,
    });
  }
  const cOurs = c.get('exo');
  if (cOurs !== undefined) {
    const kb = cOurs.bytesPerConnection / 1024;
    out.push({
      goal: `RSS per idle joined connection ≤ 10 KB at ${int(cOurs.target)}`,
      value: `${fmt(kb, 2)} KB (${int(cOurs.connected)} joined)`,
      met: kb <= 10 && cOurs.failed === 0,
    });
  }
  return out;
}
