// Messages between the orchestrator and the load-generator workers (child processes, over the
// IPC channel). Every camera carries its send time in position[0], in microseconds of the
// machine's monotonic clock, which all processes share: receivers compute one-way latency.

import type { Bins } from './histogram.js';

/** `base`: another build of our daemon (`--base-main`), to compare a change against. */
export type ServerKind = 'exo' | 'bare' | 'socketio' | 'base';
/** How a worker speaks to the server: our JSON protocol over ws (exo, bare) or Socket.IO events. */
export type Wire = 'ws' | 'sio';

export interface RoomPlan {
  readonly roomId: string;
  readonly users: readonly string[];
}

export type ToWorker =
  | { type: 'setup'; wire: Wire; url: string; hz: number; planetId: string; rooms: RoomPlan[] }
  | { type: 'window-start' }
  | { type: 'window-end' }
  | { type: 'collect' }
  | { type: 'stop' };

export interface WindowStats {
  /** Camera frames sent inside the window. */
  sent: number;
  /** Relays the sends inside the window should produce: each goes to the planet's other viewers. */
  expected: number;
  /** Relays of those sends that arrived by the time of collection. */
  received: number;
  /** Relays of sends from outside the window (before or after it). */
  outside: number;
  bins: Bins;
  maxUs: number;
  /** Error frames by code, close codes as `close:<code>`, failed connections as `connect`. */
  errors: Record<string, number>;
  /** How late the scheduler ran sends behind their plan: the worst case in ms. */
  maxSendLagMs: number;
  /** Sends the scheduler skipped because it fell a whole period behind. */
  skipped: number;
  connections: number;
}

export type FromWorker =
  | { type: 'ready'; connected: number; failed: number; errors: Record<string, number> }
  | { type: 'ok' }
  | { type: 'stats'; stats: WindowStats };

/** The monotonic clock in microseconds, comparable across processes on one machine. */
export function nowUs(): number {
  return Number(process.hrtime.bigint()) / 1000;
}
