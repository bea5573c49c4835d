// Rate budgets (CONTRACT §8). A sliding budget accepts at most `max` events in any window of
// `windowMs`: it remembers the times of the last `max` accepted events in a ring, so a client that
// stays within the budget is never refused, and a refusal says exactly how long to wait. Refused
// events are not remembered. The ring grows as events are accepted, so an idle connection's
// budgets hold almost nothing (every connection has two). A fixed-window counter counts every event, accepted or not, to spot
// floods that warrant closing the connection.

export class SlidingBudget {
  /** Accepted times in order until `max` are held, then a ring whose oldest entry is at `head`. */
  private readonly times: number[] = [];
  private head = 0;

  constructor(
    readonly max: number,
    readonly windowMs: number,
  ) {}

  /** Takes one unit at `now`: 0 when accepted, else the ms until one would be. */
  take(now: number): number {
    const wait = this.waitAt(now);
    if (wait > 0) return wait;
    if (this.times.length < this.max) {
      this.times.push(now);
    } else {
      this.times[this.head] = now;
      this.head = (this.head + 1) % this.max;
    }
    return 0;
  }

  /** How long until a unit could be taken at or after `now` (0: right away). */
  waitAt(now: number): number {
    if (this.times.length < this.max) return 0;
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
