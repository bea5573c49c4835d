// The RoomStore of one process: Maps instead of Redis, with the same semantics, so the cluster
// engine's tests can run several in-process "processes" against one shared instance without a
// server. Rules it keeps as RedisRoomStore does:
// - TTLs (room key, camera hash, liveness key, a process's room index) are deadlines on the
//   injected clock, checked lazily when touched; a key is gone once `now >= expiresAt`.
// - A process's room index expires PROC_INDEX_TTL_FACTOR liveness TTLs after its last beat, or
//   with the room's TTL when a commit creates it; `forget` leaves a process that beat again alone.
// - A room whose key expired also leaves the live count and the deadline index (Redis purges
//   those lazily too), so an expired room is never due.
// - Publications are delivered on the microtask queue, never inside the publisher's call, in
//   publication order (the queue is FIFO).
// - `setUp(false)` simulates an outage of the shared backend: every store method rejects with
//   StoreUnavailableError until `setUp(true)`; `close()` still resolves (it releases nothing).

import {
  type CameraWrite,
  type CommitResult,
  type Publication,
  type RoomCommit,
  type RoomLoad,
  type RoomStore,
  StoreUnavailableError,
} from './store.js';

export interface Clock {
  now(): number;
}

/** A process's room index lives this many liveness TTLs after its last beat (as in Redis). */
const PROC_INDEX_TTL_FACTOR = 10;

interface RoomEntry {
  readonly version: number;
  readonly doc: string;
  readonly live: boolean;
  readonly expiresAt: number;
}

interface Expiring<T> {
  readonly value: T;
  expiresAt: number | undefined;
}

export class InMemoryRoomStore implements RoomStore {
  readonly #clock: Clock;
  readonly #rooms = new Map<string, RoomEntry>();
  readonly #cameras = new Map<string, Expiring<Map<string, string>>>();
  readonly #liveRooms = new Set<string>();
  readonly #deadlines = new Map<string, number>();
  readonly #liveness = new Map<string, number>();
  readonly #procs = new Set<string>();
  readonly #procRooms = new Map<string, Expiring<Set<string>>>();
  readonly #subscribers = new Map<string, Set<(payload: string) => void>>();
  readonly #statusListeners: Array<(up: boolean) => void> = [];
  #up = true;

  constructor(options: { clock?: Clock } = {}) {
    this.#clock = options.clock ?? { now: () => Date.now() };
  }

  get up(): boolean {
    return this.#up;
  }

