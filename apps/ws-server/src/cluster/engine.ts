// Cluster mode's engine: the same surface as RoomEngine for the socket hub, with rooms in a shared
// RoomStore. Each process is the edge of its own connections: it admits their frames (budgets,
// decoding — the core's `admit`), keeps their bindings, join timeouts and credential expiries, and
// throttles their cameras. Everything a room decides runs as `applyRoom` on the room's document
// under a compare-and-set; the step's messages are published, atomically with the write, to the
// processes holding the recipients, so every process delivers a room's messages in commit order.
// A connection's frames are handled one at a time, each waiting until this process has received
// the messages of the previous one, so its answers keep their order (CONTRACT §3).
//
// Cameras never touch a room document: a relay is a publication to the other viewers' processes
// plus a write of the sender's last camera (for snapshots), throttled per (user, planet) here.
// Deadlines: every process polls the store's deadline index and ticks due rooms through the same
// compare-and-set, so each expiry is applied once. Liveness: a key with a short TTL; survivors
// evict a dead process's users. See docs/scaling.md.

import type {
  CameraRelayMessage,
  CameraState,
  ClientMessage,
  ErrorMessage,
  ServerMessage,
} from '@exo/protocol';
import {
  admit,
  applyRoom,
  CLOSE_CODES,
  type Clock,
  type CloseCode,
  type CloseKind,
  type ConnAuth,
  type ConnId,
  type CoreConfig,
  type CoreSnapshot,
  type CoreStats,
  createBudgets,
  createState,
  type Effect,
  type FrameBudgets,
  inspect,
  loadRoom,
  type RoomBinding,
  type RoomCommand,
  type RoomDoc,
  type RoomTransition,
  stats,
  type TokenSource,
} from '@exo/room-core';
import type { Logger } from '../log.js';
import type { Publication, RoomStore } from './store.js';

export interface ClusterEngineOptions {
  readonly store: RoomStore;
  /** This process's id: unique in the cluster, no ':' (connection ids are `${procId}:${n}`). */
  readonly procId: string;
  readonly config: CoreConfig;
  readonly clock: Clock;
  readonly tokens: TokenSource;
  readonly log: Logger;
  /** Told of compare-and-set clashes and of commands refused while the store was unreachable. */
  readonly observer?: ClusterObserver;
}

export interface ClusterObserver {
  clash(): void;
  unavailable(): void;
}

type RoomItem =
  /** A binding change for a connection of the receiving process: its member's userId, or null. */
  | readonly ['b', ConnId, string | null]
  | readonly ['s', readonly ConnId[], ServerMessage]
  | readonly ['c', ConnId, number, string];

type Payload =
  | {
      readonly k: 'room';
      readonly room: string;
      readonly v: number;
      /**
       * The room's new document for processes that hold members after the step, else null;
       * 'same' when only a lastSeen changed (the copy stays, at the new version).
       */
      readonly doc: RoomDoc | null | 'same';
      readonly fx: readonly RoomItem[];
      readonly ticket?: string;
    }
  | { readonly k: 'cam'; readonly room: string; readonly msg: CameraRelayMessage };

interface Throttle {
  readonly vid: number;
  lastRelayAt: number;
  pending: CameraState | null;
  timer: NodeJS.Timeout | null;
}

interface EdgeConn {
  readonly id: ConnId;
  readonly budgets: FrameBudgets;
  readonly authUserId: string | null;
  binding: RoomBinding | null;
  closed: boolean;
  /** Past the flood threshold: its close is queued behind its earlier frames, later ones are ignored. */
  flooded: boolean;
  joinTimer: NodeJS.Timeout | null;
  /** Joins received but not yet applied: a join that arrived in time is applied before the timeout. */
  joinsInFlight: number;
  /** The join timeout came due while a join was in flight: decided when the last one finishes. */
  joinDue: boolean;
  authTimer: NodeJS.Timeout | null;
  readonly cams: Map<string, Throttle>;
  /** Relays held while this connection's join or join_viewer is applied (see deliverCamera). */
  held: Held | null;
  /** Camera-only activity is pushed to the room's lastSeen at most once per window. */
  lastSeen: number;
  seenPushedAt: number;
  seenTimer: NodeJS.Timeout | null;
}

interface Held {
  readonly roomId: string;
  readonly planets: ReadonlySet<string> | 'all';
  readonly relays: CameraRelayMessage[];
  /** The viewer_cameras the step sent this connection, by planet. */
  readonly snapshots: Map<string, Readonly<Record<string, CameraState>>>;
}

interface CachedRoom {
  readonly v: number;
  readonly doc: RoomDoc;
  readonly members: ReadonlyMap<string, RoomDoc['members'][number]>;
}

interface Committed {
  readonly version: number;
  readonly transition: RoomTransition;
  readonly delivered: Promise<boolean> | null;
}

const MAX_ATTEMPTS = 100;
const TICKET_TIMEOUT_MS = 3000;
const POLL_MAX_MS = 250;
const POLL_BUSY_MS = 20;
const MAX_TIMER_MS = 2 ** 31 - 1;
/** A drain keeps users at least this long (CONTRACT §4): a rolling restart releases no lock. */
const DRAIN_GRACE_MS = 15_000;

export class ClusterUnavailableError extends Error {
  override readonly name = 'ClusterUnavailableError';
}

