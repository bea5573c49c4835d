// A model of room-core far simpler than the core: which connections are open and whom they
// speak for, who is in which room, who selects which planet until when, who views which planet.
// It has no heap and no lazy re-arming: moving to time T drops, in one sweep, everything whose
// deadline is ≤ T (the outcome does not depend on the order, since no two deadlines touch the
// same thing). For every frame it predicts the one answer the core must give.

export interface ModelConfig {
  readonly selectionMode: 'exclusive' | 'shared';
  readonly lockTtlMs: number;
  readonly presenceTimeoutMs: number;
  readonly reconnectGraceMs: number;
  readonly maxRoomUsers: number;
  readonly maxViewedPlanets: number;
  readonly joinTimeoutMs: number;
  readonly cameraMinIntervalMs: number;
  readonly cameraRateMax: number;
  readonly rateLimitMax: number;
  readonly rateLimitWindowMs: number;
}

export type MalformedKind =
  | 'bad_json'
  | 'not_object'
  | 'no_type'
  | 'unknown_type'
  | 'bad_shape'
  | 'extra_key'
  | 'bad_camera';

/** A client frame, before it is written as JSON text. `user` is the userId the frame claims. */
export type FrameSpec =
  | { type: 'join'; room: string; user: string; name?: string; resumeToken?: string }
  | { type: 'leave'; user: string }
  | { type: 'select' | 'unselect' | 'join_viewer' | 'leave_viewer'; user: string; planet: string }
  | { type: 'camera'; user: string; planet: string; x: number }
  | { type: 'heartbeat'; user: string; ts: number }
  | { type: 'malformed'; kind: MalformedKind; user: string; planet: string };

/** What the sender of a frame must get. */
export type Expected =
  | { kind: 'ignored' }
  | { kind: 'silent' }
  | { kind: 'ack'; op: string }
  | { kind: 'conflict'; planet: string; lockedBy: string; expiresAt: number }
  | { kind: 'error'; code: string; op?: string };

export interface FrameOutcome {
  readonly expected: Expected;
  /** A join that granted the user a fresh resume token. */
  readonly freshToken: boolean;
  /** A select that granted a new lock (not a renewal). */
  readonly granted: boolean;
  /** The connection a takeover replaced: it gets SESSION_REPLACED and is closed with 4001. */
  readonly replaced: string | null;
}

export interface MConn {
  readonly id: string;
  /** The user whose client opened it; every command picks connections by this. */
  readonly owner: string;
  open: boolean;
  room: string | null;
  unboundSince: number;
  /** Times of frames the core charged to each budget, to keep runs inside the rate limits. */
  readonly cameraFrames: number[];
  readonly otherFrames: number[];
}

export interface MMember {
  readonly user: string;
  readonly joinedAt: number;
  conn: string | null;
  lastSeen: number;
  graceUntil: number | null;
  token: string;
  name: string | undefined;
  selection: { planet: string; expiresAt: number; fence: number | null } | null;
  readonly viewing: Set<string>;
}

export type CloseCode = 4001 | 4002 | 4008;

export class Model {
  /** The clock reading; the core only learns it at the next step. */
  clock: number;
  readonly conns = new Map<string, MConn>();
  readonly rooms = new Map<string, Map<string, MMember>>();

  constructor(
    readonly config: ModelConfig,
    start: number,
  ) {
    this.clock = start;
  }

  openConn(owner: string): string {
    const n = [...this.conns.values()].filter((c) => c.owner === owner).length;
    const id = `${owner}#${n}`;
    this.conns.set(id, {
      id,
      owner,
      open: true,
      room: null,
      unboundSince: this.clock,
      cameraFrames: [],
      otherFrames: [],
    });
    return id;
  }

  /** The open connections of a user (or all of them, closed ones included), oldest first. */
  connsOf(owner: string, includeClosed: boolean): MConn[] {
    return [...this.conns.values()].filter((c) => c.owner === owner && (includeClosed || c.open));
  }

  member(room: string, user: string): MMember | undefined {
    return this.rooms.get(room)?.get(user);
  }

