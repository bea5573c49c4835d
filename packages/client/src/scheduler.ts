// Time, for the client: every clock reading and timer (heartbeats, liveness, back-off, camera
// frames, rate-limit waits) goes through a Scheduler, so tests move a ManualScheduler instead of
// sleeping. Rules of the manual one: time moves only in `advance`, never backwards; timers due on
// the way run in due-time order (ties in the order they were set), each seeing `now()` at its due time.

export interface Scheduler {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

// The client builds without DOM or Node typings; these two globals exist in both.
interface TimerGlobals {
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}
const timers = globalThis as unknown as TimerGlobals;

export const systemScheduler: Scheduler = {
  now: () => Date.now(),
  setTimeout: (run, ms) => timers.setTimeout(run, ms),
  clearTimeout: (handle) => timers.clearTimeout(handle),
};

interface ManualTimer {
  readonly at: number;
  readonly order: number;
  readonly run: () => void;
}

export class ManualScheduler implements Scheduler {
  private readonly timers = new Map<number, ManualTimer>();
  private nextId = 0;

  constructor(private current = 0) {}

  now(): number {
    return this.current;
  }

  setTimeout(run: () => void, ms: number): unknown {
    const id = ++this.nextId;
    this.timers.set(id, { at: this.current + Math.max(0, ms), order: id, run });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** How many timers are armed. */
  get pending(): number {
    return this.timers.size;
  }

  /** When the next timer is due, or null. */
  nextDue(): number | null {
    let next: number | null = null;
    for (const timer of this.timers.values()) if (next === null || timer.at < next) next = timer.at;
    return next;
  }

  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`a clock cannot move by ${ms} ms`);
    const target = this.current + ms;
    for (;;) {
      const due = this.earliestDue(target);
      if (due === null) break;
      this.timers.delete(due[0]);
      this.current = due[1].at;
      due[1].run();
    }
    this.current = target;
  }

  private earliestDue(until: number): [number, ManualTimer] | null {
    let best: [number, ManualTimer] | null = null;
    for (const entry of this.timers) {
      const timer = entry[1];
      if (timer.at > until) continue;
      if (
        best === null ||
        timer.at < best[1].at ||
        (timer.at === best[1].at && timer.order < best[1].order)
      ) {
        best = entry;
      }
    }
    return best;
  }
}