export class ClusterEngine {
  private sink: (effects: Effect[]) => void = () => {};
  /** Whether a connection id is one of this process's. */
  private readonly ours = (conn: ConnId): boolean => procOf(conn) === this.procId;
  private readonly conns = new Map<ConnId, EdgeConn>();
  /** Chains of work per connection (frames, closes), so each connection's frames run in order. */
  private readonly chains = new Map<ConnId, Promise<void>>();
  private readonly cache = new Map<string, CachedRoom>();
  /** When this process last refreshed each room's camera hash expiry. */
  private readonly cameraTtlAt = new Map<string, number>();
  /** Room → this process's connections bound to it or holding relays for it. */
  private readonly listeners = new Map<string, Set<EdgeConn>>();
  /** Per room, the tail of this process's transitions: they never clash with each other. */
  private readonly roomTails = new Map<string, Promise<unknown>>();
  private readonly tickets = new Map<string, (delivered: boolean) => void>();
  /** Tickets given up on (their step was delivered from the commit): their publication is ignored. */
  private readonly abandoned = new Set<string>();
  private readonly ticking = new Set<string>();
  private readonly background = new Set<Promise<unknown>>();
  private nextTicket = 0;
  private reaping = false;
  private lastBeat = Number.NEGATIVE_INFINITY;
  /**
   * No process is taken for dead before this time: after a start or an outage every process gets
   * two liveness periods to beat again, so a survivor that reconnects first evicts nobody alive.
   */
  private reapAfter = 0;
  private draining = false;
  private stopped = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private beatTimer: NodeJS.Timeout | null = null;
  private reapTimer: NodeJS.Timeout | null = null;
  private readonly store: RoomStore;
  private readonly config: CoreConfig;
  private readonly clock: Clock;
  private readonly log: Logger;
  readonly procId: string;
  /** Liveness key TTL: short enough that a dead process's users go well within the presence timeout. */
  readonly livenessTtlMs: number;
  private readonly roomTtlMs: number;
  private readonly seenWindowMs: number;

  constructor(private readonly options: ClusterEngineOptions) {
    if (options.procId.length === 0 || options.procId.includes(':')) {
      throw new Error(`a cluster process id must be non-empty without ':', got ${options.procId}`);
    }
    this.store = options.store;
    this.config = options.config;
    this.clock = options.clock;
    this.log = options.log;
    this.procId = options.procId;
    const presence = options.config.presenceTimeoutMs;
    this.livenessTtlMs = Math.max(300, Math.min(3000, Math.floor(presence / 3)));
    const longestGrace = Math.max(options.config.reconnectGraceMs, DRAIN_GRACE_MS);
    this.roomTtlMs = Math.max(presence, longestGrace) + 60_000;
    this.seenWindowMs = Math.max(1, Math.min(1000, Math.floor(presence / 4)));
  }

  /** Subscribes to this process's channel and starts the liveness, deadline and reaper loops. */
  async start(): Promise<void> {
    await this.store.subscribe(this.procId, (payload) => this.onPayload(payload));
    await this.beat();
    this.reapAfter = Date.now() + 2 * this.livenessTtlMs;
    const beatEvery = Math.floor(this.livenessTtlMs / 3);
    this.beatTimer = setInterval(() => {
      this.beat().catch(() => {});
    }, beatEvery);
    this.reapTimer = setInterval(() => {
      if (this.reaping || Date.now() < this.reapAfter) return;
      this.reaping = true;
      this.track(this.reap().finally(() => (this.reaping = false)));
    }, beatEvery);
    this.store.onStatus((up) => {
      this.reapAfter = Date.now() + 2 * this.livenessTtlMs;
      if (up && !this.stopped) this.track(this.recover());
    });
    this.schedulePoll(0);
  }

  /** Where effects go: the socket hub's `run`. */
  attach(sink: (effects: Effect[]) => void): void {
    this.sink = sink;
  }

  /**
   * Ready while the store is reachable and has answered a liveness beat lately: a Redis that stops
   * answering without dropping the connection makes the process not ready too.
   */
  get ready(): boolean {
    return this.store.up && Date.now() - this.lastBeat < 2 * this.livenessTtlMs;
  }

  private async beat(): Promise<void> {
    await timed(this.store.beat(this.procId, this.livenessTtlMs));
    this.lastBeat = Date.now();
  }

  /** From now on a 1001 close keeps its user for max(RECONNECT_GRACE_MS, 15 s). */
  drain(): void {
    this.draining = true;
  }

