// Messages between the orchestrator and the load-generator workers (child processes, over the
// IPC channel). Every camera carries its send time in position[0], in microseconds of the
// machine's monotonic clock, which all processes share: receivers compute one-way latency. With
// several server processes (cluster mode), the users of each room are spread over them in turn,
// and position[1] says which one the sender is connected to (1.5 + its index: the frame keeps its
// length), so a receiver tells relays that crossed processes from those that did not.

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
  | {
      type: 'setup';
      wire: Wire;
      /** One URL per server process; user i of a room connects to urls[i % urls.length]. */
      urls: readonly string[];
      hz: number;
      planetId: string;
      rooms: RoomPlan[];
    }
  | { type: 'window-start' }
  | { type: 'window-end' }
  | { type: 'collect' }
  | { type: 'stop' };

/** Relays of one kind (between users on the same server process, or on two different ones). */
export interface RelayPart {
  /** Relays of this kind the sends inside the window should produce. */
  expected: number;
  received: number;
  bins: Bins;
  maxUs: number;
}

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
  /** The relays above split by where receiver and sender are connected. */
  local: RelayPart;
  cross: RelayPart;
}

export type FromWorker =
  | { type: 'ready'; connected: number; failed: number; errors: Record<string, number> }
  | { type: 'ok' }
  | { type: 'stats'; stats: WindowStats };

/** position[1] of a camera sent by a user of server `origin`; `originOf` reads it back. */
export function originMark(origin: number): number {
  return origin + 1.5;
}

export function originOf(mark: number): number {
  return Math.round(mark - 1.5);
}

/** The monotonic clock in microseconds, comparable across processes on one machine. */
export function nowUs(): number {
  return Number(process.hrtime.bigint()) / 1000;
}