  /** Applies every deadline due at or before `at`; returns the connections the core must close. */
  advanceTo(at: number): [string, CloseCode][] {
    const { presenceTimeoutMs, joinTimeoutMs } = this.config;
    const closes: [string, CloseCode][] = [];
    for (const [roomId, members] of [...this.rooms]) {
      for (const member of [...members.values()]) {
        if (member.conn !== null && member.lastSeen + presenceTimeoutMs <= at) {
          const conn = this.conns.get(member.conn)!;
          conn.open = false;
          conn.room = null;
          closes.push([conn.id, 4008]);
          this.remove(roomId, member);
        } else if (member.conn === null && member.graceUntil! <= at) {
          this.remove(roomId, member);
        } else if (member.selection !== null && member.selection.expiresAt <= at) {
          member.selection = null;
        }
      }
    }
    for (const conn of this.conns.values()) {
      if (conn.open && conn.room === null && conn.unboundSince + joinTimeoutMs <= at) {
        conn.open = false;
        closes.push([conn.id, 4002]);
      }
    }
    return closes;
  }

  /** Whether a frame on `connId` stays within both rate budgets (the runs never test them). */
  withinBudgets(connId: string, camera: boolean): boolean {
    const conn = this.conns.get(connId);
    if (conn === undefined || !conn.open) return true;
    const { cameraRateMax, rateLimitMax, rateLimitWindowMs } = this.config;
    const [times, windowMs, max] = camera
      ? [conn.cameraFrames, 1000, cameraRateMax]
      : [conn.otherFrames, rateLimitWindowMs, rateLimitMax];
    return times.filter((t) => t > this.clock - windowMs).length < max - 1;
  }

  /** The socket closed by itself: the user leaves, or waits out the reconnect grace. */
  close(connId: string, kind: 'network' | 'other'): void {
    const conn = this.conns.get(connId);
    if (conn === undefined || !conn.open) return;
    conn.open = false;
    const roomId = conn.room;
    if (roomId === null) return;
    const member = this.member(roomId, conn.owner)!;
    conn.room = null;
    if (kind === 'network' && this.config.reconnectGraceMs > 0) {
      member.conn = null;
      member.graceUntil = this.clock + this.config.reconnectGraceMs;
    } else {
      this.remove(roomId, member);
    }
  }

  frame(connId: string, spec: FrameSpec, token: string): FrameOutcome {
    const outcome = (expected: Expected, extra: Partial<FrameOutcome> = {}): FrameOutcome => ({
      expected,
      freshToken: false,
      granted: false,
      replaced: null,
      ...extra,
    });
    const conn = this.conns.get(connId);
    if (conn === undefined || !conn.open) return outcome({ kind: 'ignored' });
    const camera = spec.type === 'camera' || (spec.type === 'malformed' && spec.kind === 'bad_camera');
    (camera ? conn.cameraFrames : conn.otherFrames).push(this.clock);
    if (spec.type === 'malformed') return outcome(malformedError(spec.kind));
    if (spec.type === 'join') return this.join(conn, spec, token, outcome);
    const op = spec.type;
    if (conn.room === null) return outcome({ kind: 'error', code: 'NOT_JOINED', op });
    if (spec.user !== conn.owner) return outcome({ kind: 'error', code: 'USER_MISMATCH', op });
    const member = this.member(conn.room, conn.owner)!;
    member.lastSeen = this.clock;
    const ack = outcome({ kind: 'ack', op });
    switch (spec.type) {
      case 'leave':
        this.remove(conn.room, member);
        return ack;
      case 'heartbeat':
        this.renew(member);
        return ack;
      case 'select':
        return this.select(conn.room, member, spec.planet, outcome);
      case 'unselect':
        if (member.selection?.planet !== spec.planet)
          return outcome({ kind: 'error', code: 'NOT_SELECTED', op });
        member.selection = null;
        return ack;
      case 'join_viewer':
        if (!member.viewing.has(spec.planet) && member.viewing.size >= this.config.maxViewedPlanets) {
          return outcome({ kind: 'error', code: 'LIMIT_EXCEEDED', op });
        }
        member.viewing.add(spec.planet);
        return ack;
      case 'leave_viewer':
        if (!member.viewing.delete(spec.planet)) return outcome({ kind: 'error', code: 'NOT_VIEWING', op });
        return ack;
      case 'camera':
        return member.viewing.has(spec.planet)
          ? outcome({ kind: 'silent' })
          : outcome({ kind: 'error', code: 'NOT_VIEWING', op });
    }
  }