  /** Waits for queued work (closes of a drain included), then stops the loops. */
  async stop(timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.chains.size > 0 || this.background.size > 0) {
      if (Date.now() > deadline) break;
      const all = [...this.chains.values(), ...this.background];
      await Promise.race([Promise.allSettled(all), sleep(Math.max(1, deadline - Date.now()))]);
    }
    this.stopped = true;
    for (const timer of [this.pollTimer, this.beatTimer, this.reapTimer])
      if (timer !== null) clearTimeout(timer);
    for (const conn of this.conns.values()) this.clearTimers(conn);
  }

  // The hub's side (RoomEngine's shape). Effects arrive through the sink, never as return values:
  // a connection's answers must wait for its earlier frames' messages.

  open(id: ConnId, auth?: ConnAuth): Effect[] {
    const conn: EdgeConn = {
      id,
      budgets: createBudgets(this.config),
      authUserId: auth?.userId ?? null,
      binding: null,
      closed: false,
      flooded: false,
      joinTimer: null,
      joinsInFlight: 0,
      joinDue: false,
      authTimer: null,
      cams: new Map(),
      held: null,
      lastSeen: 0,
      seenPushedAt: Number.NEGATIVE_INFINITY,
      seenTimer: null,
    };
    this.conns.set(id, conn);
    this.armJoinTimeout(conn);
    if (auth?.expiresAt !== undefined) this.armAuthExpiry(conn, auth.expiresAt);
    return [];
  }

  frame(id: ConnId, input: Parameters<typeof admit>[2]): Effect[] {
    const conn = this.conns.get(id);
    if (conn === undefined || conn.closed || conn.flooded) return [];
    const at = this.clock.now();
    const admission = admit(this.config, conn.budgets, input, at);
    switch (admission.kind) {
      case 'drop':
        break;
      case 'flood': {
        // Closed after the answers to its earlier frames, as in one process; nothing more is read.
        conn.flooded = true;
        const reason = admission.reason;
        this.enqueue(conn.id, async () => this.serverClose(conn, CLOSE_CODES.flooding, reason));
        break;
      }
      case 'answer':
        this.enqueue(conn.id, async () => this.answer(conn, admission.answer));
        break;
      case 'pass': {
        const { message, rateWait } = admission;
        if (message.type !== 'join') {
          this.enqueue(conn.id, () => this.handle(conn, message, rateWait, at));
          break;
        }
        conn.joinsInFlight++;
        this.enqueue(conn.id, () =>
          this.handle(conn, message, rateWait, at).finally(() => {
            conn.joinsInFlight--;
            if (conn.joinsInFlight === 0 && conn.joinDue) {
              conn.joinDue = false;
              if (conn.binding === null) this.serverClose(conn, CLOSE_CODES.joinTimeout, 'no join in time');
            }
          }),
        );
        break;
      }
    }
    return [];
  }

  close(id: ConnId, kind: CloseKind): Effect[] {
    const conn = this.conns.get(id);
    // During a drain the server closed every socket with 1001, whatever code the peer echoes
    // (an empty close frame, or none from a straggler cut off): each counts as going away.
    if (conn !== undefined) this.release(conn, this.draining ? 'going_away' : kind);
    return [];
  }

  tick(): Effect[] {
    return [];
  }

  nextDeadline(): number | null {
    return null;
  }

  /** The rooms this process holds members of, as the single-process engine would show them. */
  inspect(): CoreSnapshot {
    return inspect(this.mergedState());
  }

  stats(): CoreStats {
    const s = stats(this.mergedState());
    let bound = 0;
    let pendingRelays = 0;
    for (const conn of this.conns.values()) {
      if (conn.binding !== null) bound++;
      for (const throttle of conn.cams.values()) if (throttle.pending !== null) pendingRelays++;
    }
    // The rooms' deadlines (each member's presence or grace, and its lock) live in the documents;
    // coalesced relays wait here, at the sender's edge.
    let roomDeadlines = 0;
    for (const { doc } of this.cache.values()) {
      for (const m of doc.members)
        roomDeadlines += (m.conn !== null || m.graceUntil !== null ? 1 : 0) + (m.selection === null ? 0 : 1);
    }
    return {
      ...s,
      connections: this.conns.size,
      boundConnections: bound,
      pendingRelays,
      pendingDeadlines: roomDeadlines + pendingRelays,
      heapSize: 0,
    };
  }

  // Frames.

  private async handle(conn: EdgeConn, msg: ClientMessage, rateWait: number, at: number): Promise<void> {
    const binding = conn.binding;
    // The room replaced or closed this connection and its close is on the way (our copy of the
    // room shows it already): one process would no longer know the connection, so nothing answers.
    if (binding !== null && this.cache.get(binding.roomId)?.members.get(binding.userId)?.conn !== conn.id)
      return;
    if (msg.type === 'camera') return this.camera(conn, msg, rateWait, at);
    if (msg.type === 'join') {
      if (binding !== null && binding.roomId !== msg.roomId) {
        const text = `already joined room ${binding.roomId}; send leave first`;
        return this.answer(conn, refusal('join', 'ALREADY_JOINED', text, msg.rid));
      }
    } else if (binding === null) {
      return this.answer(conn, refusal(msg.type, 'NOT_JOINED', `send join before ${msg.type}`, msg.rid));
    }
    // The pending relay is cancelled with the viewing (CONTRACT §6), before the step that ends it:
    // a relay leaving after that step's snapshot would show the viewer again.
    if (msg.type === 'leave_viewer') this.dropThrottle(conn, msg.planetId);
    else if (msg.type === 'leave') this.clearCameras(conn);
    const roomId = msg.type === 'join' ? msg.roomId : binding!.roomId;
    const command: RoomCommand = {
      type: 'message',
      conn: conn.id,
      at,
      message: msg,
      authUserId: conn.authUserId,
      ...(msg.type === 'join' ? { token: this.options.tokens.next() } : {}),
    };
    if (msg.type === 'join') this.hold(conn, roomId, 'all');
    else if (msg.type === 'join_viewer') this.hold(conn, roomId, new Set([msg.planetId]));
    try {
      await this.transition(roomId, command);
    } catch (err) {
      this.answer(conn, refusal(msg.type, 'INTERNAL', internalText(err), msg.rid));
    } finally {
      this.releaseHeld(conn);
    }
  }

  private camera(
    conn: EdgeConn,
    msg: Extract<ClientMessage, { type: 'camera' }>,
    rateWait: number,
    at: number,
  ): void {
    const silent = rateWait > 0;
    const binding = conn.binding;
    if (binding === null) {
      if (!silent) this.answer(conn, refusal('camera', 'NOT_JOINED', 'send join before camera', msg.rid));
      return;
    }
    if (msg.userId !== binding.userId) {
      const text = `this connection speaks for ${binding.userId}, not ${msg.userId}`;
      if (!silent) this.answer(conn, refusal('camera', 'USER_MISMATCH', text, msg.rid));
      return;
    }
    this.seen(conn, at);
    const vid = this.viewId(binding, conn.id, msg.planetId);
    if (vid === null) {
      const text = `${msg.userId} does not view ${msg.planetId}`;
      if (!silent) this.answer(conn, refusal('camera', 'NOT_VIEWING', text, msg.rid));
      return;
    }
    let throttle = conn.cams.get(msg.planetId);
    if (throttle === undefined || throttle.vid !== vid) {
      if (throttle?.timer != null) clearTimeout(throttle.timer);
      throttle = { vid, lastRelayAt: Number.NEGATIVE_INFINITY, pending: null, timer: null };
      conn.cams.set(msg.planetId, throttle);
    }
    const slot = throttle.lastRelayAt + this.config.cameraMinIntervalMs;
    if (!silent && throttle.pending === null && at >= slot) {
      this.relay(binding, msg.planetId, vid, msg.camera);
      throttle.lastRelayAt = at;
      return;
    }
    throttle.pending = msg.camera;
    if (throttle.timer === null) {
      const due = Math.max(slot, at + rateWait);
      const t = throttle;
      t.timer = setTimeout(
        () => {
          t.timer = null;
          const pending = t.pending;
          t.pending = null;
          const now = conn.binding;
          if (pending === null || now === null || conn.cams.get(msg.planetId) !== t) return;
          if (this.viewId(now, conn.id, msg.planetId) !== t.vid) return;
          this.relay(now, msg.planetId, t.vid, pending);
          t.lastRelayAt = this.clock.now();
        },
        Math.max(0, due - this.clock.now()),
      );
    }
  }

  /** The viewing id of the connection's member on the planet, from the cached room, or null. */
  private viewId(binding: RoomBinding, connId: ConnId, planetId: string): number | null {
    const member = this.cache.get(binding.roomId)?.members.get(binding.userId);
    if (member === undefined || member.conn !== connId) return null;
    for (const [viewed, vid] of member.viewing) if (viewed === planetId) return vid;
    return null;
  }

  private relay(binding: RoomBinding, planetId: string, vid: number, camera: CameraState): void {
    const room = this.cache.get(binding.roomId);
    if (room === undefined) return;
    const message: CameraRelayMessage = { type: 'camera', planetId, camera, userId: binding.userId };
    this.deliverCamera(binding.roomId, message);
    // Every process holding members of the room gets the relay and picks its viewers from its own
    // view of the room: a viewer that joined a moment ago, which this process's copy of the room
    // may not show yet, still gets it.
    const payload = JSON.stringify({ k: 'cam', room: binding.roomId, msg: message } satisfies Payload);
    const publish: Publication[] = [];
    for (const proc of procsOf(room.doc)) if (proc !== this.procId) publish.push({ proc, payload });
    const now = this.clock.now();
    const refresh = now - (this.cameraTtlAt.get(binding.roomId) ?? Number.NEGATIVE_INFINITY) >= 1000;
    if (refresh) this.cameraTtlAt.set(binding.roomId, now);
    const write = {
      roomId: binding.roomId,
      field: cameraField(binding.userId, planetId),
      value: JSON.stringify({ vid, camera }),
      ...(refresh ? { ttlMs: this.roomTtlMs } : {}),
      publish,
    };
    this.store.relay(write).catch((err: unknown) => {
      this.log.debug({ err: String(err), room: binding.roomId }, 'camera relay not stored or published');
    });
  }

  /** Camera-only activity reaches the room's lastSeen: at once after a quiet window, else at its end. */
  private seen(conn: EdgeConn, at: number): void {
    conn.lastSeen = at;
    if (conn.seenTimer !== null) return;
    const push = () => {
      conn.seenTimer = null;
      conn.seenPushedAt = this.clock.now();
      const binding = conn.binding;
      if (binding === null || conn.closed) return;
      const command: RoomCommand = {
        type: 'seen',
        conn: conn.id,
        at: this.clock.now(),
        seenAt: conn.lastSeen,
      };
      this.track(this.transition(binding.roomId, command).catch(() => {}));
    };
    const wait = conn.seenPushedAt + this.seenWindowMs - at;
    if (wait <= 0) push();
    else conn.seenTimer = setTimeout(push, wait);
  }

  // Room transitions.

  /**
   * Applies a command to a room under compare-and-set, retrying on clashes, and waits until this
   * process has received the step's messages (its own connections' ones included).
   */
  private async transition(roomId: string, command: RoomCommand, force = false): Promise<void> {
    const committed = await this.serial(roomId, () => this.commit(roomId, command, force));
    if (committed === null || committed.delivered === null) return;
    if (await committed.delivered) return;
    // The publication did not come in time (the subscriber lost its connection, or Redis dropped
    // it): deliver what concerns this process from the commit itself, so the sender still gets
    // its answer; the publication, if it comes later, is ignored.
    this.log.warn({ room: roomId }, 'a room step was committed but its messages were not received');
    const { transition, version } = committed;
    for (const [id, binding] of transition.bindings)
      if (this.ours(id)) this.rebind(id, roomId, binding?.userId ?? null);
    const effects: Effect[] = [];
    for (const effect of transition.effects) {
      if (effect.type === 'close') {
        if (this.ours(effect.conn)) effects.push(effect);
      } else {
        const to = effect.to.filter(this.ours);
        if (to.length > 0) effects.push({ ...effect, to });
      }
    }
    this.apply(roomId, version, procsOf(transition.doc).has(this.procId) ? transition.doc : null, effects);
  }

  private serial<T>(roomId: string, fn: () => Promise<T>): Promise<T> {
    const tail = this.roomTails.get(roomId) ?? Promise.resolve();
    const run = tail.then(fn, fn);
    const settled = run.then(
      () => {},
      () => {},
    );
    this.roomTails.set(roomId, settled);
    settled.then(() => {
      if (this.roomTails.get(roomId) === settled) this.roomTails.delete(roomId);
    });
    return run;
  }

  private async commit(roomId: string, command: RoomCommand, force: boolean): Promise<Committed | null> {
    // Set when the store refused a room creation as one too many: the step is recomputed as the
    // store counted (its count is exact; `load`'s may lag by clock skew), so the join is refused.
    let full = false;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      let load: Awaited<ReturnType<RoomStore['load']>>;
      try {
        load = await timed(this.store.load(roomId));
      } catch (err) {
        this.options.observer?.unavailable();
        throw new ClusterUnavailableError(String(err));
      }
      const before = load.room === null ? null : (JSON.parse(load.room.doc) as RoomDoc);
      const cameras = load.cameras;
      const transition = applyRoom(
        {
          config: this.config,
          roomId,
          doc: before,
          cameras: (userId, planetId, vid) => cameraFrom(cameras.get(cameraField(userId, planetId)), vid),
          otherRooms: full ? this.config.maxRooms : load.roomCount - (before?.live === true ? 1 : 0),
        },
        command,
      );
      const version = load.room?.version ?? 0;
      if (!transition.changed && !(force && load.room === null)) {
        if (before !== null) this.apply(roomId, version, before, []);
        return null;
      }
      if (before?.live !== true && !transition.doc.live && !(force && load.room === null)) {
        // A refused join to a room that does not exist: only the sender hears of it, and nothing
        // is written (scripted clients must not be able to fill Redis with tombstones).
        const local = transition.effects.filter((e) =>
          e.type === 'send' ? e.to.every(this.ours) : this.ours(e.conn),
        );
        if (local.length === transition.effects.length) {
          this.sink(local);
          return null;
        }
      }
      const ticket = `${this.procId}:${++this.nextTicket}`;
      // A `seen` step changes one lastSeen and nothing else: the holders' copies (used to route
      // cameras) stay right, so its publications carry no document, only the new version.
      const same = command.type === 'seen' && transition.effects.length === 0;
      const publish = this.route(roomId, version + 1, before, transition, ticket, same);
      const ours = publish.some((p) => p.proc === this.procId);
      const delivered = ours ? this.expect(ticket) : null;
      let result: Awaited<ReturnType<RoomStore['commit']>>;
      try {
        result = await timed(
          this.store.commit({
            roomId,
            expect: version,
            doc: JSON.stringify(transition.doc),
            live: transition.doc.live,
            ttlMs: this.roomTtlMs,
            nextDeadline: transition.nextDeadline,
            ...(before?.live !== true && transition.doc.live ? { maxRooms: this.config.maxRooms } : {}),
            procs: [...procsOf(transition.doc)],
            dropProcs: [...procsOf(before)].filter((p) => !procsOf(transition.doc).has(p)),
            publish,
          }),
        );
      } catch (err) {
        this.cancelTicket(ticket);
        this.options.observer?.unavailable();
        throw new ClusterUnavailableError(String(err));
      }
      if (result === 'ok') return { version: version + 1, transition, delivered };
      this.cancelTicket(ticket);
      if (result === 'full') full = true;
      else this.options.observer?.clash();
    }
    throw new Error(`room ${roomId} is changing too fast: no step committed after ${MAX_ATTEMPTS} attempts`);
  }

  /** The step's publications: per process, its connections' bindings and messages, and the document. */
  private route(
    roomId: string,
    version: number,
    before: RoomDoc | null,
    transition: RoomTransition,
    ticket: string,
    same: boolean,
  ): Publication[] {
    const items = new Map<string, RoomItem[]>();
    const push = (proc: string, item: RoomItem) => {
      const list = items.get(proc);
      if (list === undefined) items.set(proc, [item]);
      else list.push(item);
    };
    for (const [id, binding] of transition.bindings) push(procOf(id), ['b', id, binding?.userId ?? null]);
    for (const effect of transition.effects) {
      if (effect.type === 'close') {
        push(procOf(effect.conn), ['c', effect.conn, effect.code, effect.reason]);
        continue;
      }
      const byProc = new Map<string, ConnId[]>();
      for (const id of effect.to) {
        const list = byProc.get(procOf(id));
        if (list === undefined) byProc.set(procOf(id), [id]);
        else list.push(id);
      }
      for (const [proc, to] of byProc) push(proc, ['s', to, effect.message]);
    }
    const holders = procsOf(transition.doc);
    const procs = new Set([...procsOf(before), ...holders, ...items.keys()]);
    return [...procs].map((proc) => ({
      proc,
      payload: JSON.stringify({
        k: 'room',
        room: roomId,
        v: version,
        doc: !holders.has(proc) ? null : same ? 'same' : transition.doc,
        fx: items.get(proc) ?? [],
        ...(proc === this.procId ? { ticket } : {}),
      } satisfies Payload),
    }));
  }

  private expect(ticket: string): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.tickets.delete(ticket);
        this.abandoned.add(ticket);
        resolve(false);
      }, TICKET_TIMEOUT_MS);
      this.tickets.set(ticket, (delivered) => {
        clearTimeout(timer);
        resolve(delivered);
      });
    });
  }

  /** A commit that did not happen: its ticket will never arrive. */
  private cancelTicket(ticket: string): void {
    this.tickets.get(ticket)?.(false);
    this.tickets.delete(ticket);
  }

  // Publications to this process.

  private onPayload(raw: string): void {
    try {
      this.deliver(JSON.parse(raw) as Payload);
    } catch (err) {
      this.log.error({ err: String(err) }, 'unreadable cluster message ignored');
    }
  }

  private deliver(payload: Payload): void {
    if (payload.k === 'cam') {
      this.deliverCamera(payload.room, payload.msg);
      return;
    }
    if (payload.ticket !== undefined && this.abandoned.delete(payload.ticket)) return;
    const effects: Effect[] = [];
    for (const item of payload.fx) {
      if (item[0] === 'b') this.rebind(item[1], payload.room, item[2]);
      else if (item[0] === 's') effects.push({ type: 'send', to: item[1], message: item[2] });
      else {
        effects.push({ type: 'close', conn: item[1], code: item[2] as CloseCode, reason: item[3] });
        const conn = this.conns.get(item[1]);
        // The room already let the member go: later frames of this socket must change nothing.
        if (conn !== undefined) this.endedByRoom(conn);
      }
    }
    if (payload.doc === 'same') {
      const cached = this.cache.get(payload.room);
      if (cached !== undefined && payload.v === cached.v + 1)
        this.cache.set(payload.room, { ...cached, v: payload.v });
      else this.apply(payload.room, payload.v, cached?.doc ?? null, effects, true);
    } else {
      this.apply(payload.room, payload.v, payload.doc, effects, true);
    }
    if (payload.ticket !== undefined) {
      const resolve = this.tickets.get(payload.ticket);
      this.tickets.delete(payload.ticket);
      resolve?.(true);
    }
  }

  /** Updates the cached room (newer versions only) and carries out effects for our connections. */
  private apply(
    roomId: string,
    version: number,
    doc: RoomDoc | null,
    effects: Effect[],
    published = false,
  ): void {
    const cached = this.cache.get(roomId);
    if (published && cached !== undefined && version > cached.v + 1) {
      // Every step of a room reaches every process holding its members: a gap means this process
      // missed messages (a Redis reconnect). Its clients' view of the room is stale: they
      // reconnect and join again rather than act on it.
      this.missedSteps(roomId);
    }
    if (cached === undefined || version > cached.v) {
      if (doc === null || !doc.live || !procsOf(doc).has(this.procId)) {
        this.cache.delete(roomId);
        this.cameraTtlAt.delete(roomId);
      } else
        this.cache.set(roomId, { v: version, doc, members: new Map(doc.members.map((m) => [m.userId, m])) });
    }
    for (const effect of effects) if (effect.type === 'send') this.noteSnapshot(effect);
    if (effects.length > 0) this.sink(effects);
  }

  /**
   * A relay, to this process's connections that view its planet. While a connection's join or
   * join_viewer is being applied, its relays are held: its snapshot was read from the store a
   * moment before the step committed, and a relay stored in between would be in neither the
   * snapshot nor (addressed before the connection viewed) the relays. They are released after the
   * step's messages, minus what the snapshot already showed (see releaseHeld).
   */
  private deliverCamera(roomId: string, message: CameraRelayMessage): void {
    const listeners = this.listeners.get(roomId);
    if (listeners === undefined) return;
    const to: ConnId[] = [];
    for (const conn of listeners) {
      if (conn.closed) continue;
      const held = conn.held;
      if (
        held !== null &&
        held.roomId === roomId &&
        (held.planets === 'all' || held.planets.has(message.planetId))
      ) {
        if (conn.binding?.userId !== message.userId) held.relays.push(message);
        continue;
      }
      const binding = conn.binding;
      if (binding === null || binding.roomId !== roomId || binding.userId === message.userId) continue;
      if (this.viewId(binding, conn.id, message.planetId) !== null) to.push(conn.id);
    }
    if (to.length > 0) this.sink([{ type: 'send', to, message }]);
  }

  /** Remembers the snapshots a holding connection is sent, to release only newer relays. */
  private noteSnapshot(effect: Extract<Effect, { type: 'send' }>): void {
    const message = effect.message;
    if (message.type !== 'viewer_cameras') return;
    for (const id of effect.to) {
      const held = this.conns.get(id)?.held;
      if (held != null) held.snapshots.set(message.planetId, message.cameras);
    }
  }

  /** Starts holding relays for a connection whose join or join_viewer is about to be applied. */
  private hold(conn: EdgeConn, roomId: string, planets: ReadonlySet<string> | 'all'): void {
    conn.held = { roomId, planets, relays: [], snapshots: new Map() };
    this.listen(conn, roomId);
  }

  /**
   * After the step's messages: the held relays the connection's snapshot did not already show.
   * Per sender, a held relay equal to the snapshot's camera and every one before it are dropped
   * (they are at most as new as the snapshot); the rest go in order.
   */
  private releaseHeld(conn: EdgeConn): void {
    const held = conn.held;
    if (held === null) return;
    conn.held = null;
    if (conn.binding?.roomId !== held.roomId) this.unlisten(conn, held.roomId);
    const binding = conn.binding;
    if (binding === null || binding.roomId !== held.roomId || conn.closed) return;
    const cut = new Map<string, number>();
    held.relays.forEach((relay, i) => {
      const shown = held.snapshots.get(relay.planetId)?.[relay.userId];
      if (shown !== undefined && JSON.stringify(shown) === JSON.stringify(relay.camera)) {
        cut.set(`${relay.userId}\u0000${relay.planetId}`, i);
      }
    });
    const effects: Effect[] = [];
    held.relays.forEach((relay, i) => {
      if (i <= (cut.get(`${relay.userId}\u0000${relay.planetId}`) ?? -1)) return;
      // The step may have bound the connection to the relay's sender (a takeover): never its own.
      if (relay.userId === binding.userId) return;
      // A step delivered while it was held may have ended the sender's viewing (left, expired):
      // its remaining viewers already got the snapshot without it.
      const sender = this.cache.get(held.roomId)?.members.get(relay.userId);
      if (!sender?.viewing.some(([planetId]) => planetId === relay.planetId)) return;
      if (this.viewId(binding, conn.id, relay.planetId) === null) return;
      effects.push({ type: 'send', to: [conn.id], message: relay });
    });
    if (effects.length > 0) this.sink(effects);
  }

  private listen(conn: EdgeConn, roomId: string): void {
    const set = this.listeners.get(roomId);
    if (set === undefined) this.listeners.set(roomId, new Set([conn]));
    else set.add(conn);
  }

  private unlisten(conn: EdgeConn, roomId: string): void {
    const set = this.listeners.get(roomId);
    set?.delete(conn);
    if (set?.size === 0) this.listeners.delete(roomId);
  }

  /** Binds or unbinds a connection, keeping the room → connections index. */
  private bind(conn: EdgeConn, binding: RoomBinding | null): void {
    const old = conn.binding;
    conn.binding = binding;
    if (old !== null && old.roomId !== binding?.roomId && conn.held?.roomId !== old.roomId)
      this.unlisten(conn, old.roomId);
    if (binding !== null && !conn.closed) this.listen(conn, binding.roomId);
  }

  private missedSteps(roomId: string): void {
    this.log.warn({ room: roomId }, 'missed messages of a room; closing its connections here (1001)');
    for (const conn of this.conns.values()) {
      if (conn.binding?.roomId === roomId && !conn.closed) {
        this.serverClose(conn, CLOSE_CODES.goingAway, 'missed room updates; reconnect and join again');
      }
    }
  }

  private rebind(id: ConnId, roomId: string, userId: string | null): void {
    const conn = this.conns.get(id);
    if (conn === undefined) return;
    if (userId !== null) {
      this.bind(conn, { roomId, userId });
      if (conn.joinTimer !== null) clearTimeout(conn.joinTimer);
      conn.joinTimer = null;
      conn.joinDue = false;
    } else if (conn.binding?.roomId === roomId) {
      this.bind(conn, null);
      this.clearCameras(conn);
      if (!conn.closed) this.armJoinTimeout(conn);
    }
  }

  // Connections.

  private answer(conn: EdgeConn, message: ErrorMessage): void {
    this.sink([{ type: 'send', to: [conn.id], message }]);
  }

  /** The server ends a connection: closed at once, its user leaves at once (CONTRACT §1). */
  private serverClose(conn: EdgeConn, code: number, reason: string): void {
    if (conn.closed) return;
    this.sink([{ type: 'close', conn: conn.id, code: code as CloseCode, reason }]);
    this.release(conn, 'other');
  }

  private endedByRoom(conn: EdgeConn): void {
    if (conn.closed) return;
    conn.closed = true;
    this.clearTimers(conn);
    this.enqueue(conn.id, async () => {
      this.conns.delete(conn.id);
      if (conn.binding !== null) this.unlisten(conn, conn.binding.roomId);
    });
  }

  private release(conn: EdgeConn, kind: CloseKind): void {
    if (conn.closed) return;
    conn.closed = true;
    this.clearTimers(conn);
    const graceMs =
      this.draining && kind === 'going_away'
        ? Math.max(this.config.reconnectGraceMs, DRAIN_GRACE_MS)
        : undefined;
    this.enqueue(conn.id, async () => {
      this.conns.delete(conn.id);
      const binding = conn.binding;
      if (binding !== null) this.unlisten(conn, binding.roomId);
      if (binding === null) return;
      const command: RoomCommand = {
        type: 'close',
        conn: conn.id,
        at: this.clock.now(),
        kind,
        ...(graceMs === undefined ? {} : { graceMs }),
      };
      await this.retrying(() => this.transition(binding.roomId, command));
    });
  }

  /** A close must reach its room: retried while the store is unreachable (until stopped). */
  private async retrying(fn: () => Promise<void>): Promise<void> {
    for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
      try {
        return await fn();
      } catch (err) {
        if (this.stopped) return;
        this.log.warn({ err: String(err) }, 'a room step failed; retrying');
        await sleep(delay);
      }
    }
  }

  /** Closes the connection with 4401 when its credential expires (re-armed past a timer's range). */
  private armAuthExpiry(conn: EdgeConn, expiresAt: number): void {
    const left = expiresAt - this.clock.now();
    conn.authTimer = setTimeout(
      () => {
        if (left > MAX_TIMER_MS) this.armAuthExpiry(conn, expiresAt);
        else this.serverClose(conn, CLOSE_CODES.authExpired, 'credential expired');
      },
      Math.min(Math.max(0, left), MAX_TIMER_MS),
    );
  }

  private armJoinTimeout(conn: EdgeConn): void {
    if (conn.joinTimer !== null) clearTimeout(conn.joinTimer);
    conn.joinDue = false;
    conn.joinTimer = setTimeout(() => {
      conn.joinTimer = null;
      if (conn.binding !== null) return;
      if (conn.joinsInFlight > 0) conn.joinDue = true;
      else this.serverClose(conn, CLOSE_CODES.joinTimeout, 'no join in time');
    }, this.config.joinTimeoutMs);
  }

  private dropThrottle(conn: EdgeConn, planetId: string): void {
    const throttle = conn.cams.get(planetId);
    if (throttle?.timer != null) clearTimeout(throttle.timer);
    conn.cams.delete(planetId);
  }

  private clearCameras(conn: EdgeConn): void {
    for (const throttle of conn.cams.values()) if (throttle.timer !== null) clearTimeout(throttle.timer);
    conn.cams.clear();
  }

  private clearTimers(conn: EdgeConn): void {
    for (const timer of [conn.joinTimer, conn.authTimer, conn.seenTimer])
      if (timer !== null) clearTimeout(timer);
    conn.joinTimer = conn.authTimer = conn.seenTimer = null;
    this.clearCameras(conn);
  }

  private enqueue(id: ConnId, fn: () => Promise<void>): void {
    const tail = this.chains.get(id) ?? Promise.resolve();
    const next = tail.then(fn).catch((err: unknown) => {
      this.log.error(
        { conn: id, err: err instanceof Error ? (err.stack ?? err.message) : String(err) },
        'frame failed',
      );
    });
    this.chains.set(id, next);
    next.then(() => {
      if (this.chains.get(id) === next) this.chains.delete(id);
    });
  }

  private track(work: Promise<unknown>): void {
    const settled = work.catch(() => {});
    this.background.add(settled);
    settled.then(() => this.background.delete(settled));
  }

  // Loops: deadlines, liveness, recovery.

  private schedulePoll(delay: number): void {
    if (this.stopped) return;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = null;
      this.poll().then(
        (next) => this.schedulePoll(next),
        (err: unknown) => {
          if (this.store.up) this.log.warn({ err: String(err) }, 'deadline poll failed');
          this.schedulePoll(POLL_MAX_MS);
        },
      );
    }, delay);
  }

  /** Ticks every due room; returns how long to wait before looking again. */
  private async poll(): Promise<number> {
    const now = this.clock.now();
    const due = await this.store.dueRooms(now, 64);
    for (const roomId of due) {
      if (this.ticking.has(roomId)) continue;
      this.ticking.add(roomId);
      const work = this.transition(roomId, { type: 'tick', at: now }, true)
        .catch((err: unknown) => {
          if (this.store.up)
            this.log.warn({ room: roomId, err: String(err) }, 'a due room could not be ticked');
        })
        .finally(() => this.ticking.delete(roomId));
      this.track(work);
    }
    if (due.length === 64) return 0;
    const next = await this.store.nextDeadline();
    if (next === null) return POLL_MAX_MS;
    // A due room still being ticked (or failing to) must not make this loop spin.
    const floor = next <= this.clock.now() ? POLL_BUSY_MS : 1;
    return Math.min(POLL_MAX_MS, Math.max(floor, next - this.clock.now()));
  }

  /** Evicts the users of processes whose liveness key expired, then forgets those processes. */
  private async reap(): Promise<void> {
    const dead = (await this.store.deadProcs()).filter((proc) => proc !== this.procId);
    for (const proc of dead) {
      const rooms = await this.store.roomsOf(proc);
      for (const roomId of rooms) {
        await this.transition(roomId, { type: 'evict', prefix: `${proc}:`, at: this.clock.now() });
      }
      await this.store.forget(proc);
      if (rooms.length > 0)
        this.log.warn({ proc, rooms: rooms.length }, 'evicted the users of a dead process');
    }
  }

  /**
   * The store is back: beat at once, then check every bound connection's membership. A store
   * that lost its data (restarted empty) lost their rooms: those connections are closed (1001) so
   * their clients reconnect and join again, instead of lingering unbound without knowing it.
   */
  private async recover(): Promise<void> {
    await this.beat();
    const byRoom = new Map<string, EdgeConn[]>();
    for (const conn of this.conns.values()) {
      if (conn.binding === null || conn.closed) continue;
      const list = byRoom.get(conn.binding.roomId);
      if (list === undefined) byRoom.set(conn.binding.roomId, [conn]);
      else list.push(conn);
    }
    for (const [roomId, conns] of byRoom) {
      const load = await this.store.load(roomId);
      const doc = load.room === null ? null : (JSON.parse(load.room.doc) as RoomDoc);
      for (const conn of conns) {
        const member = doc?.members.find((m) => m.userId === conn.binding?.userId);
        if (member?.conn === conn.id) continue;
        this.bind(conn, null);
        this.serverClose(conn, CLOSE_CODES.goingAway, 'cluster state lost; reconnect and join again');
      }
      // The cached version may be ahead of a store that restarted empty: start over from the load.
      this.cache.delete(roomId);
      if (doc?.live === true && load.room !== null) this.apply(roomId, load.room.version, doc, []);
    }
    this.log.info({ connections: this.conns.size }, 'cluster store reachable again');
  }

  private mergedState() {
    const merged = createState(this.config, this.clock.now());
    for (const [roomId, { doc }] of this.cache) {
      const { state } = loadRoom(this.config, roomId, doc);
      for (const [id, room] of state.rooms) merged.rooms.set(id, room);
      for (const [id, conn] of state.conns) if (procOf(id) === this.procId) merged.conns.set(id, conn);
    }
    return merged;
  }
}

