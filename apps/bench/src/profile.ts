// Summarizes a V8 CPU profile (node --cpu-prof) by self time: the top functions, and the share
// of busy time per area (our packages, ws, Socket.IO, valibot, Node's streams and sockets, GC).
//
//   node apps/bench/dist/profile.js <file.cpuprofile> [--top 25]

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const AREAS: [area: string, test: (url: string, fn: string) => boolean][] = [
  ['(idle)', (_u, f) => f === '(idle)'],
  ['(garbage collector)', (_u, f) => f === '(garbage collector)'],
  ['(program: native, syscalls)', (_u, f) => f === '(program)'],
  ['@exo/room-core', (u) => u.includes('room-core/')],
  ['@exo/protocol (parse, valibot glue)', (u) => u.includes('protocol/')],
  ['valibot', (u) => u.includes('valibot')],
  ['ws-server hub and frames', (u) => u.includes('ws-server/')],
  ['ws receiver', (u) => /ws\/lib\/(receiver|buffer-util|validation)/.test(u)],
  ['ws sender', (u) => u.includes('ws/lib/sender')],
  ['ws websocket', (u) => u.includes('ws/lib/')],
  ['socket.io / engine.io', (u) => /socket\.io|engine\.io/.test(u)],
  ['bench relay', (u) => u.includes('bench/')],
  [
    'node: net, stream, timers',
    (u) => /node:(net|stream|internal\/streams|internal\/stream_base|timers|internal\/timers)/.test(u),
  ],
  ['node: other', (u) => u.startsWith('node:')],
  ['other', () => true],
];

/**
 * Phases of the hot path: a sample belongs to the nearest enclosing frame that matches one of
 * these (tested leaf to root), so each phase's time includes everything it calls.
 */
const PHASES: [phase: string, test: (url: string, fn: string) => boolean][] = [
  [
    'write syscalls (writev / writeBuffer / writeUtf8String)',
    (_u, f) => /^(writev|writeBuffer|writeUtf8String|writeLatin1String)$/.test(f),
  ],
  [
    'read syscalls and socket read callbacks',
    (u, f) => f === 'onStreamRead' || (f === 'readStart' && u === ''),
  ],
  [
    'decode + validate (JSON.parse, valibot)',
    (u, f) => f === 'parseClientMessage' || (u.includes('bare-relay') && f === 'parse'),
  ],
  ['room-core step', (u, f) => u.includes('room-core/') && f === 'step'],
  [
    'serialize + frame once',
    (u, f) => (u.includes('outbox') && f === 'frame') || f === 'serializeServerMessage' || f === 'stringify',
  ],
  [
    'per-recipient send (Node streams, ws Sender)',
    (u, f) =>
      (u.includes('outbox') && f === 'write') ||
      (u.includes('ws/lib/websocket') && f === 'send') ||
      f === 'sendFrame',
  ],
  ['flush corked sockets', (u, f) => u.includes('outbox') && f === 'flush'],
  ['ws receiver (frame parsing)', (u) => u.includes('ws/lib/receiver')],
  ['timers', (u) => u.includes('timers')],
  ['socket.io / engine.io', (u) => /socket\.io|engine\.io/.test(u)],
  ['garbage collector', (_u, f) => f === '(garbage collector)'],
];

function phases(
  profile: Profile,
  byId: Map<number, ProfileNode>,
  self: Map<number, number>,
  busy: number,
): string[] {
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const totals = new Map<string, number>();
  for (const [id, us] of self) {
    if (byId.get(id)!.callFrame.functionName === '(idle)') continue;
    let phase = 'other';
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const { url, functionName } = byId.get(at)!.callFrame;
      const hit = PHASES.find(([, test]) => test(url, functionName));
      if (hit !== undefined) {
        phase = hit[0];
        break;
      }
    }
    totals.set(phase, (totals.get(phase) ?? 0) + us);
  }
  const lines = ['', '| phase (inclusive, nearest enclosing) | share of busy time |', '|---|--:|'];
  for (const [phase, us] of [...totals].sort((a, b) => b[1] - a[1])) {
    lines.push(`| ${phase} | ${((us / busy) * 100).toFixed(1)} % |`);
  }
  return lines;
}

export function summarize(profile: Profile, top: number): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const fns = new Map<string, number>();
  const areas = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const area = AREAS.find(([, test]) => test(url, functionName))![0];
    areas.set(area, (areas.get(area) ?? 0) + us);
    if (area === '(idle)') continue;
    busy += us;
    const file = url
      .replace(/^.*\/node_modules\/(\.pnpm\/[^/]+\/node_modules\/)?/, '')
      .replace(/^file:\/\/.*\/(apps|packages)\//, '');
    const key = `${functionName || '(anonymous)'} ${file}${url ? `:${lineNumber + 1}` : ''}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
  }
  const pct = (us: number) => `${((us / busy) * 100).toFixed(1)} %`;
  const lines = [
    `busy ${(busy / 1e6).toFixed(2)} s (idle ${((areas.get('(idle)') ?? 0) / 1e6).toFixed(2)} s)`,
    '',
    '| area | share of busy time |',
    '|---|--:|',
  ];
  for (const [area, us] of [...areas].sort((a, b) => b[1] - a[1]))
    if (area !== '(idle)') lines.push(`| ${area} | ${pct(us)} |`);
  lines.push(...phases(profile, byId, self, busy));
  lines.push('', '| function (self time) | share |', '|---|--:|');
  for (const [fn, us] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, top))
    lines.push(`| \`${fn}\` | ${pct(us)} |`);
  return lines.join('\n');
}

const { values, positionals } = parseArgs({
  options: { top: { type: 'string', default: '25' } },
  allowPositionals: true,
});
for (const file of positionals) {
  process.stdout.write(
    `## ${file}\n\n${summarize(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(values.top))}\n\n`,
  );
}
