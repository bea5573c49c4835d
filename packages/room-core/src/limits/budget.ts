// Rate budgets (CONTRACT §8). A sliding budget accepts at most `max` events in any window of
// `windowMs`: it remembers the times of the last `max` accepted events in a ring, so a client that
// stays within the budget is never refused, and a refusal says exactly how long to wait. Refused
// events are not remembered. A fixed-window counter counts every event, accepted or not, to spot
// floods that warrant closing the connection.

export class SlidingBudget {
  private readonly times: Float64Array;
  private head = 0;
  private count = 0;

  constructor(
    readonly max: number,
    readonly windowMs: number,
  ) {
    this.times = new Float64Array(max);
  }

  /** Takes one unit at `now`: 0 when accepted, else the ms until one would be. */
  take(now: number): number {
    const wait = this.waitAt(now);
    if (wait > 0) return wait;
    if (this.count < this.max) {
      this.times[(this.head + this.count) % this.max] = now;
      this.count++;
    } else {
      this.times[this.head] = now;
      this.head = (this.head + 1) % this.max;
    }
    return 0;
  }

  /** How long until a unit could be taken at or after `now` (0: right away). */
  waitAt(now: number): number {
    if (this.count < this.max) return 0;
    const oldest = this.times[this.head]!;
    return Math.max(0, oldest + this.windowMs - now);
  }
}

export class FixedWindowCounter {
  private start = Number.NEGATIVE_INFINITY;
  private count = 0;

  constructor(readonly windowMs: number) {}

  /** Counts one event at `now` and returns the count within the current window. */
  hit(now: number): number {
    if (now >= this.start + this.windowMs) {
      this.start = now;
      this.count = 0;
    }
    return ++this.count;
  }
}