  /** Simulates losing (false) or regaining (true) the shared backend; listeners hear changes. */
  setUp(up: boolean): void {
    if (up === this.#up) return;
    this.#up = up;
    for (const listener of this.#statusListeners) listener(up);
  }

  onStatus(listener: (up: boolean) => void): void {
    this.#statusListeners.push(listener);
  }

  async load(roomId: string): Promise<RoomLoad> {
    this.#reachable();
    const room = this.#room(roomId);
    return {
      room: room ? { version: room.version, doc: room.doc } : null,
      cameras: new Map(this.#cameraHash(roomId)?.value),
      roomCount: this.#liveCount(),
    };
  }

  async commit(commit: RoomCommit): Promise<CommitResult> {
    this.#reachable();
    const { roomId } = commit;
    const before = this.#room(roomId);
    if ((before?.version ?? 0) !== commit.expect) return 'clash';
    const wasLive = before?.live ?? false;
    if (commit.live && !wasLive && commit.maxRooms !== undefined && this.#liveCount() >= commit.maxRooms) {
      return 'full';
    }
    const expiresAt = this.#clock.now() + commit.ttlMs;
    this.#rooms.set(roomId, { version: commit.expect + 1, doc: commit.doc, live: commit.live, expiresAt });
    if (commit.live) {
      this.#liveRooms.add(roomId);
      const cameras = this.#cameraHash(roomId);
      if (cameras) cameras.expiresAt = expiresAt;
    } else {
      this.#liveRooms.delete(roomId);
      this.#cameras.delete(roomId);
    }
    if (commit.nextDeadline === null) this.#deadlines.delete(roomId);
    else this.#deadlines.set(roomId, commit.nextDeadline);
    for (const proc of commit.procs) {
      const index = this.#procIndex(proc, true)!;
      index.value.add(roomId);
      // An index nobody beats for (its process died, or was forgotten) must not live forever.
      index.expiresAt ??= expiresAt;
    }
    for (const proc of commit.dropProcs) {
      const index = this.#procIndex(proc, false);
      index?.value.delete(roomId);
      // Redis deletes an emptied set, and its expiry with it.
      if (index?.value.size === 0) this.#procRooms.delete(proc);
    }
    this.#publish(commit.publish);
    return 'ok';
  }

  async relay(write: CameraWrite): Promise<void> {
    this.#reachable();
    let cameras = this.#cameraHash(write.roomId);
    if (!cameras) {
      cameras = { value: new Map(), expiresAt: undefined };
      this.#cameras.set(write.roomId, cameras);
    }
    cameras.value.set(write.field, write.value);
    if (write.ttlMs !== undefined) cameras.expiresAt = this.#clock.now() + write.ttlMs;
    this.#publish(write.publish);
  }

  async subscribe(proc: string, onMessage: (payload: string) => void): Promise<void> {
    this.#reachable();
    let listeners = this.#subscribers.get(proc);
    if (!listeners) {
      listeners = new Set();
      this.#subscribers.set(proc, listeners);
    }
    listeners.add(onMessage);
  }

  async dueRooms(now: number, limit: number): Promise<string[]> {
    this.#reachable();
    return this.#indexedDeadlines()
      .filter(([, deadline]) => deadline <= now)
      .slice(0, Math.max(0, limit))
      .map(([roomId]) => roomId);
  }

  async nextDeadline(): Promise<number | null> {
    this.#reachable();
    return this.#indexedDeadlines()[0]?.[1] ?? null;
  }

  async beat(proc: string, ttlMs: number): Promise<void> {
    this.#reachable();
    const now = this.#clock.now();
    this.#liveness.set(proc, now + ttlMs);
    this.#procs.add(proc);
    const index = this.#procIndex(proc, false);
    if (index) index.expiresAt = now + PROC_INDEX_TTL_FACTOR * ttlMs;
  }

  async deadProcs(): Promise<string[]> {
    this.#reachable();
    return [...this.#procs].filter((proc) => this.#dead(proc));
  }

  async roomsOf(proc: string): Promise<string[]> {
    this.#reachable();
    return [...(this.#procIndex(proc, false)?.value ?? [])];
  }

  async forget(proc: string): Promise<void> {
    this.#reachable();
    if (!this.#dead(proc)) return;
    this.#procs.delete(proc);
    this.#procRooms.delete(proc);
  }

  async ping(): Promise<void> {
    this.#reachable();
  }

  /** Resolves at once: the instance is the shared backend, other "processes" may still use it. */
  async close(): Promise<void> {}

  #reachable(): void {
    if (!this.#up) throw new StoreUnavailableError('in-memory store marked unreachable (setUp(false))');
  }

  #dead(proc: string): boolean {
    const expiresAt = this.#liveness.get(proc);
    return expiresAt === undefined || this.#expired(expiresAt);
  }

  #expired(expiresAt: number | undefined): boolean {
    return expiresAt !== undefined && this.#clock.now() >= expiresAt;
  }

  /** The room's entry, dropping it (and its index entries) when its key has expired. */
  #room(roomId: string): RoomEntry | undefined {
    const room = this.#rooms.get(roomId);
    if (!room || !this.#expired(room.expiresAt)) return room;
    this.#rooms.delete(roomId);
    this.#liveRooms.delete(roomId);
    this.#deadlines.delete(roomId);
    return undefined;
  }

  #liveCount(): number {
    for (const roomId of this.#liveRooms) this.#room(roomId);
    return this.#liveRooms.size;
  }

  #cameraHash(roomId: string): Expiring<Map<string, string>> | undefined {
    const cameras = this.#cameras.get(roomId);
    if (!cameras || !this.#expired(cameras.expiresAt)) return cameras;
    this.#cameras.delete(roomId);
    return undefined;
  }

  /** Earliest first; ties by room id, as a Redis sorted set orders equal scores. */
  #indexedDeadlines(): Array<[string, number]> {
    for (const roomId of [...this.#deadlines.keys()]) this.#room(roomId);
    return [...this.#deadlines].sort(([a, x], [b, y]) => x - y || (a < b ? -1 : a > b ? 1 : 0));
  }

  #procIndex(proc: string, create: boolean): Expiring<Set<string>> | undefined {
    let index = this.#procRooms.get(proc);
    if (index && this.#expired(index.expiresAt)) {
      this.#procRooms.delete(proc);
      index = undefined;
    }
    if (!index && create) {
      index = { value: new Set(), expiresAt: undefined };
      this.#procRooms.set(proc, index);
    }
    return index;
  }

  #publish(publications: readonly Publication[]): void {
    for (const { proc, payload } of publications) {
      for (const listener of this.#subscribers.get(proc) ?? []) queueMicrotask(() => listener(payload));
    }
  }
}
