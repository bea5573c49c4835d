// The core micro-benchmark (`pnpm bench:core`): commands per second that @exo/room-core applies
// on one core, for camera updates in a full room (relayed at once, and coalesced by the
// throttle), join/select churn, and a camera command among 1, 100 and 10,000 other rooms (its
// cost must not grow with the number of rooms). The aim is over 1,000,000 camera commands per
// second. docs/benchmarks.md records a run. BENCH_ROUNDS and BENCH_SCALE shorten or lengthen it.

import { cpus } from 'node:os';
import { formatRate, formatTable, measure, type Result, sinkValue } from './measure.js';
import { cameraAmongRooms, churn, fullRoom, parseCamera } from './scenarios.js';

const AIM = 1_000_000;
const scale = Number(process.env.BENCH_SCALE ?? 1);
const options = { warmupRounds: 3, warmupMs: 500, rounds: Number(process.env.BENCH_ROUNDS ?? 7) };
const n = (count: number) => Math.max(1, Math.round(count * scale));

const results: Result[] = [];
const run = (make: () => Parameters<typeof measure>[0]) => {
  const scenario = make();
  const result = measure(scenario, options);
  results.push(result);
  console.error(`  ${result.name}: ${formatRate(result.median)} commands/s`);
};

console.error(
  `room-core micro-benchmark: ${options.rounds} timed rounds after ${options.warmupRounds}+ warm-up rounds (≥ ${options.warmupMs} ms)`,
);
run(() => fullRoom('(a) camera, 20 viewers, every camera relayed (3 ms apart)', 20, 3, n(200_000)));
run(() => fullRoom('(a) camera, 20 viewers, 50 Hz each: throttled and coalesced', 20, 1, n(200_000)));
run(() => churn('(b) churn: open, join, select, unselect, leave, close (4 residents/room)', 4, n(120_000)));
run(() => churn('(b) churn: same, each join creates its room and each leave removes it', 0, n(120_000)));
for (const others of [1, 100, 10_000]) {
  run(() =>
    cameraAmongRooms(
      `(c) camera, 2 viewers, ${others.toLocaleString('en-US')} other room${others === 1 ? '' : 's'}`,
      others,
      n(400_000),
    ),
  );
}
run(() => parseCamera('for scale: decoding one camera frame (@exo/protocol)', n(200_000)));

const cpu = cpus()[0]?.model ?? 'unknown CPU';
console.log(`Node ${process.version}, ${cpus().length} cores (${cpu}), one core used\n`);
console.log(formatTable(results));
const cameras = results.filter((r) => r.name.startsWith('(a)') || r.name.startsWith('(c)'));
const slowest = Math.min(...cameras.map((r) => r.median));
console.log(
  `\nAim: > ${formatRate(AIM)} camera commands/s on one core — slowest camera scenario ${formatRate(slowest)}/s: ${
    slowest > AIM ? 'met' : 'not met'
  }.`,
);
if (sinkValue() === 0) console.log('(no effects were produced: the scenarios are broken)');