  private join(
    conn: MConn,
    spec: Extract<FrameSpec, { type: 'join' }>,
    token: string,
    outcome: (e: Expected, extra?: Partial<FrameOutcome>) => FrameOutcome,
  ): FrameOutcome {
    const ack: Expected = { kind: 'ack', op: 'join' };
    if (conn.room !== null) {
      if (conn.room !== spec.room) return outcome({ kind: 'error', code: 'ALREADY_JOINED', op: 'join' });
      const member = this.member(conn.room, conn.owner)!;
      member.lastSeen = this.clock;
      member.name = spec.name;
      return outcome(ack);
    }
    const existing = this.member(spec.room, spec.user);
    if (existing !== undefined) {
      if (spec.resumeToken !== existing.token)
        return outcome({ kind: 'error', code: 'FORBIDDEN', op: 'join' });
      const replaced = existing.conn;
      if (replaced !== null) {
        const old = this.conns.get(replaced)!;
        old.open = false;
        old.room = null;
      }
      existing.conn = conn.id;
      existing.graceUntil = null;
      existing.lastSeen = this.clock;
      existing.name = spec.name;
      existing.token = token;
      conn.room = spec.room;
      return outcome(ack, { freshToken: true, replaced });
    }
    const members = this.rooms.get(spec.room);
    if (members !== undefined && members.size >= this.config.maxRoomUsers) {
      return outcome({ kind: 'error', code: 'ROOM_FULL', op: 'join' });
    }
    const room = members ?? new Map<string, MMember>();
    this.rooms.set(spec.room, room);
    room.set(spec.user, {
      user: spec.user,
      joinedAt: this.clock,
      conn: conn.id,
      lastSeen: this.clock,
      graceUntil: null,
      token,
      name: spec.name,
      selection: null,
      viewing: new Set(),
    });
    conn.room = spec.room;
    return outcome(ack, { freshToken: true });
  }

  private select(
    roomId: string,
    member: MMember,
    planet: string,
    outcome: (e: Expected, extra?: Partial<FrameOutcome>) => FrameOutcome,
  ): FrameOutcome {
    if (member.selection?.planet === planet) {
      this.renew(member);
      return outcome({ kind: 'ack', op: 'select' });
    }
    const exclusive = this.config.selectionMode === 'exclusive';
    const holder = [...this.rooms.get(roomId)!.values()].find((m) => m.selection?.planet === planet);
    if (exclusive && holder !== undefined) {
      return outcome({
        kind: 'conflict',
        planet,
        lockedBy: holder.user,
        expiresAt: holder.selection!.expiresAt,
      });
    }
    // The fence is learnt from the ack (the driver checks that it only grows).
    member.selection = { planet, expiresAt: this.clock + this.config.lockTtlMs, fence: null };
    return outcome({ kind: 'ack', op: 'select' }, { granted: true });
  }

  private renew(member: MMember): void {
    if (member.selection !== null) member.selection.expiresAt = this.clock + this.config.lockTtlMs;
  }

  /** A member leaves as by `leave`: its connection, if still open, becomes unbound. */
  private remove(roomId: string, member: MMember): void {
    const room = this.rooms.get(roomId)!;
    room.delete(member.user);
    if (room.size === 0) this.rooms.delete(roomId);
    if (member.conn !== null) {
      const conn = this.conns.get(member.conn)!;
      conn.room = null;
      conn.unboundSince = this.clock;
    }
  }
}

function malformedError(kind: MalformedKind): Expected {
  switch (kind) {
    case 'bad_json':
      return { kind: 'error', code: 'BAD_JSON' };
    case 'not_object':
    case 'no_type':
      return { kind: 'error', code: 'BAD_MESSAGE' };
    case 'unknown_type':
      return { kind: 'error', code: 'UNKNOWN_TYPE' };
    case 'bad_shape':
      return { kind: 'error', code: 'BAD_MESSAGE', op: 'select' };
    case 'extra_key':
      return { kind: 'error', code: 'BAD_MESSAGE', op: 'heartbeat' };
    case 'bad_camera':
      return { kind: 'error', code: 'BAD_MESSAGE', op: 'camera' };
  }
}
