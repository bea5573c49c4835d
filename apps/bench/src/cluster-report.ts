// The cluster run's table, as Markdown to paste into docs/benchmarks.md unchanged: one column per
// setup, then two ratios — two processes / one (both on Redis: what spreading users over processes
// costs) and one process on Redis / without (what cluster mode itself costs). CPU is per 1000
// delivered relays, in ms (numerically the µs per relay of the fan-out tables).

import { type ClusterResult, type ClusterSetup, SETUP_LABEL } from './cluster.js';
import type { WindowResult } from './run.js';

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
const ratio = (a: number, b: number) =>
  Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}×` : '–';

type Show = (n: number) => string;
type Line = [label: string, value: (r: WindowResult) => number, show: Show, ratios: boolean];

const perThousand = (sec: number, r: WindowResult) => (sec * 1e6) / r.received;
const redisCallsTotal = (r: WindowResult) => Object.values(r.redisCalls).reduce((a, b) => a + b, 0);

const LINES: Line[] = [
  ['**relays delivered per second**', (r) => r.relaysPerSec, (n) => `**${int(n)}**`, true],
  ['delivered / expected (%)', (r) => r.delivery * 100, (n) => fmt(n, 3), false],
  ['latency p50 (ms)', (r) => r.p50, (n) => fmt(n, 2), true],
  ['latency p90 (ms)', (r) => r.p90, (n) => fmt(n, 2), true],
  ['**latency p99 (ms)**', (r) => r.p99, (n) => `**${fmt(n, 2)}**`, true],
  ['latency max (ms)', (r) => r.max, (n) => fmt(n, 1), true],
  [
    'relays from one process to another (% of delivered)',
    (r) => (r.cross.received / r.received) * 100,
    (n) => fmt(n, 1),
    false,
  ],
  ['… their latency p50 (ms)', (r) => r.cross.p50, (n) => fmt(n, 2), false],
  ['… their latency p99 (ms)', (r) => r.cross.p99, (n) => fmt(n, 2), false],
  // An empty histogram has no maximum (its maxUs is 0): shown as '–', like its quantiles.
  [
    '… their latency max (ms)',
    (r) => (r.cross.received === 0 ? Number.NaN : r.cross.max),
    (n) => fmt(n, 1),
    false,
  ],
  ['relays within one process: latency p50 (ms)', (r) => r.local.p50, (n) => fmt(n, 2), true],
  ['… p99 (ms)', (r) => r.local.p99, (n) => fmt(n, 2), true],
  [
    '**server CPU per 1000 relays (ms), all processes**',
    (r) => perThousand(r.serverCpuSec, r),
    (n) => `**${fmt(n, 2)}**`,
    true,
  ],
  ['… in user space (ms)', (r) => perThousand(r.serverCpuSec - r.serverSysSec, r), (n) => fmt(n, 2), true],
  ['… in the kernel (ms)', (r) => perThousand(r.serverSysSec, r), (n) => fmt(n, 2), true],
  [
    'server CPU (% of one core, all processes)',
    (r) => (r.serverCpuSec / r.seconds) * 100,
    (n) => fmt(n, 0),
    true,
  ],
  ['Redis CPU (% of one core)', (r) => (r.redisCpuSec / r.seconds) * 100, (n) => fmt(n, 0), true],
  ['Redis CPU per 1000 relays (ms)', (r) => perThousand(r.redisCpuSec, r), (n) => fmt(n, 2), true],
  [
    'server + Redis CPU per 1000 relays (ms)',
    (r) => perThousand(r.serverCpuSec + (Number.isNaN(r.redisCpuSec) ? 0 : r.redisCpuSec), r),
    (n) => fmt(n, 2),
    true,
  ],
  ['Redis calls per second (scripts’ calls included)', (r) => redisCallsTotal(r) / r.seconds, int, true],
  ['Redis calls per camera frame sent', (r) => redisCallsTotal(r) / r.sent, (n) => fmt(n, 2), true],
  ['server RSS at the end (MB, all processes)', (r) => r.serverRssMb, (n) => fmt(n, 0), true],
  ['camera frames sent', (r) => r.sent, int, false],
  ['relays expected', (r) => r.expected, int, false],
  ['connections', (r) => r.connections, int, false],
  ['generator CPU, all workers (% of one core)', (r) => r.generatorCpuPct, (n) => fmt(n, 0), false],
  ['generator CPU, busiest worker (%)', (r) => r.busiestWorkerPct, (n) => fmt(n, 0), false],
  ['generator send lag, worst (ms)', (r) => r.maxSendLagMs, (n) => fmt(n, 1), false],
];

export function clusterTable({ results }: ClusterResult): string {
  const setups = [...results.keys()];
  const get = (s: ClusterSetup) => results.get(s)!;
  const pairs: [header: string, a: ClusterSetup, b: ClusterSetup][] = [];
  if (results.has('redis-2') && results.has('redis-1'))
    pairs.push(['two / one process', 'redis-2', 'redis-1']);
  if (results.has('redis-1') && results.has('single'))
    pairs.push(['Redis / no Redis, one process', 'redis-1', 'single']);
  const header = ['', ...setups.map((s) => SETUP_LABEL[s]), ...pairs.map(([h]) => h)];
  const lines = [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? '---' : '--:')).join('|')}|`,
  ];
  for (const [label, value, show, withRatios] of LINES) {
    const cells = setups.map((s) => show(value(get(s))));
    const ratios = pairs.map(([, a, b]) => (withRatios ? ratio(value(get(a)), value(get(b))) : ''));
    lines.push(`| ${[label, ...cells, ...ratios].join(' | ')} |`);
  }
  const calls = setups
    .filter((s) => Object.keys(get(s).redisCalls).length > 0)
    .map((s) => {
      const r = get(s);
      const byCommand = Object.entries(r.redisCalls)
        .sort((a, b) => b[1] - a[1])
        .map(([command, n]) => `${command} ${int(n / r.seconds)}`)
        .join(', ');
      return `${SETUP_LABEL[s]}: ${byCommand}`;
    });
  const errors = setups.map((s) => {
    const list = Object.entries(get(s).errors).map(([code, n]) => `${code} ${n}`);
    return `${SETUP_LABEL[s]}: ${list.join(', ') || 'none'}`;
  });
  // Blank lines between: Markdown would read a line right after the table as one more row.
  return [
    lines.join('\n'),
    calls.length > 0 ? `\n\nRedis calls per second by command — ${calls.join('; ')}.` : '',
    `\n\nErrors: ${errors.join('; ')}.`,
  ].join('');
}

/** The one line: relays per second and p99, two processes against one, same workload. */
export function clusterSummary({ results }: ClusterResult): string | null {
  const two = results.get('redis-2');
  const one = results.get('redis-1');
  if (two === undefined || one === undefined) return null;
  return (
    `Two processes on one Redis vs one process with REDIS_URL: ${int(two.relaysPerSec)} vs ` +
    `${int(one.relaysPerSec)} relays/s delivered (${ratio(two.relaysPerSec, one.relaysPerSec)}), p99 ` +
    `${fmt(two.p99, 2)} vs ${fmt(one.p99, 2)} ms (${ratio(two.p99, one.p99)}; relays between processes ` +
    `${fmt(two.cross.p99, 2)} ms), server CPU per 1000 relays ${fmt(perThousand(two.serverCpuSec, two), 2)} vs ` +
    `${fmt(perThousand(one.serverCpuSec, one), 2)} ms (${ratio(perThousand(two.serverCpuSec, two), perThousand(one.serverCpuSec, one))}).`
  );
}
