// Timing for the core micro-benchmark: a scenario runs a fixed number of commands per round;
// warm-up rounds (at least a few, for at least half a second) let the JIT settle, then the median of several timed rounds is reported
// (the median, not the mean, so one GC pause or a neighbour's burst on a shared machine does
// not decide the figure).

export interface Scenario {
  readonly name: string;
  /** Commands one call of `round` applies. */
  readonly commandsPerRound: number;
  /** Applies the next round of commands; returns a count the caller sums so no work is dead code. */
  round(): number;
  /** What the scenario should have produced, checked after the run (e.g. how many relays). */
  describe?(): string;
}

export interface Result {
  readonly name: string;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly note: string;
}

export interface MeasureOptions {
  readonly warmupRounds: number;
  readonly warmupMs: number;
  readonly rounds: number;
}

let sink = 0;

export function measure(scenario: Scenario, options: MeasureOptions): Result {
  // Warm up for a minimum time as well as a minimum number of rounds: short rounds (a small
  // BENCH_SCALE) would otherwise be timed before the JIT has optimised the hot path.
  const warmupEnd = process.hrtime.bigint() + BigInt(options.warmupMs) * 1_000_000n;
  for (let i = 0; i < options.warmupRounds || process.hrtime.bigint() < warmupEnd; i++)
    sink += scenario.round();
  const rates: number[] = [];
  for (let i = 0; i < options.rounds; i++) {
    const start = process.hrtime.bigint();
    sink += scenario.round();
    const ns = Number(process.hrtime.bigint() - start);
    rates.push((scenario.commandsPerRound * 1e9) / ns);
  }
  rates.sort((a, b) => a - b);
  return {
    name: scenario.name,
    median: rates[Math.floor(rates.length / 2)]!,
    min: rates[0]!,
    max: rates.at(-1)!,
    note: scenario.describe?.() ?? '',
  };
}

/** Read once at the end, so the engine's results are observably used. */
export function sinkValue(): number {
  return sink;
}

export function formatRate(perSecond: number): string {
  return Math.round(perSecond).toLocaleString('en-US');
}

export function formatTable(results: readonly Result[]): string {
  const rows = results.map((r) => [
    r.name,
    formatRate(r.median),
    `${formatRate(r.min)} – ${formatRate(r.max)}`,
    (1e9 / r.median).toFixed(0),
    r.note,
  ]);
  const header = ['scenario', 'commands/s (median)', 'range over rounds', 'ns/command', 'notes'];
  const all = [header, header.map(() => '---'), ...rows];
  return all.map((row) => `| ${row.join(' | ')} |`).join('\n');
}
