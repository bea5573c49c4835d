// applyRoom is the single-process core, cut along room lines (docs/design/cluster-mode.md, option A).
// Random command sequences run (a) through RoomEngine with a manual clock and counting tokens and
// (b) through a small cluster simulation: each room a JSON document in a Map (stringified after
// every step and parsed before the next, so a room survives only what JSON keeps), written only
// when a step says `changed`; each connection an edge record (rate budgets through `admit`, the
// binding learned from `bindings`, the join timeout); a poller that ticks each room at the
// `nextDeadline` it reported. Both must produce the same effects for every command.
//
// "The same" means what a client can observe. Within each room (and for the room-less answers and
// closes) the effects are compared in order, message by message, recipient list by recipient list.
// Three things are left free, each because the contract promises nothing there and one process and
// a cluster cannot agree on them without a shared clock of steps:
// - the interleaving of different rooms' effects when their deadlines fall on the same millisecond
//   (one process flushes them in one batch; a cluster ticks each room by itself);
// - the order of closes of different sockets within one batch (presence expiries of two members due
//   at the same millisecond pop in heap order, which a loaded room rebuilds in member order);
// - the base of a room's seq: one process starts a (re-)created room above every removed room's
//   seq (one global floor), a cluster above that room's own tombstone. Within one life of a room
//   the two differ by a constant, checked per room incarnation; each keeps the room's seq rising.
// A re-created room's document also carries the removed room's fences, which one process keeps aside
// in retiredFences; compareState checks both places hold the same fences.
// Cameras are left out: they are throttled at the edge and never pass through applyRoom.

import { type ErrorMessage, type ParseResult, parseClientMessage, type Rid } from '@exo/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  admit,
  applyRoom,
  type CloseKind,
  type ConnId,
  type CoreConfig,
  type CoreState,
  CountingTokens,
  createBudgets,
  type Effect,
  type FrameBudgets,
  inspect,
  loadRoom,
  ManualClock,
  type RoomBinding,
  type RoomCommand,
  type RoomDoc,
  RoomEngine,
  type RoomTransition,
  resolveConfig,
} from '../index.js';
import type { Room } from '../state.js';

const START = 1_000_000;
const NUM_RUNS = Number(process.env.FC_NUM_RUNS ?? 250);
const MAX_OPS = 100;

const USERS = ['u0', 'u1', 'u2', 'u3'] as const;
/** A planet placeholder: one another member of the sender's room selects (p1 if none). */
const HELD = '<held>';

// Lock TTL, presence timeout, grace and join timeout are short next to the time steps below, so
// runs cross every one of them; rate limits vary from tight (RATE_LIMITED and 1008 floods happen)
// to loose.
const BASE: Partial<CoreConfig> = {
  lockTtlMs: 1000,
  presenceTimeoutMs: 5000,
  joinTimeoutMs: 2000,
  maxViewedPlanets: 2,
  rateLimitWindowMs: 1000,
  cameraRateMax: 5,
};

// ---------------------------------------------------------------------------------------------
// Operations. Which connection a frame uses, the user it speaks for and the resume token it
// carries are resolved when it runs, from the single-process engine's state, so shrinking keeps
// them meaningful; both sides then receive the same frame text.

interface ConnPick {
  readonly n: number;
  /** Bound or unbound ones (else any open one), open ones, or any ever opened (closed ones too). */
  readonly among: 'bound' | 'unbound' | 'open' | 'stale';
}

type JoinSpec = {
  readonly kind: 'join';
  /**
   * random: room and user as drawn; newcomer: the first user from `user` on not in the room yet;
   * self: the connection's own room and user; present: a member of some room.
   */
  readonly target: 'random' | 'newcomer' | 'self' | 'present';
  readonly room: string;
  readonly user: string;
  readonly n: number;
  readonly resume: 'none' | 'current' | 'wrong';
  readonly name: string | undefined;
  readonly color: string | undefined;
  readonly rid: Rid | undefined;
};

type OpSpec = {
  readonly kind: 'op';
  readonly type: 'select' | 'unselect' | 'join_viewer' | 'leave_viewer' | 'heartbeat' | 'leave';
  readonly planet: string;
  /** 'self': the connection's user (u0 when unbound); else a claim to be another user. */
  readonly as: string;
  readonly rid: Rid | undefined;
};

type FrameSpec = JoinSpec | OpSpec | { readonly kind: 'raw'; readonly text: string };

