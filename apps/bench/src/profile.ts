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
