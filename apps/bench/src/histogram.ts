// Latency histogram in microseconds: 10 µs bins up to 200 ms, then 1 ms bins up to 60 s, so
// p50..p99 are read to 10 µs where it matters and a long tail still lands somewhere. Workers send
// the non-empty bins to the orchestrator, which merges them.

const FINE_US = 10;
const FINE_LIMIT_US = 200_000;
const COARSE_US = 1000;
const LIMIT_US = 60_000_000;
const FINE_BINS = FINE_LIMIT_US / FINE_US;
const BINS = FINE_BINS + (LIMIT_US - FINE_LIMIT_US) / COARSE_US + 1;

export type Bins = [bin: number, count: number][];

export class Histogram {
  private readonly counts = new Uint32Array(BINS);
  count = 0;
  maxUs = 0;

  record(us: number): void {
    const v = Math.max(us, 0);
    const bin =
      v < FINE_LIMIT_US
        ? Math.floor(v / FINE_US)
        : Math.min(BINS - 1, FINE_BINS + Math.floor((v - FINE_LIMIT_US) / COARSE_US));
    this.counts[bin]!++;
    this.count++;
    if (v > this.maxUs) this.maxUs = v;
  }

  bins(): Bins {
    const out: Bins = [];
    for (let i = 0; i < BINS; i++) if (this.counts[i]! > 0) out.push([i, this.counts[i]!]);
    return out;
  }

  merge(bins: Bins, maxUs: number): void {
    for (const [bin, n] of bins) {
      this.counts[bin]! += n;
      this.count += n;
    }
    if (maxUs > this.maxUs) this.maxUs = maxUs;
  }

  /** The latency at quantile q (0..1) in ms, as the upper edge of its bin; NaN when empty. */
  quantileMs(q: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < BINS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(upperEdgeUs(i), this.maxUs) / 1000;
    }
    return this.maxUs / 1000;
  }
}

function upperEdgeUs(bin: number): number {
  return bin < FINE_BINS ? (bin + 1) * FINE_US : FINE_LIMIT_US + (bin - FINE_BINS + 1) * COARSE_US;
}
