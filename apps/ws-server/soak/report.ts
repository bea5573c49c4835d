// The soak's verdict: each check with what it saw, and the summary table (Markdown, so a run can be
// pasted into docs/benchmarks.md as is).

import type { Tally } from './clients.js';
import type { StatsReply } from './daemon.js';
import type { MemoryReading } from './server.js';

export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** RSS at the end may exceed the reading after warm-up by this fraction. */
export const RSS_TOLERANCE = 0.1;

/** Close codes a soak client may see: its own closes, and the server's answers to what it did. */
const EXPECTED_CLOSES: ReadonlySet<number> = new Set([1000, 1002, 1005, 1006, 1008, 1009, 4001, 4002, 4008]);

/** Every count of what the daemon holds that must be zero once everyone is gone. */
export function leftovers(reply: StatsReply): string[] {
  const counts: Record<string, number> = {
    ...reply.stats,
    sockets: reply.connections,
    backlog: reply.backlog,
  };
  return Object.entries(counts)
    .filter(([, n]) => n !== 0)
    .map(([name, n]) => `${name}=${n}`);
}

export const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

export const memoryLine = (m: MemoryReading) =>
  `rss ${mib(m.rss)}, heap ${mib(m.heapUsed)} used of ${mib(m.heapTotal)}, external ${mib(m.external)}`;

export const list = <K>(map: ReadonlyMap<K, number>) =>
  [...map]
    .sort((a, b) => String(a[0]).localeCompare(String(b[0])))
    .map(([k, n]) => `${String(k)} ${n}`)
    .join(', ') || 'none';

export interface Outcome {
  readonly tally: Tally;
  readonly warm: StatsReply;
  readonly end: StatsReply;
  /** Daemon log lines by level. */
  readonly logLines: ReadonlyMap<string, number>;
  /** The first error, fatal or unparsable log lines. */
  readonly badLines: readonly string[];
  readonly stderr: string;
  readonly exitCode: number | null;
}

export function verdict(o: Outcome): Check[] {
  const t = o.tally;
  const warmLeft = leftovers(o.warm);
  const endLeft = leftovers(o.end);
  const growth = o.end.memory.rss / o.warm.memory.rss - 1;
  const badLines = ['error', 'fatal', 'unparsable'].reduce((n, level) => n + (o.logLines.get(level) ?? 0), 0);
  const unexpectedCloses = [...t.closes.keys()].filter((code) => !EXPECTED_CLOSES.has(code));
  const internal = t.errors.get('INTERNAL') ?? 0;
  return [
    {
      name: 'nothing left after warm-up',
      ok: warmLeft.length === 0,
      detail: warmLeft.join(' ') || 'all zero',
    },
    { name: 'nothing left at the end', ok: endLeft.length === 0, detail: endLeft.join(' ') || 'all zero' },
    {
      name: `RSS at the end within ${RSS_TOLERANCE * 100}% of after warm-up`,
      ok: growth <= RSS_TOLERANCE,
      detail:
        `${mib(o.warm.memory.rss)} → ${mib(o.end.memory.rss)} (${(growth * 100).toFixed(1)}%), ` +
        'both after forced GC with no client connected',
    },
    {
      name: 'no error or fatal line in the daemon log',
      ok: badLines === 0,
      detail: o.badLines.join('\n') || 'none',
    },
    { name: 'nothing on the daemon stderr', ok: o.stderr === '', detail: o.stderr.trim() || 'empty' },
    { name: 'the daemon stopped cleanly', ok: o.exitCode === 0, detail: `exit code ${o.exitCode}` },
    { name: 'no INTERNAL error', ok: internal === 0, detail: String(internal) },
    {
      name: 'no unexpected close code',
      ok: unexpectedCloses.length === 0,
      detail: unexpectedCloses.join(', ') || 'none',
    },
    { name: 'every request answered', ok: t.unanswered === 0, detail: `${t.unanswered} unanswered` },
    { name: 'every connection opened', ok: t.openFailed.size === 0, detail: list(t.openFailed) },
    {
      name: 'no exception in the driver',
      ok: t.driverErrors.length === 0,
      detail: t.driverErrors.join('\n') || 'none',
    },
  ];
}

export interface Summary {
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly clients: number;
  readonly seed: number;
  readonly outcome: Outcome;
  readonly drainMs: number;
}

export function table(s: Summary): string {
  const { tally: t, warm, end, logLines } = s.outcome;
  const peakRss = Math.max(warm.memory.peakRss, end.memory.peakRss);
  const rows: [string, string][] = [
    [
      'churn',
      `${s.seconds} s (${s.warmupSeconds} s warm-up, then ${s.seconds - s.warmupSeconds} s), ` +
        `${s.clients} concurrent clients, seed ${s.seed}`,
    ],
    ['connections opened', `${t.wsOpened + t.tcpOpened} (${t.wsOpened} WebSocket, ${t.tcpOpened} raw TCP)`],
    ['connections that failed to open', list(t.openFailed)],
    ['frames sent', String(t.framesSent)],
    ['camera relays received', String(t.received.get('camera') ?? 0)],
    ['messages received', `${[...t.received.values()].reduce((a, b) => a + b, 0)}: ${list(t.received)}`],
    ['errors by code', list(t.errors)],
    ['closes seen by clients', list(t.closes)],
    ['requests unanswered', String(t.unanswered)],
    ['drained after the last client', `${s.drainMs} ms`],
    ['RSS after warm-up / peak / end', `${mib(warm.memory.rss)} / ${mib(peakRss)} / ${mib(end.memory.rss)}`],
    ['heap used after warm-up / end', `${mib(warm.memory.heapUsed)} / ${mib(end.memory.heapUsed)}`],
    ['daemon log lines', list(logLines)],
  ];
  return ['| measure | value |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
}
