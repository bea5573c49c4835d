// Heartbeats and liveness (CONTRACT §7: a heartbeat every 30 s renews presence and the lock). Rules:
// while joined, `beat` runs every `intervalMs` and says whether it sent one (not while commands
// wait out a RATE_LIMITED); if nothing at all arrives within `timeoutMs` after a sent beat, the
// connection is taken for dead (`dead` runs once): a half-open socket, whose close the network never
// delivered, would otherwise keep the client waiting while its presence expires.

import type { Scheduler } from './scheduler.js';

export interface HeartbeatOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

export class Heartbeat {
  private beatTimer: unknown = null;
  private deadTimer: unknown = null;
  private lastReceived = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly options: HeartbeatOptions,
    private readonly beat: () => boolean,
    private readonly dead: () => void,
  ) {}

  start(): void {
    if (this.beatTimer !== null) return;
    this.armBeat();
  }

  stop(): void {
    if (this.beatTimer !== null) this.scheduler.clearTimeout(this.beatTimer);
    if (this.deadTimer !== null) this.scheduler.clearTimeout(this.deadTimer);
    this.beatTimer = null;
    this.deadTimer = null;
  }

  /** Something arrived on the connection: it is alive. */
  received(): void {
    this.lastReceived = this.scheduler.now();
  }

  private armBeat(): void {
    this.beatTimer = this.scheduler.setTimeout(() => {
      const sentAt = this.scheduler.now();
      if (this.beat() && this.deadTimer === null) {
        this.deadTimer = this.scheduler.setTimeout(() => {
          this.deadTimer = null;
          if (this.lastReceived < sentAt) {
            this.stop();
            this.dead();
          }
        }, this.options.timeoutMs);
      }
      this.armBeat();
    }, this.options.intervalMs);
  }
}
