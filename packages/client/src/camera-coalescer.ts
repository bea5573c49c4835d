// Camera sends, coalesced latest-wins per planet (CONTRACT §6 throttles relays to one per 50 ms per
// user and planet, §8 caps camera frames at 30 a second). Rules:
// - the first camera after a quiet interval goes at once; later ones within `intervalMs` replace each
//   other, and the latest goes when the interval ends, so at most one frame per planet per interval
//   leaves and the final camera is never lost: a 60 fps render loop may call `offer` every frame;
// - a camera for a planet that cannot be sent now (not a viewer yet, no connection) is kept and goes
//   once `resume` says the planet can be sent again; while the socket's send buffer is full the frame
//   waits for the next interval;
// - `resend` marks the latest camera unsent, for a restore after a reconnect.

import type { CameraState } from '@exo/protocol';
import type { Scheduler } from './scheduler.js';

export type TransmitResult = 'sent' | 'busy' | 'unavailable';

export class CameraCoalescer {
  private readonly latest = new Map<string, CameraState>();
  private readonly unsent = new Set<string>();
  private readonly timers = new Map<string, unknown>();

  constructor(
    private readonly scheduler: Scheduler,
    private readonly intervalMs: number,
    private readonly transmit: (planetId: string, camera: CameraState) => TransmitResult,
  ) {}

  offer(planetId: string, camera: CameraState): void {
    this.latest.set(planetId, camera);
    this.unsent.add(planetId);
    if (!this.timers.has(planetId)) this.flush(planetId);
  }

  resume(planetId: string): void {
    if (!this.timers.has(planetId)) this.flush(planetId);
  }

  resend(planetId: string): void {
    if (this.latest.has(planetId)) this.unsent.add(planetId);
    this.resume(planetId);
  }

  forget(planetId: string): void {
    this.latest.delete(planetId);
    this.unsent.delete(planetId);
    const timer = this.timers.get(planetId);
    if (timer !== undefined) this.scheduler.clearTimeout(timer);
    this.timers.delete(planetId);
  }

  clear(): void {
    for (const planetId of [...this.latest.keys()]) this.forget(planetId);
  }

  lastCamera(planetId: string): CameraState | undefined {
    return this.latest.get(planetId);
  }

  private flush(planetId: string): void {
    this.timers.delete(planetId);
    const camera = this.latest.get(planetId);
    if (camera === undefined || !this.unsent.has(planetId)) return;
    const result = this.transmit(planetId, camera);
    if (result === 'unavailable') return;
    if (result === 'sent') this.unsent.delete(planetId);
    this.timers.set(
      planetId,
      this.scheduler.setTimeout(() => this.flush(planetId), this.intervalMs),
    );
  }
}