function procOf(conn: ConnId): string {
  const colon = conn.indexOf(':');
  return colon < 0 ? conn : conn.slice(0, colon);
}

function procsOf(doc: RoomDoc | null): Set<string> {
  const procs = new Set<string>();
  if (doc === null) return procs;
  for (const member of doc.members) if (member.conn !== null) procs.add(procOf(member.conn));
  return procs;
}

function cameraField(userId: string, planetId: string): string {
  return `${userId}\u0000${planetId}`;
}

function cameraFrom(stored: string | undefined, vid: number): CameraState | null {
  if (stored === undefined) return null;
  try {
    const entry = JSON.parse(stored) as { vid: number; camera: CameraState };
    return entry.vid === vid ? entry.camera : null;
  } catch {
    return null;
  }
}

function refusal(
  op: string,
  code: ErrorMessage['code'],
  message: string,
  rid: ErrorMessage['rid'],
): ErrorMessage {
  const error: ErrorMessage = { type: 'error', ok: false, op, code, message };
  if (rid !== undefined) error.rid = rid;
  return error;
}

function internalText(err: unknown): string {
  if (err instanceof ClusterUnavailableError) return 'the cluster store is unreachable; try again shortly';
  return `the room could not be changed: ${err instanceof Error ? err.message : String(err)}`;
}

/** How long a store call may take before it counts as the store being unreachable. */
const STORE_TIMEOUT_MS = 5000;

/** A store call that rejects after STORE_TIMEOUT_MS (a Redis that stopped answering). */
function timed<T>(call: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the store did not answer within ${STORE_TIMEOUT_MS} ms`)),
      STORE_TIMEOUT_MS,
    );
  });
  return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
