// The scale-out port: what cluster mode needs from a shared store. Room documents are opaque
// strings (the core's RoomDoc as JSON) under a version number; a commit is a compare-and-set on
// that version which, in the same atomic step, indexes the room's next deadline and publishes the
// step's messages to the processes holding its members, so every process receives a room's
// messages in commit order. Cameras never go through a commit: a relay stores the sender's last
// camera in the room's camera hash and publishes the relay. Processes prove they are alive with a
// liveness key; the rooms each process holds members in are indexed so that the survivors can
// evict a dead process's users. Two implementations: InMemoryRoomStore (one process, tests) and
// RedisRoomStore; one contract suite (store-contract.ts) runs against both.

export interface StoredRoom {
  /** Grows by one with every commit; 0 never appears (an absent room reads as null). */
  readonly version: number;
  readonly doc: string;
}

export interface RoomLoad {
  /** The room's document, or null when the key is absent (never created, or expired). */
  readonly room: StoredRoom | null;
  /** The room's camera hash: field → value, as written by `relay`. Empty when absent. */
  readonly cameras: ReadonlyMap<string, string>;
  /** How many rooms are live cluster-wide (committed with `live: true` and not removed or expired). */
  readonly roomCount: number;
}

/** A message for one process's channel. */
export interface Publication {
  readonly proc: string;
  readonly payload: string;
}

export interface RoomCommit {
  readonly roomId: string;
  /** The version the transition read; 0 when the room was absent. */
  readonly expect: number;
  /** The new document. Stored even when `live` is false (a tombstone keeps seq and fences). */
  readonly doc: string;
  /** Whether the room exists after this commit (has members). Not live: camera hash deleted. */
  readonly live: boolean;
  /** Expiry of the room key and its camera hash, refreshed by every commit (milliseconds). */
  readonly ttlMs: number;
  /** When the room next needs a tick (ms since epoch), or null: indexes or unindexes the room. */
  readonly nextDeadline: number | null;
  /**
   * When set and the room was not live before this commit but is after it: refuse the commit
   * ('full') if `maxRooms` rooms are already live. Makes MAX_ROOMS exact across processes.
   */
  readonly maxRooms?: number;
  /** Processes holding members of the room after the commit: the room joins their index. */
  readonly procs: readonly string[];
  /** Processes that held members before and hold none after: the room leaves their index. */
  readonly dropProcs: readonly string[];
  /** Published after the write, atomically with it, in this order. */
  readonly publish: readonly Publication[];
}

/** ok: written and published. clash: the version moved on (reload and retry). full: see maxRooms. */
export type CommitResult = 'ok' | 'clash' | 'full';

export interface CameraWrite {
  readonly roomId: string;
  /** Field of the room's camera hash (the edge names it; the store does not interpret it). */
  readonly field: string;
  readonly value: string;
  /**
   * Expiry of the camera hash, refreshed when given. The engine gives it at most once a second
   * per room (commits refresh it too): an expiry per camera frame would be most of the traffic.
   */
  readonly ttlMs?: number;
  readonly publish: readonly Publication[];
}

export interface RoomStore {
  load(roomId: string): Promise<RoomLoad>;
  commit(commit: RoomCommit): Promise<CommitResult>;
  /** Stores a last camera and publishes its relays; pipelined, never a room transition. */
  relay(write: CameraWrite): Promise<void>;
  /** Delivers every payload published to `proc`, in publication order. One subscriber per proc. */
  subscribe(proc: string, onMessage: (payload: string) => void): Promise<void>;
  /** Rooms whose indexed next deadline is at or before `now`, earliest first, at most `limit`. */
  dueRooms(now: number, limit: number): Promise<string[]>;
  /** The earliest indexed deadline of any room, or null. */
  nextDeadline(): Promise<number | null>;
  /** Marks `proc` alive for `ttlMs` (liveness key) and registers it in the process set. */
  beat(proc: string, ttlMs: number): Promise<void>;
  /** Registered processes whose liveness key has expired. */
  deadProcs(): Promise<string[]>;
  /** Rooms indexed for `proc` (see RoomCommit.procs). */
  roomsOf(proc: string): Promise<string[]>;
  /** Removes a dead process from the process set and drops its room index. */
  forget(proc: string): Promise<void>;
  /** Resolves when the store answers; rejects while it is unreachable. */
  ping(): Promise<void>;
  /** Whether the store is reachable now (as far as the client knows). */
  readonly up: boolean;
  /** Told when reachability changes (false: lost, true: back). */
  onStatus(listener: (up: boolean) => void): void;
  close(): Promise<void>;
}

/** Thrown (or rejected with) by a store while it cannot reach its backend. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}
