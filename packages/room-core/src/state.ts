// The core's whole state: connections, rooms and the deadline queue. Everything lives in Maps,
// so any identifier (`__proto__` included) is just a key. State is changed in place by `step`
// (a camera command must cost well under a microsecond); `inspect` gives a plain copy to compare.

import type { CameraState, UserProfile } from '@exo/protocol';
import type { ConnId } from './commands.js';
import type { CoreConfig } from './config.js';
import type { Deadline } from './deadline.js';
import { DeadlineHeap } from './heap.js';
import { FixedWindowCounter, SlidingBudget } from './limits/budget.js';

export interface Conn {
  readonly id: ConnId;
  /** The member this connection speaks for, once a join succeeded. */
  member: Member | null;
  /** When the connection last became unbound; it is closed `joinTimeoutMs` later if still unbound. */
  unboundSince: number;
  joinArmedAt: number;
  readonly authUserId: string | null;
  readonly authExpiresAt: number | null;
  readonly general: SlidingBudget;
  readonly camera: SlidingBudget;
  readonly generalFlood: FixedWindowCounter;
  readonly cameraFlood: FixedWindowCounter;
}

export interface Selection {
  readonly planetId: string;
  expiresAt: number;
  /** Fencing number of an exclusive lock; null in shared mode. */
  readonly fence: number | null;
  armedAt: number;
}

export interface ViewState {
  readonly planetId: string;
  /** The member's last camera on this planet, relayed or not, and when it arrived. */
  camera: CameraState | null;
  cameraAt: number | null;
  lastRelayAt: number;
  /** A coalesced camera waiting for the end of the throttle interval. */
  pending: CameraState | null;
  armedAt: number;
}

export interface Member {
  readonly userId: string;
  readonly room: Room;
  profile: UserProfile;
  readonly joinedAt: number;
  lastSeen: number;
  /** The connection speaking for the member; null during a reconnect grace. */
  conn: Conn | null;
  graceUntil: number | null;
  resumeToken: string;
  selection: Selection | null;
  readonly viewing: Map<string, ViewState>;
  presenceArmedAt: number;
  graceArmedAt: number;
}

export interface Room {
  readonly id: string;
  seq: number;
  readonly members: Map<string, Member>;
  /** planetId → the userIds selecting it (at most one in exclusive mode), in selection order. */
  readonly selected: Map<string, Set<string>>;
  /** planetId → the members viewing it. */
  readonly viewers: Map<string, Map<string, Member>>;
  /** planetId → the last fence granted, so fences only grow. */
  readonly lastFence: Map<string, number>;
}

export interface CoreState {
  readonly config: CoreConfig;
  /** The latest time the core has seen; commands stamped earlier are treated as happening now. */
  now: number;
  readonly conns: Map<ConnId, Conn>;
  readonly rooms: Map<string, Room>;
  readonly deadlines: DeadlineHeap<Deadline>;
  /**
   * Fences of removed rooms that a re-created room could still collide with: only those at or
   * above now × 1000 when the room went (any later grant exceeds the others anyway), keyed by
   * fenceKey(roomId, planetId) and pruned as time passes. Keeps fences exact and memory bounded.
   */
  readonly retiredFences: Map<string, number>;
  /** The highest seq of any removed room, so a re-created room continues above it. */
  seqFloor: number;
  /** Rooms held elsewhere that count toward maxRooms (a cluster's other rooms); 0 in one process. */
  otherRooms: number;
}

export const NOT_ARMED = -1;

export function fenceKey(roomId: string, planetId: string): string {
  return `${roomId}\u0000${planetId}`;
}

export function createState(config: CoreConfig, now = 0): CoreState {
  return {
    config,
    now: Math.floor(now),
    conns: new Map(),
    rooms: new Map(),
    deadlines: new DeadlineHeap(),
    retiredFences: new Map(),
    seqFloor: 0,
    otherRooms: 0,
  };
}

export function createConn(
  config: CoreConfig,
  id: ConnId,
  now: number,
  auth?: { userId: string; expiresAt?: number },
): Conn {
  return {
    id,
    member: null,
    unboundSince: now,
    joinArmedAt: NOT_ARMED,
    authUserId: auth?.userId ?? null,
    authExpiresAt: auth?.expiresAt ?? null,
    general: new SlidingBudget(config.rateLimitMax, config.rateLimitWindowMs),
    camera: new SlidingBudget(config.cameraRateMax, 1000),
    generalFlood: new FixedWindowCounter(config.rateLimitWindowMs),
    cameraFlood: new FixedWindowCounter(1000),
  };
}

export function createRoom(state: CoreState, id: string): Room {
  return {
    id,
    seq: state.seqFloor,
    members: new Map(),
    selected: new Map(),
    viewers: new Map(),
    lastFence: new Map(),
  };
}
