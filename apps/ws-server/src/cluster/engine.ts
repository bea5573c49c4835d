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

import type { CameraState, ClientMessage, ErrorMessage, ServerMessage } from '@exo/protocol';
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
      /** The room's new document for processes that hold members after the step, else null. */
      readonly doc: RoomDoc | null;
      readonly fx: readonly RoomItem[];
      readonly ticket?: string;
    }
  | { readonly k: 'cam'; readonly to: readonly ConnId[]; readonly msg: ServerMessage };

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
  joinTimer: NodeJS.Timeout | null;
  /** Joins received but not yet applied: a join that arrived in time is applied before the timeout. */
  joinsInFlight: number;
  /** The join timeout came due while a join was in flight: decided when the last one finishes. */
  joinDue: boolean;
  authTimer: NodeJS.Timeout | null;
  readonly cams: Map<string, Throttle>;
  /** Camera-only activity is pushed to the room's lastSeen at most once per window. */
  lastSeen: number;
  seenPushedAt: number;
  seenTimer: NodeJS.Timeout | null;
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
const MAX_TIMER_MS = 2 ** 31 - 1;
/** A drain keeps users at least this long (CONTRACT §4): a rolling restart releases no lock. */
const DRAIN_GRACE_MS = 15_000;
/** A close code for connections whose room the store lost (e.g. Redis restarted empty). */
const STATE_LOST = 1012;

export class ClusterUnavailableError extends Error {
  override readonly name = 'ClusterUnavailableError';
}