type Op =
  | { readonly dt: number; readonly kind: 'open' | 'tick' }
  | {
      readonly dt: number;
      readonly kind: 'close';
      readonly pick: ConnPick;
      readonly how: CloseKind;
      readonly graceMs: number | null;
    }
  | { readonly dt: number; readonly kind: 'frame'; readonly pick: ConnPick; readonly frame: FrameSpec }
  /** The same frame `times` times in one millisecond: rate limits and floods. */
  | {
      readonly dt: number;
      readonly kind: 'burst';
      readonly pick: ConnPick;
      readonly frame: FrameSpec;
      readonly times: number;
    }
  /**
   * In one millisecond: select, leave, join the same room again as the same user, select again. Alone
   * in the room, the user removes and re-creates it: the re-grant must get a larger fence.
   */
  | { readonly dt: number; readonly kind: 'rejoin'; readonly pick: ConnPick; readonly planet: string };

const w = <T>(weight: number, arbitrary: fc.Arbitrary<T>) => ({ weight, arbitrary });
const rid: fc.Arbitrary<Rid | undefined> = fc.option(fc.oneof(fc.constantFrom('a', 'b'), fc.nat(9)), {
  nil: undefined,
});

const joinArb: fc.Arbitrary<FrameSpec> = fc.record({
  kind: fc.constant('join' as const),
  target: fc.constantFrom('random', 'random', 'newcomer', 'newcomer', 'self', 'present'),
  room: fc.constantFrom('r0', 'r0', 'r0', 'r0', 'r1', 'r2'),
  user: fc.constantFrom(...USERS),
  n: fc.nat(7),
  resume: fc.constantFrom('none', 'none', 'current', 'current', 'wrong'),
  name: fc.option(fc.constantFrom('Ann', 'Bo'), { nil: undefined }),
  color: fc.option(fc.constantFrom('#abc', '#A0B0C0'), { nil: undefined }),
  rid,
});

const opArb: fc.Arbitrary<FrameSpec> = fc.record({
  kind: fc.constant('op' as const),
  type: fc.constantFrom(
    'select',
    'select',
    'select',
    'unselect',
    'join_viewer',
    'join_viewer',
    'leave_viewer',
    'heartbeat',
    'heartbeat',
    'leave',
  ),
  planet: fc.constantFrom('p0', 'p0', 'p1', '__proto__', HELD, HELD),
  as: fc.oneof(w(6, fc.constant('self')), w(1, fc.constantFrom(...USERS))),
  rid,
});

const rawArb: fc.Arbitrary<FrameSpec> = fc
  .constantFrom(
    '{',
    '[]',
    '{"type":7}',
    '{"type":"dance","rid":"x"}',
    '{"type":"select","userId":"u0"}',
    '{"type":"heartbeat","userId":"u1","ts":1,"extra":true}',
    '{"type":"join","roomId":"r0","user":{"userId":"bad id"}}',
  )
  .map((text) => ({ kind: 'raw' as const, text }));

const pickArb = (bound: number, unbound: number): fc.Arbitrary<ConnPick> =>
  fc.record({
    n: fc.nat(7),
    among: fc.oneof(
      w(bound, fc.constant('bound' as const)),
      w(unbound, fc.constant('unbound' as const)),
      w(2, fc.constant('open' as const)),
      w(1, fc.constant('stale' as const)),
    ),
  });
/** Joins mostly come from unbound connections, other frames mostly from bound ones. */
const joinPick = pickArb(2, 8);
const framePick = pickArb(10, 1);

const dtArb = fc.oneof(
  w(5, fc.constant(0)),
  w(6, fc.integer({ min: 1, max: 80 })),
  w(2, fc.integer({ min: 200, max: 1200 })),
  w(1, fc.integer({ min: 1500, max: 4000 })),
);

const anyOp: fc.Arbitrary<Op> = fc.oneof(
  w(
    5,
    dtArb.map((dt): Op => ({ dt, kind: 'open' })),
  ),
  w(
    1,
    dtArb.map((dt): Op => ({ dt, kind: 'tick' })),
  ),
  w(
    2,
    fc
      .record({
        dt: dtArb,
        pick: framePick,
        how: fc.constantFrom<CloseKind>('network', 'going_away', 'other'),
        graceMs: fc.oneof(w(3, fc.constant(null)), w(1, fc.constantFrom(0, 300, 2500))),
      })
      .map((o): Op => ({ ...o, kind: 'close' })),
  ),
  w(
    16,
    fc
      .oneof(
        w(7, fc.record({ dt: dtArb, pick: joinPick, frame: joinArb })),
        w(10, fc.record({ dt: dtArb, pick: framePick, frame: fc.oneof(w(10, opArb), w(1, rawArb)) })),
      )
      .map((o): Op => ({ ...o, kind: 'frame' })),
  ),
  w(
    1,
    fc
      .record({
        dt: dtArb,
        pick: framePick,
        frame: fc.oneof(opArb, rawArb),
        times: fc.integer({ min: 4, max: 16 }),
      })
      .map((o): Op => ({ ...o, kind: 'burst' })),
  ),
  w(
    1,
    fc
      .record({ dt: dtArb, pick: framePick, planet: fc.constantFrom('p0', 'p1') })
      .map((o): Op => ({ ...o, kind: 'rejoin' })),
  ),
);

const configArb: fc.Arbitrary<CoreConfig> = fc
  .record({
    selectionMode: fc.constantFrom('exclusive', 'exclusive', 'exclusive', 'shared'),
    maxRooms: fc.constantFrom(1, 2, 2, 2),
    maxRoomUsers: fc.constantFrom(2, 3),
    rateLimitMax: fc.constantFrom(4, 10, 60),
    reconnectGraceMs: fc.constantFrom(0, 500),
  })
  .map((c) => resolveConfig({ ...BASE, ...c }));

// Two connections are open from the start, so early frames have somewhere to go.
const scenarioArb = fc.record({
  config: configArb,
  ops: fc
    .array(anyOp, { maxLength: MAX_OPS, size: 'max' })
    .map((ops): Op[] => [{ dt: 0, kind: 'open' }, { dt: 0, kind: 'open' }, ...ops]),
});

function pickConn(state: CoreState, opened: number, pick: ConnPick): ConnId {
  if (pick.among === 'stale' || state.conns.size === 0) return `c${opened === 0 ? 0 : pick.n % opened}`;
  const open = [...state.conns.values()];
  const wanted =
    pick.among === 'bound'
      ? open.filter((c) => c.member !== null)
      : pick.among === 'unbound'
        ? open.filter((c) => c.member === null)
        : open;
  const among = wanted.length > 0 ? wanted : open;
  return among[pick.n % among.length]!.id;
}