export class ClusterEngine {
  private sink: (effects: Effect[]) => void = () => {};
  private readonly conns = new Map<ConnId, EdgeConn>();
  /** Chains of work per connection (frames, closes), so each connection's frames run in order. */
  private readonly chains = new Map<ConnId, Promise<void>>();
  private readonly cache = new Map<string, CachedRoom>();
  /** Per room, the tail of this process's transitions: they never clash with each other. */
  private readonly roomTails = new Map<string, Promise<unknown>>();
  private readonly tickets = new Map<string, (delivered: boolean) => void>();
  private readonly ticking = new Set<string>();
  private readonly background = new Set<Promise<unknown>>();
  private nextTicket = 0;
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
    await this.store.beat(this.procId, this.livenessTtlMs);
    const beatEvery = Math.floor(this.livenessTtlMs / 3);
    this.beatTimer = setInterval(() => {
      this.store.beat(this.procId, this.livenessTtlMs).catch(() => {});
    }, beatEvery);
    this.reapTimer = setInterval(() => this.track(this.reap()), beatEvery);
    this.store.onStatus((up) => {
      if (up && !this.stopped) this.track(this.recover());
    });
    this.schedulePoll(0);
  }

  /** Where effects go: the socket hub's `run`. */
  attach(sink: (effects: Effect[]) => void): void {
    this.sink = sink;
  }

  get ready(): boolean {
    return this.store.up;
  }

  /** From now on a 1001 close keeps its user for max(RECONNECT_GRACE_MS, 15 s). */
  drain(): void {
    this.draining = true;
  }

  /** Waits for queued work (closes of a drain included), then stops the loops. */
  async stop(timeoutMs = 5000): Promise<void> {
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
      joinTimer: null,
      joinsInFlight: 0,
      joinDue: false,
      authTimer: null,
      cams: new Map(),
      lastSeen: 0,
      seenPushedAt: Number.NEGATIVE_INFINITY,
      seenTimer: null,
    };
    this.conns.set(id, conn);
    this.armJoinTimeout(conn);
    if (auth?.expiresAt !== undefined) {
      const delay = Math.min(Math.max(0, auth.expiresAt - this.clock.now()), MAX_TIMER_MS);
      conn.authTimer = setTimeout(
        () => this.serverClose(conn, CLOSE_CODES.authExpired, 'credential expired'),
        delay,
      );
    }
    return [];
  }

  frame(id: ConnId, input: Parameters<typeof admit>[2]): Effect[] {
    const conn = this.conns.get(id);
    if (conn === undefined || conn.closed) return [];
    const at = this.clock.now();
    const admission = admit(this.config, conn.budgets, input, at);
    switch (admission.kind) {
      case 'drop':
        break;
      case 'flood':
        this.serverClose(conn, CLOSE_CODES.flooding, admission.reason);
        break;
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
    if (conn !== undefined) this.release(conn, kind);
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
    if (msg.type === 'camera') return this.camera(conn, msg, rateWait, at);
    const binding = conn.binding;
    if (msg.type === 'join') {
      if (binding !== null && binding.roomId !== msg.roomId) {
        const text = `already joined room ${binding.roomId}; send leave first`;
        return this.answer(conn, refusal('join', 'ALREADY_JOINED', text, msg.rid));
      }
    } else if (binding === null) {
      return this.answer(conn, refusal(msg.type, 'NOT_JOINED', `send join before ${msg.type}`, msg.rid));
    }
    const roomId = msg.type === 'join' ? msg.roomId : binding!.roomId;
    const command: RoomCommand = {
      type: 'message',
      conn: conn.id,
      at,
      message: msg,
      authUserId: conn.authUserId,
      ...(msg.type === 'join' ? { token: this.options.tokens.next() } : {}),
    };
    try {
      await this.transition(roomId, command);
    } catch (err) {
      this.answer(conn, refusal(msg.type, 'INTERNAL', internalText(err), msg.rid));
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
      this.relay(binding, conn.id, msg.planetId, vid, msg.camera);
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
          this.relay(now, conn.id, msg.planetId, t.vid, pending);
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

  private relay(
    binding: RoomBinding,
    from: ConnId,
    planetId: string,
    vid: number,
    camera: CameraState,
  ): void {
    const room = this.cache.get(binding.roomId);
    if (room === undefined) return;
    const message: ServerMessage = { type: 'camera', planetId, camera, userId: binding.userId };
    const byProc = new Map<string, ConnId[]>();
    const viewers = room.doc.viewers.find(([p]) => p === planetId)?.[1] ?? [];
    for (const userId of viewers) {
      const to = room.members.get(userId)?.conn;
      if (to == null || to === from) continue;
      const list = byProc.get(procOf(to));
      if (list === undefined) byProc.set(procOf(to), [to]);
      else list.push(to);
    }
    const local = byProc.get(this.procId);
    if (local !== undefined) this.sink([{ type: 'send', to: local, message }]);
    const publish: Publication[] = [];
    for (const [proc, to] of byProc) {
      if (proc !== this.procId)
        publish.push({ proc, payload: JSON.stringify({ k: 'cam', to, msg: message }) });
    }
    const write = {
      roomId: binding.roomId,
      field: cameraField(binding.userId, planetId),
      value: JSON.stringify({ vid, camera }),
      ttlMs: this.roomTtlMs,
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
    // The publication never came (the subscriber lost its connection): apply what concerns us.
    this.log.warn({ room: roomId }, 'a room step was committed but its messages were not received');
    this.apply(roomId, committed.version, committed.transition.doc, []);
    for (const [id, binding] of committed.transition.bindings)
      this.rebind(id, roomId, binding?.userId ?? null);
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
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      let load: Awaited<ReturnType<RoomStore['load']>>;
      try {
        load = await this.store.load(roomId);
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
          otherRooms: load.roomCount - (before?.live === true ? 1 : 0),
        },
        command,
      );
      const version = load.room?.version ?? 0;
      if (!transition.changed && !(force && load.room === null)) {
        if (before !== null) this.apply(roomId, version, before, []);
        return null;
      }
      const ticket = `${this.procId}:${++this.nextTicket}`;
      const publish = this.route(roomId, version + 1, before, transition, ticket);
      const ours = publish.some((p) => p.proc === this.procId);
      const delivered = ours ? this.expect(ticket) : null;
      let result: Awaited<ReturnType<RoomStore['commit']>>;
      try {
        result = await this.store.commit({
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
        });
      } catch (err) {
        this.tickets.delete(ticket);
        this.options.observer?.unavailable();
        throw new ClusterUnavailableError(String(err));
      }
      if (result === 'ok') return { version: version + 1, transition, delivered };
      this.tickets.delete(ticket);
      this.options.observer?.clash();
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
        doc: holders.has(proc) ? transition.doc : null,
        fx: items.get(proc) ?? [],
        ...(proc === this.procId ? { ticket } : {}),
      } satisfies Payload),
    }));
  }

  private expect(ticket: string): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.tickets.delete(ticket);
        resolve(false);
      }, TICKET_TIMEOUT_MS);
      this.tickets.set(ticket, (delivered) => {
        clearTimeout(timer);
        resolve(delivered);
      });
    });
  }

  // Publications to this process.

  private onPayload(raw: string): void {
    let payload: Payload;
    try {
      payload = JSON.parse(raw) as Payload;
    } catch {
      this.log.error({}, 'unreadable cluster message');
      return;
    }
    if (payload.k === 'cam') {
      this.sink([{ type: 'send', to: payload.to, message: payload.msg }]);
      return;
    }
    const effects: Effect[] = [];
    for (const item of payload.fx) {
      if (item[0] === 'b') this.rebind(item[1], payload.room, item[2]);
      else if (item[0] === 's') effects.push({ type: 'send', to: item[1], message: item[2] });
      else effects.push({ type: 'close', conn: item[1], code: item[2] as CloseCode, reason: item[3] });
    }
    this.apply(payload.room, payload.v, payload.doc, effects);
    if (payload.ticket !== undefined) {
      const resolve = this.tickets.get(payload.ticket);
      this.tickets.delete(payload.ticket);
      resolve?.(true);
    }
  }

  /** Updates the cached room (newer versions only) and carries out effects for our connections. */
  private apply(roomId: string, version: number, doc: RoomDoc | null, effects: Effect[]): void {
    const cached = this.cache.get(roomId);
    if (cached === undefined || version > cached.v) {
      if (doc === null || !doc.live || !procsOf(doc).has(this.procId)) this.cache.delete(roomId);
      else
        this.cache.set(roomId, { v: version, doc, members: new Map(doc.members.map((m) => [m.userId, m])) });
    }
    if (effects.length > 0) this.sink(effects);
  }

  private rebind(id: ConnId, roomId: string, userId: string | null): void {
    const conn = this.conns.get(id);
    if (conn === undefined) return;
    if (userId !== null) {
      conn.binding = { roomId, userId };
      if (conn.joinTimer !== null) clearTimeout(conn.joinTimer);
      conn.joinTimer = null;
      conn.joinDue = false;
    } else if (conn.binding?.roomId === roomId) {
      conn.binding = null;
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
        () => this.schedulePoll(POLL_MAX_MS),
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
      const work = this.transition(roomId, { type: 'tick', at: now }, true).finally(() =>
        this.ticking.delete(roomId),
      );
      this.track(work);
    }
    if (due.length === 64) return 0;
    const next = await this.store.nextDeadline();
    if (next === null) return POLL_MAX_MS;
    return Math.min(POLL_MAX_MS, Math.max(1, next - this.clock.now()));
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
   * that lost its data (restarted empty) lost their rooms: those connections are closed (1012) so
   * their clients reconnect and join again, instead of lingering unbound without knowing it.
   */
  private async recover(): Promise<void> {
    await this.store.beat(this.procId, this.livenessTtlMs);
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
        conn.binding = null;
        this.serverClose(conn, STATE_LOST, 'cluster state lost; reconnect and join again');
      }
      if (doc === null || !doc.live) this.cache.delete(roomId);
      else if (load.room !== null) this.apply(roomId, load.room.version, doc, []);
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