/** The frame text a spec stands for on `conn`, given the engine's state before the command. */
function frameText(spec: FrameSpec, conn: ConnId, state: CoreState): string {
  const member = state.conns.get(conn)?.member ?? null;
  switch (spec.kind) {
    case 'raw':
      return spec.text;
    case 'op': {
      const userId = spec.as === 'self' ? (member?.userId ?? 'u0') : spec.as;
      // unselect and leave_viewer mostly name what the user selects or views, to reach the rule.
      const viewed = member === null ? undefined : [...member.viewing.keys()][0];
      const held = [...(member?.room.selected ?? [])].find(([, users]) => !users.has(userId))?.[0];
      const planet = spec.planet === HELD ? (held ?? 'p1') : spec.planet;
      const planetId =
        spec.type === 'unselect'
          ? (member?.selection?.planetId ?? planet)
          : spec.type === 'leave_viewer'
            ? (viewed ?? planet)
            : planet;
      const base = { type: spec.type, userId, rid: spec.rid };
      if (spec.type === 'heartbeat') return JSON.stringify({ ...base, ts: 7 });
      if (spec.type === 'leave') return JSON.stringify(base);
      return JSON.stringify({ ...base, planetId });
    }
    case 'join': {
      let roomId = spec.room;
      let userId = spec.user;
      const members = [...state.rooms.values()].flatMap((r) => [...r.members.values()]);
      if (spec.target === 'self' && member !== null) {
        roomId = member.room.id;
        userId = member.userId;
      } else if (spec.target === 'newcomer') {
        const start = USERS.indexOf(spec.user as (typeof USERS)[number]);
        const order = USERS.map((_, i) => USERS[(start + i) % USERS.length]!);
        userId = order.find((u) => state.rooms.get(roomId)?.members.has(u) !== true) ?? spec.user;
      } else if (spec.target === 'present' && members.length > 0) {
        const target = members[spec.n % members.length]!;
        roomId = target.room.id;
        userId = target.userId;
      }
      const current = state.rooms.get(roomId)?.members.get(userId)?.resumeToken;
      const resumeToken =
        spec.resume === 'current' ? current : spec.resume === 'wrong' ? 'not-the-token' : undefined;
      const user = { userId, name: spec.name, color: spec.color };
      return JSON.stringify({ type: 'join', roomId, user, resumeToken, rid: spec.rid });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The cluster simulation.

interface EdgeConn {
  readonly budgets: FrameBudgets;
  binding: RoomBinding | null;
  /** Since when the connection is unbound (as the core's Conn.unboundSince). */
  unboundSince: number;
  /** When the join timeout was armed, in arming order: ties close first-armed first, like the heap. */
  armed: number;
}

/** An effect and the room life it came from (`room#n`), or null for the edge's own answers. */
interface Labelled {
  readonly effect: Effect;
  readonly life: string | null;
}

function error(op: string, code: ErrorMessage['code'], message: string, rid: Rid | undefined): ErrorMessage {
  const answer: ErrorMessage = { type: 'error', ok: false, code, message, op };
  if (rid !== undefined) answer.rid = rid;
  return answer;
}

class Cluster {
  /** The store: roomId → the room document as JSON. */
  readonly docs = new Map<string, string>();
  private readonly live = new Set<string>();
  /** The deadline index: roomId → the nextDeadline its last written step reported. */
  private readonly due = new Map<string, number>();
  readonly conns = new Map<ConnId, EdgeConn>();
  /** roomId → how many times it was created (the current life's number). */
  readonly lives = new Map<string, number>();
  /** (roomId, planetId) → the highest fence any document has shown. */
  private readonly fences = new Map<string, number>();
  private readonly tokens = new CountingTokens();
  private arming = 0;

  constructor(
    readonly config: CoreConfig,
    private readonly seen: Map<string, number>,
  ) {}

  open(conn: ConnId, at: number): Labelled[] {
    const out = this.applyDue(at);
    const budgets = createBudgets(this.config);
    this.conns.set(conn, { budgets, binding: null, unboundSince: at, armed: this.arming++ });
    return out;
  }

  tick(at: number): Labelled[] {
    return this.applyDue(at);
  }

  close(conn: ConnId, at: number, kind: CloseKind, graceMs: number | undefined): Labelled[] {
    const out = this.applyDue(at);
    const edge = this.conns.get(conn);
    if (edge === undefined) return out;
    this.conns.delete(conn);
    if (edge.binding !== null) {
      const command: RoomCommand =
        graceMs === undefined
          ? { type: 'close', conn, at, kind }
          : { type: 'close', conn, at, kind, graceMs };
      this.step(edge.binding.roomId, command, out);
    }
    return out;
  }

  frame(conn: ConnId, at: number, input: ParseResult): Labelled[] {
    // The engine draws a token for every decoded join it is handed; so does the edge.
    const token = input.ok && input.message.type === 'join' ? this.tokens.next() : undefined;
    const out = this.applyDue(at);
    const edge = this.conns.get(conn);
    if (edge === undefined) return out;
    const reply = (message: ErrorMessage) =>
      out.push({ effect: { type: 'send', to: [conn], message }, life: null });
    const admission = admit(this.config, edge.budgets, input, at);
    switch (admission.kind) {
      case 'answer':
        reply(admission.answer);
        return out;
      case 'drop':
        return out;
      case 'flood':
        this.conns.delete(conn);
        if (edge.binding !== null) {
          this.step(edge.binding.roomId, { type: 'close', conn, at, kind: 'other' }, out);
        }
        out.push({ effect: { type: 'close', conn, code: 1008, reason: admission.reason }, life: null });
        return out;
      case 'pass':
        break;
    }
    const message = admission.message;
    if (message.type === 'camera') throw new Error('cameras are an edge concern and are not generated');
    if (message.type === 'join') {
      const bound = edge.binding;
      if (bound !== null && bound.roomId !== message.roomId) {
        const text = `already joined room ${bound.roomId}; send leave first`;
        reply(error('join', 'ALREADY_JOINED', text, message.rid));
      } else {
        this.step(message.roomId, { type: 'message', conn, at, message, token: token! }, out);
      }
    } else if (edge.binding === null) {
      reply(error(message.type, 'NOT_JOINED', `send join before ${message.type}`, message.rid));
    } else {
      this.step(edge.binding.roomId, { type: 'message', conn, at, message }, out);
    }
    return out;
  }

  /** Live documents, parsed. */
  liveDocs(): RoomDoc[] {
    return [...this.live].map((id) => JSON.parse(this.docs.get(id)!) as RoomDoc);
  }

  /** The poller: every room deadline and join timeout due by `at`, in time order. */
  private applyDue(at: number): Labelled[] {
    const out: Labelled[] = [];
    for (;;) {
      let t = Number.POSITIVE_INFINITY;
      for (const d of this.due.values()) t = Math.min(t, d);
      for (const c of this.conns.values()) {
        if (c.binding === null) t = Math.min(t, c.unboundSince + this.config.joinTimeoutMs);
      }
      if (t > at) return out;
      for (const [roomId, d] of [...this.due]) {
        if (d !== t) continue;
        const transition = this.step(roomId, { type: 'tick', at: t }, out);
        // The room named this time: something is due then, so the tick must change the room.
        expect(transition.changed, `tick of ${roomId} at its nextDeadline ${t}`).toBe(true);
      }
      const expired = [...this.conns]
        .filter(([, c]) => c.binding === null && c.unboundSince + this.config.joinTimeoutMs === t)
        .sort((a, b) => a[1].armed - b[1].armed);
      for (const [conn] of expired) {
        this.conns.delete(conn);
        out.push({ effect: { type: 'close', conn, code: 4002, reason: 'no join in time' }, life: null });
      }
    }
  }

  /** One room step through the store: load (JSON), applyRoom, write if changed, deliver. */
  private step(roomId: string, command: RoomCommand, out: Labelled[]): RoomTransition {
    const stored = this.docs.get(roomId);
    const before = stored === undefined ? null : (JSON.parse(stored) as RoomDoc);
    const otherRooms = this.live.size - (this.live.has(roomId) ? 1 : 0);
    if (command.type === 'tick' && before !== null) this.countDue(before, command.at);
    const transition = applyRoom({ config: this.config, roomId, doc: before, otherRooms }, command);
    const text = JSON.stringify(transition.doc);
    // Nothing of the document is lost on its way through the store.
    expect(JSON.parse(text)).toEqual(transition.doc);
    const wasLive = before?.live === true;
    const life = (this.lives.get(roomId) ?? 0) + (wasLive ? 0 : 1);
    if (transition.changed) {
      this.checkDoc(before, transition.doc);
      this.docs.set(roomId, text);
      if (transition.doc.live) this.live.add(roomId);
      else this.live.delete(roomId);
      if (!wasLive && transition.doc.live) {
        this.lives.set(roomId, life);
        if (before !== null) this.seen.set('re-created room', (this.seen.get('re-created room') ?? 0) + 1);
      }
      if (transition.nextDeadline === null) this.due.delete(roomId);
      else this.due.set(roomId, transition.nextDeadline);
    } else {
      // Not written: the store keeps `before`, which must be all the step would have written.
      if (before !== null) expect({ ...transition.doc, now: 0 }).toEqual({ ...before, now: 0 });
      expect(transition.effects).toEqual([]);
      expect(transition.nextDeadline).toBe(this.due.get(roomId) ?? null);
    }
    for (const effect of transition.effects) {
      out.push({ effect, life: `${roomId}#${life}` });
      if (effect.type === 'close') this.conns.delete(effect.conn);
    }
    for (const [conn, binding] of transition.bindings) {
      const edge = this.conns.get(conn);
      if (edge === undefined) continue; // closed by this step (taken over, expired)
      if (binding !== null && edge.binding !== null) expect(binding.roomId).toBe(edge.binding.roomId);
      edge.binding = binding;
      if (binding === null) {
        edge.unboundSince = transition.doc.now;
        edge.armed = this.arming++;
      }
    }
    return transition;
  }

  private countDue(doc: RoomDoc, at: number): void {
    for (const m of doc.members) {
      if (m.selection !== null && m.selection.expiresAt <= at) this.count('deadline: lock expiry');
      if (m.graceUntil !== null && m.graceUntil <= at) this.count('deadline: grace end');
      if (m.conn !== null && m.lastSeen + this.config.presenceTimeoutMs <= at) {
        this.count('deadline: presence expiry');
      }
    }
  }

  private count(what: string): void {
    this.seen.set(what, (this.seen.get(what) ?? 0) + 1);
  }

  /** What every written document must satisfy. */
  private checkDoc(before: RoomDoc | null, doc: RoomDoc): void {
    if (doc.live) {
      expect(doc.members.length, `live room ${doc.id} without members`).toBeGreaterThan(0);
    } else {
      expect({ members: doc.members, selected: doc.selected, viewers: doc.viewers }).toEqual({
        members: [],
        selected: [],
        viewers: [],
      });
    }
    const selections = doc.members.flatMap((m) =>
      m.selection === null ? [] : [[m.selection.planetId, m.userId]],
    );
    const selected = doc.selected.flatMap(([planetId, userIds]) => userIds.map((u) => [planetId, u]));
    expect(selected.sort()).toEqual(selections.sort());
    if (this.config.selectionMode === 'exclusive') {
      // At most one holder per planet.
      for (const [planetId, userIds] of doc.selected)
        expect(userIds, `holders of ${planetId}`).toHaveLength(1);
      const planets = selections.map(([planetId]) => planetId);
      expect(new Set(planets).size).toBe(planets.length);
    }
    if (before !== null) {
      // seq never goes back, also across removal (tombstone) and re-creation, where it must rise.
      expect(doc.seq).toBeGreaterThanOrEqual(before.seq);
      if (before.live !== doc.live) expect(doc.seq).toBeGreaterThan(before.seq);
      if (before.live && !doc.live) this.count('tombstone');
    }
    for (const [planetId, fence] of doc.lastFence) {
      const key = `${doc.id}/${planetId}`;
      expect(fence).toBeGreaterThanOrEqual(this.fences.get(key) ?? 0);
      this.fences.set(key, fence);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Comparison.

/** A copy of an effect as the wire would carry it (JSON), detached from either side's state. */
const wire = (effect: Effect): Effect => JSON.parse(JSON.stringify(effect)) as Effect;

type Tagged = Labelled & { readonly tag: string; readonly index: number };

/**
 * Orders effects by room (room-less ones first), keeping each room's order, and sorts each run of
 * closes within a room by connection: closes of different sockets carry no order (see the top).
 */
function canonical(items: readonly Labelled[], tagOf: (effect: Effect) => string): Tagged[] {
  const tagged = items.map((item, index) => ({
    ...item,
    effect: wire(item.effect),
    tag: tagOf(item.effect),
    index,
  }));
  const key = (t: Tagged) => [t.tag, t.effect.type === 'close' ? t.effect.conn : ''] as const;
  tagged.sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : a.index - b.index));
  for (let i = 0; i < tagged.length; ) {
    let j = i;
    while (j < tagged.length && tagged[j]!.effect.type === 'close') j++;
    if (j > i + 1) {
      const run = tagged.slice(i, j).sort((a, b) => {
        const [ta, ca] = key(a);
        const [tb, cb] = key(b);
        return ta !== tb ? (ta < tb ? -1 : 1) : ca < cb ? -1 : ca > cb ? 1 : 0;
      });
      tagged.splice(i, j - i, ...run);
    }
    i = Math.max(j, i + 1);
  }
  return tagged;
}

const hasSeq = (effect: Effect): effect is Effect & { message: { seq: number } } =>
  effect.type === 'send' && 'seq' in effect.message;

/** The connections' rooms as the engine knows them. */
const roomsOfConns = (state: CoreState) =>
  new Map([...state.conns].map(([id, conn]) => [id, conn.member?.room.id ?? null]));

/** The per-life seq offset (one process − cluster), fixed by the first message of each life. */
function offsetOf(offsets: Map<string, number>, life: string, coreSeq: number, simSeq: number): number {
  let offset = offsets.get(life);
  if (offset === undefined) {
    offset = coreSeq - simSeq;
    // One process's floor is the highest of all removed rooms, a tombstone's only its own room's.
    expect(offset, `seq offset of ${life}`).toBeGreaterThanOrEqual(0);
    offsets.set(life, offset);
  }
  return offset;
}

function compareEffects(
  core: readonly Effect[],
  sim: readonly Labelled[],
  before: ReadonlyMap<ConnId, string | null>,
  after: ReadonlyMap<ConnId, string | null>,
  offsets: Map<string, number>,
): void {
  const tagOf = (effect: Effect) => {
    const conn = effect.type === 'close' ? effect.conn : effect.to[0]!;
    return before.get(conn) ?? after.get(conn) ?? '';
  };
  const a = canonical(
    core.map((effect) => ({ effect, life: null })),
    tagOf,
  );
  const b = canonical(sim, tagOf);
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = a[i]!.effect;
    const s = b[i]!.effect;
    const life = b[i]!.life;
    if (hasSeq(c) && hasSeq(s) && life !== null) {
      c.message.seq -= offsetOf(offsets, life, c.message.seq, s.message.seq);
    }
  }
  expect(b.map((t) => t.effect)).toEqual(a.map((t) => t.effect));
}

/** The orders a room step depends on (inspect sorts them): members, selectors, viewers, viewings. */
function ordersOf(doc: RoomDoc) {
  return {
    members: doc.members.map((m) => m.userId),
    selected: doc.selected.map(([planetId, userIds]) => [planetId, [...userIds]]),
    viewers: doc.viewers.map(([planetId, userIds]) => [planetId, [...userIds]]),
    viewing: doc.members.map((m) => [m.userId, m.viewing.map(([planetId]) => planetId)]),
  };
}

function ordersOfRoom(room: Room) {
  return {
    members: [...room.members.keys()],
    selected: [...room.selected].map(([planetId, userIds]) => [planetId, [...userIds]]),
    viewers: [...room.viewers].map(([planetId, viewers]) => [planetId, [...viewers.keys()]]),
    viewing: [...room.members.values()].map((m) => [m.userId, [...m.viewing.keys()]]),
  };
}

/** Rooms and connections: the documents and edges hold what the engine holds. */
function compareState(engine: RoomEngine, cluster: Cluster, offsets: Map<string, number>): void {
  const { state } = engine;
  const snapshot = inspect(state);
  const byConn = <T extends { conn: string }>(xs: T[]) => xs.sort((x, y) => (x.conn < y.conn ? -1 : 1));
  const edges = byConn(
    [...cluster.conns].map(([conn, e]) => ({
      conn,
      roomId: e.binding?.roomId ?? null,
      userId: e.binding?.userId ?? null,
      unboundSince: e.unboundSince,
    })),
  );
  expect(edges).toEqual(byConn([...snapshot.conns]));
  const docs = cluster.liveDocs();
  expect(docs.map((doc) => doc.id).sort()).toEqual([...state.rooms.keys()].sort());
  for (const doc of docs) {
    const room = state.rooms.get(doc.id)!;
    const core = snapshot.rooms.find((r) => r.roomId === doc.id)!;
    const loaded = inspect(loadRoom(cluster.config, doc.id, doc).state).rooms[0]!;
    const life = `${doc.id}#${cluster.lives.get(doc.id)}`;
    // A re-created room's document also carries the removed room's fences that one process keeps
    // in retiredFences (checked below); the room's own fences must be the same.
    const own = loaded.lastFence.filter(([planetId]) => room.lastFence.has(planetId));
    expect({ ...loaded, lastFence: own }).toEqual({
      ...core,
      seq: core.seq - offsetOf(offsets, life, core.seq, loaded.seq),
    });
    expect(ordersOf(doc)).toEqual(ordersOfRoom(room));
  }
  // Every removed room's fence that a later grant could still collide with (granted in this very
  // millisecond) is in that room's document, live or tombstone.
  for (const [key, fence] of state.retiredFences) {
    if (fence < state.now * 1000) continue;
    const [roomId, planetId] = key.split('\u0000') as [string, string];
    if (state.rooms.get(roomId)?.lastFence.has(planetId) === true) continue;
    const stored = cluster.docs.get(roomId);
    const fences = new Map(stored === undefined ? [] : (JSON.parse(stored) as RoomDoc).lastFence);
    expect(fences.get(planetId), `retired fence of ${roomId}/${planetId}`).toBe(fence);
  }
}

// ---------------------------------------------------------------------------------------------

function count(seen: Map<string, number>, effects: readonly Effect[]): void {
  const add = (what: string) => seen.set(what, (seen.get(what) ?? 0) + 1);
  for (const effect of effects) {
    if (effect.type === 'close') {
      add(`close ${effect.code}`);
      continue;
    }
    const m = effect.message;
    add(m.type === 'error' ? `error ${m.code}` : m.type === 'ack' ? `ack ${m.op}` : m.type);
    if (m.type === 'presence' && m.users.some((u) => !u.connected)) add('grace');
    if (m.type === 'presence' && m.users.length >= 2) add('room of 2+');
  }
}

function run(config: CoreConfig, ops: readonly Op[], seen: Map<string, number>): void {
  const clock = new ManualClock(START);
  const engine = new RoomEngine({ config, clock, tokens: new CountingTokens() });
  const cluster = new Cluster(config, seen);
  const offsets = new Map<string, number>();
  /** One command on both sides, compared. */
  const both = (core: () => Effect[], sim: () => Labelled[]) => {
    const before = roomsOfConns(engine.state);
    const effects = core();
    const labelled = sim();
    count(seen, effects);
    compareEffects(effects, labelled, before, roomsOfConns(engine.state), offsets);
    compareState(engine, cluster, offsets);
  };
  let at = START;
  let opened = 0;
  for (const op of ops) {
    at += op.dt;
    clock.set(at);
    switch (op.kind) {
      case 'open': {
        const conn = `c${opened++}`;
        both(
          () => engine.open(conn),
          () => cluster.open(conn, at),
        );
        break;
      }
      case 'tick':
        both(
          () => engine.tick(),
          () => cluster.tick(at),
        );
        break;
      case 'close': {
        const conn = pickConn(engine.state, opened, op.pick);
        const graceMs = op.graceMs ?? undefined;
        both(
          () => engine.close(conn, op.how, graceMs),
          () => cluster.close(conn, at, op.how, graceMs),
        );
        break;
      }
      case 'frame':
      case 'burst': {
        const conn = pickConn(engine.state, opened, op.pick);
        const text = frameText(op.frame, conn, engine.state);
        for (let i = 0; i < (op.kind === 'burst' ? op.times : 1); i++) {
          both(
            () => engine.frame(conn, parseClientMessage(text)),
            () => cluster.frame(conn, at, parseClientMessage(text)),
          );
        }
        break;
      }
      case 'rejoin': {
        const conn = pickConn(engine.state, opened, op.pick);
        const member = engine.state.conns.get(conn)?.member;
        const roomId = member?.room.id ?? 'r0';
        const userId = member?.userId ?? 'u0';
        for (const message of [
          { type: 'select', planetId: op.planet, userId },
          { type: 'leave', userId },
          { type: 'join', roomId, user: { userId } },
          { type: 'select', planetId: op.planet, userId },
        ]) {
          const text = JSON.stringify(message);
          both(
            () => engine.frame(conn, parseClientMessage(text)),
            () => cluster.frame(conn, at, parseClientMessage(text)),
          );
        }
        break;
      }
    }
  }
}

describe('applyRoom equivalence with the single-process core', () => {
  // A few seconds at the default numRuns; the timeout leaves room for slow shared machines and FC_NUM_RUNS.
  it('gives the same effects, rooms and bindings as RoomEngine for random command sequences', {
    timeout: 120_000,
  }, () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(scenarioArb, ({ config, ops }) => run(config, ops, seen)),
      {
        numRuns: NUM_RUNS,
        ...(process.env.FC_SEED === undefined ? {} : { seed: Number(process.env.FC_SEED) }),
        ...(process.env.FC_PATH === undefined ? {} : { path: process.env.FC_PATH }),
      },
    );
    if (process.env.EQUIVALENCE_STATS !== undefined) console.log(Object.fromEntries([...seen].sort()));
    // The generator must keep reaching every case the equivalence is meant to cover.
    if (NUM_RUNS >= 100) {
      for (const what of [
        'ack join',
        'ack leave',
        'ack select',
        'ack unselect',
        'ack heartbeat',
        'ack join_viewer',
        'ack leave_viewer',
        'conflict',
        'viewer_cameras',
        'error SESSION_REPLACED',
        'error FORBIDDEN',
        'error USER_MISMATCH',
        'error ALREADY_JOINED',
        'error NOT_JOINED',
        'error ROOM_FULL',
        'error LIMIT_EXCEEDED',
        'error RATE_LIMITED',
        'error NOT_SELECTED',
        'error NOT_VIEWING',
        'error BAD_JSON',
        'error BAD_MESSAGE',
        'error UNKNOWN_TYPE',
        'close 1008',
        'close 4001',
        'close 4002',
        'close 4008',
        'grace',
        'deadline: lock expiry',
        'deadline: grace end',
        'deadline: presence expiry',
        'tombstone',
        're-created room',
      ]) {
        expect(seen.get(what) ?? 0, what).toBeGreaterThan(0);
      }
    }
  });
});
