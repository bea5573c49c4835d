// Property test of cluster mode over the wire (CONTRACT §3–§7, §9: several processes on one store
// behave as one server). Per run: 3 in-process servers share one RoomStore; 4–6 clients, each on a
// random process, act in rounds on 2 rooms × 4 users × 3 planets (small pools, so they collide):
// join (their own user, or another client's with or without its resumeToken: takeover or
// FORBIDDEN), select/unselect, heartbeat, join_viewer/leave_viewer, camera, leave, hang up, drop
// the socket and reconnect to any process with the resumeToken. Every frame of a round is sent in
// the same tick, so selects (and views with cameras) from several processes race; rounds are
// separated by random pauses (a few long enough for locks and presence to expire). A third of the
// runs put each process behind a slow network (loads, commits and its channel up to 4 ms late).
// Checked from what clients receive:
// 1. every command but camera gets exactly one answer echoing its rid, in send order, of a kind the
//    contract allows for it; a socket the server closed got answers for a prefix of its frames;
// 2. locks: every selection_state lists one holder per planet, only users of the last presence;
//    every answer agrees with the last selection_state its connection got (a select ack means
//    the sender holds the planet, a conflict names the holder, a heartbeat ack carries expiresAt
//    exactly when the sender holds a lock); no user is granted or renewed a planet at a time
//    another user was promised it (renewed at expiresAt − LOCK_TTL_MS, held until expiresAt)
//    unless that user released it in between (unselect, other select, leave, close); a fence
//    belongs to one user and fences grow with the room's seq; a step's room time lies between
//    the frame's sending and its answer (the room clock is the clients' clock);
// 3. per connection, a room's state messages come with non-decreasing seq; a presence (modulo
//    lastSeen, which changes without a seq) or selection_state of one seq is the same for every
//    recipient, whichever process delivered it: one order per room;
// 4. convergence: once every answer is in, the clients left in a room end up with the same last
//    presence and selection_state, and these match the room's document in the store;
// 5. when every client is gone, within PRESENCE_TIMEOUT_MS and a margin, no room is live in the
//    store and every process reports 0 rooms and 0 connections.
// Also: camera relays reach only other viewers of their planet, from members; a 4008 close only
// after PRESENCE_TIMEOUT_MS without an answered frame; nothing logged at error level, nothing
// thrown or rejected unhandled. Runs on one InMemoryRoomStore and, fewer, on a real Redis (one
// RedisRoomStore per process, a fresh key prefix per run). A failure prints the shrunk scenario
// and every connection's transcript. CLUSTER_FUZZ_RUNS / CLUSTER_FUZZ_REDIS_RUNS run more (a bug
// hunt). The tests after the properties are counterexamples they found, made deterministic.

import type {
  PresenceMessage,
  SelectionStateMessage,
  ServerMessage,
  ViewerCamerasMessage,
} from '@exo/protocol';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { InMemoryRoomStore } from '../src/cluster/memory-store.js';
import { RedisRoomStore } from '../src/cluster/redis-store.js';
import type { RoomStore } from '../src/cluster/store.js';
import type { Logger } from '../src/log.js';
import type { ExoServer } from '../src/server.js';
import { connect, serverPerTest, startServer } from './kit.js';
import { describeWithRedis } from './redis.js';

const ROOMS = ['r0', 'r1'] as const;
const USERS = ['u0', 'u1', 'u2', 'u3'] as const;
const PLANETS = ['p0', 'p1', 'p2'] as const;
const PROCS = ['a', 'b', 'c'] as const;
const LOCK_TTL_MS = 1000;
const PRESENCE_TIMEOUT_MS = 1500;
const ANSWER_WAIT_MS = 5000;
const CONVERGE_WAIT_MS = 4000;
/** Every client gone: the last grace and the processes' steps fit well within this. */
const EMPTY_WAIT_MS = PRESENCE_TIMEOUT_MS + 2000;
const MAX_PROBLEMS = 25;
/** The longest a run can take: its rounds (at most 14 × 1.1 s), then every wait running out. */
const RUN_MAX_MS = 14 * 1100 + ANSWER_WAIT_MS + CONVERGE_WAIT_MS + EMPTY_WAIT_MS + 10_000;

const coreConfig = (reconnectGraceMs: number) => ({
  lockTtlMs: LOCK_TTL_MS,
  presenceTimeoutMs: PRESENCE_TIMEOUT_MS,
  reconnectGraceMs,
  cameraMinIntervalMs: 20,
  // Budgets are not under test here: no frame may be RATE_LIMITED.
  rateLimitMax: 10_000,
});

// ---------------------------------------------------------------------------------------------
// Scenarios: plain data, so fast-check prints and shrinks them.

type PlanetOp = 'select' | 'unselect' | 'join_viewer' | 'leave_viewer';

type Act =
  /** Join `home` (the client's own room and user) or the given room and user, with the last resumeToken seen for it or none. */
  | {
      readonly k: 'join';
      readonly to: 'home' | { readonly room: number; readonly user: number };
      readonly token: boolean;
    }
  | { readonly k: PlanetOp; readonly planet: number }
  | { readonly k: 'camera'; readonly planet: number; readonly x: number }
  | { readonly k: 'heartbeat' }
  | { readonly k: 'leave' }
  /** Terminate the socket (no close frame: a network close, subject to the reconnect grace). */
  | { readonly k: 'drop' }
  /** Close the socket with 1000. */
  | { readonly k: 'hangup' }
  /** Drop the socket, connect to `proc` and join as before with the last resumeToken seen. */
  | { readonly k: 'reconnect'; readonly proc: number };

interface Round {
  /** [client index (modulo the number of clients), act], all sent in the same tick. */
  readonly acts: readonly (readonly [number, Act])[];
  /** Milliseconds to wait after the round. */
  readonly pause: number;
}

interface ClientPlan {
  readonly proc: number;
  readonly room: number;
  readonly user: number;
}

interface Scenario {
  readonly graceMs: number;
  /**
   * 0: the store as it is. Else each process's loads and commits wait up to this many ms first and
   * it hears publications up to this late (in order): a slow network widens every race.
   */
  readonly lagMs: number;
  /** Seeds the lags. */
  readonly lagSeed: number;
  readonly clients: readonly ClientPlan[];
  readonly rounds: readonly Round[];
}

// Biased to the first planet, so selects conflict and viewers meet.
const planetArb = fc.oneof(
  { weight: 2, arbitrary: fc.constant(0) },
  { weight: 3, arbitrary: fc.nat({ max: PLANETS.length - 1 }) },
);
const planetAct = (k: PlanetOp): fc.Arbitrary<Act> => planetArb.map((planet) => ({ k, planet }));

const actArb: fc.Arbitrary<Act> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .record({
        to: fc.oneof(
          { weight: 3, arbitrary: fc.constant('home' as const) },
          {
            weight: 2,
            arbitrary: fc.record({ room: fc.nat({ max: ROOMS.length - 1 }), user: fc.nat({ max: 3 }) }),
          },
        ),
        token: fc.boolean(),
      })
      .map(({ to, token }): Act => ({ k: 'join', to, token })),
  },
  { weight: 6, arbitrary: planetAct('select') },
  { weight: 3, arbitrary: planetAct('unselect') },
  { weight: 2, arbitrary: fc.constant<Act>({ k: 'heartbeat' }) },
  { weight: 3, arbitrary: planetAct('join_viewer') },
  { weight: 1, arbitrary: planetAct('leave_viewer') },
  {
    weight: 4,
    arbitrary: fc
      .record({ planet: planetArb, x: fc.integer({ min: -9, max: 9 }) })
      .map(({ planet, x }): Act => ({ k: 'camera', planet, x })),
  },
  { weight: 1, arbitrary: fc.constant<Act>({ k: 'leave' }) },
  { weight: 1, arbitrary: fc.constant<Act>({ k: 'drop' }) },
  { weight: 1, arbitrary: fc.constant<Act>({ k: 'hangup' }) },
  {
    weight: 2,
    arbitrary: fc.nat({ max: PROCS.length - 1 }).map((proc): Act => ({ k: 'reconnect', proc })),
  },
);

// Mostly short pauses (interleavings); now and then one past a lock's TTL or close to presence expiry.
const pauseArb = fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: 0, max: 25 }) },
  { weight: 1, arbitrary: fc.integer({ min: 300, max: 1100 }) },
);

const roundArb: fc.Arbitrary<Round> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      acts: fc.array(fc.tuple(fc.nat({ max: 5 }), actArb), { minLength: 1, maxLength: 3 }),
      pause: pauseArb,
    }),
  },
  {
    // A race: several clients (likely on different processes) select one planet in the same tick.
    weight: 1,
    arbitrary: fc
      .record({
        racers: fc.uniqueArray(fc.nat({ max: 5 }), { minLength: 2, maxLength: 6 }),
        planet: planetArb,
        pause: pauseArb,
      })
      .map(
        ({ racers, planet, pause }): Round => ({
          acts: racers.map((c) => [c, { k: 'select', planet }] as const),
          pause,
        }),
      ),
  },
  {
    // Several clients view one planet and move their cameras at once: relays cross processes.
    weight: 1,
    arbitrary: fc
      .record({
        viewers: fc.uniqueArray(fc.nat({ max: 5 }), { minLength: 2, maxLength: 6 }),
        planet: planetArb,
        x: fc.integer({ min: -9, max: 9 }),
        pause: pauseArb,
      })
      .map(
        ({ viewers, planet, x, pause }): Round => ({
          acts: viewers.flatMap((c) => [
            [c, { k: 'join_viewer', planet }] as const,
            [c, { k: 'camera', planet, x }] as const,
          ]),
          pause,
        }),
      ),
  },
);

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  graceMs: fc.constantFrom(0, 300),
  lagMs: fc.constantFrom(0, 0, 4),
  lagSeed: fc.nat(),
  clients: fc.array(
    fc.record({
      proc: fc.nat({ max: PROCS.length - 1 }),
      room: fc.nat({ max: ROOMS.length - 1 }),
      user: fc.nat({ max: USERS.length - 1 }),
    }),
    { minLength: 4, maxLength: 6 },
  ),
  rounds: fc.array(roundArb, { minLength: 3, maxLength: 14 }),
});

// ---------------------------------------------------------------------------------------------
// Clients

interface Identity {
  readonly room: string;
  readonly user: string;
}

interface Sent {
  readonly rid: string;
  readonly type: string;
  /** The identity the frame spoke for (a join: the one it asked for). */
  readonly room: string;
  readonly user: string;
  readonly planet: string | null;
  readonly at: number;
  /** camera: answered only when refused. */
  readonly optional: boolean;
  readonly ts?: number;
  answeredAt?: number;
}

interface Received {
  readonly msg: ServerMessage;
  readonly at: number;
  /** The room a state message belongs to: the connection's room, or that of the join in flight. */
  readonly room: string | null;
}

const planetOf = (sent: Sent) => sent.planet ?? '';
const key = (...parts: readonly string[]) => parts.join('\u0000');
const json = (value: unknown) => JSON.stringify(value);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isAnswer = (m: ServerMessage) => m.type === 'ack' || m.type === 'conflict' || m.type === 'error';

/** What every client of a run shares: rids, the last resumeToken seen per (room, user). */
class World {
  private n = 0;
  readonly tokens = new Map<string, string>();
  readonly conns: Conn[] = [];
  readonly skipped: string[] = [];
  constructor(readonly urls: readonly string[]) {}
  rid(): string {
    return `${++this.n}`;
  }
}

class Conn {
  readonly sent: Sent[] = [];
  readonly inbox: Received[] = [];
  private readonly byRid = new Map<string, Sent>();
  closed: { code: number; reason: string; at: number } | null = null;
  /** How this side ended the socket, if it did. */
  ended: { how: 'drop' | 'hangup'; at: number } | null = null;
  /** The binding as the answers so far show it. */
  bound: Identity | null = null;
  /** The planets the user views, as the answers so far show. */
  viewing = new Set<string>();
  /** Whether the socket was open when the clients' actions were over. */
  openAtEnd = false;

  constructor(
    readonly name: string,
    readonly ws: WebSocket,
    private readonly world: World,
    private readonly onBound: (identity: Identity) => void,
  ) {
    ws.on('message', (data: Buffer) => this.receive(JSON.parse(data.toString('utf8')) as ServerMessage));
    ws.on('close', (code: number, reason: Buffer) => {
      this.closed = { code, reason: reason.toString(), at: Date.now() };
      this.bound = null;
    });
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN && this.closed === null && this.ended === null;
  }

  send(frame: Omit<Sent, 'rid' | 'at' | 'answeredAt'>, message: Record<string, unknown>): void {
    const rid = this.world.rid();
    const sent: Sent = { ...frame, rid, at: Date.now() };
    this.sent.push(sent);
    this.byRid.set(rid, sent);
    this.ws.send(json({ ...message, rid }));
  }

  /** Every frame that needs an answer has one. */
  get answered(): boolean {
    return this.sent.every((s) => s.optional || s.answeredAt !== undefined);
  }

  private receive(msg: ServerMessage): void {
    const at = Date.now();
    let room: string | null = null;
    if (msg.type === 'presence' || msg.type === 'selection_state' || msg.type === 'viewer_cameras') {
      room =
        this.bound?.room ??
        this.sent.find((s) => s.type === 'join' && s.answeredAt === undefined)?.room ??
        null;
    }
    this.inbox.push({ msg, at, room });
    if (!isAnswer(msg)) return;
    if (msg.type === 'error' && msg.code === 'SESSION_REPLACED') {
      this.bound = null;
      return;
    }
    const sent = msg.rid === undefined ? undefined : this.byRid.get(String(msg.rid));
    if (sent === undefined) return;
    sent.answeredAt = at;
    if (msg.type !== 'ack') return;
    if (msg.op === 'join_viewer') this.viewing.add(planetOf(sent));
    else if (msg.op === 'leave_viewer') this.viewing.delete(planetOf(sent));
    else if (msg.op === 'join') {
      this.viewing = new Set(msg.viewing);
      this.bound = { room: sent.room, user: sent.user };
      if (msg.resumeToken !== undefined) this.world.tokens.set(key(sent.room, sent.user), msg.resumeToken);
      this.onBound(this.bound);
    } else if (msg.op === 'leave') {
      this.bound = null;
      this.viewing = new Set();
    }
  }
}

class Client {
  conn: Conn | null = null;
  /** Who this client speaks for: its last successful join, else the last join it sent. */
  me: Identity;
  private count = 0;

  constructor(
    readonly index: number,
    readonly plan: ClientPlan,
    private readonly world: World,
  ) {
    this.me = { room: ROOMS[plan.room]!, user: USERS[plan.user]! };
  }

  async connect(proc: number): Promise<void> {
    const name = `c${this.index}.${++this.count}@${PROCS[proc]}`;
    const ws = new WebSocket(this.world.urls[proc]!);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const conn = new Conn(name, ws, this.world, (identity) => {
      if (this.conn === conn) this.me = identity;
    });
    this.world.conns.push(conn);
    this.conn = conn;
  }

  /** The asynchronous part of an act (opening a socket), done before a round's frames go out. */
  async prepare(act: Act): Promise<void> {
    if (act.k === 'reconnect') {
      this.end('drop');
      await this.connect(act.proc);
    } else if (act.k === 'join' && !(this.conn?.open ?? false)) {
      await this.connect(this.plan.proc);
    }
  }

  perform(act: Act): void {
    const conn = this.conn;
    if (conn === null || !conn.open) {
      this.world.skipped.push(`c${this.index} ${act.k}`);
      return;
    }
    const who = conn.bound ?? this.me;
    const user = who.user;
    switch (act.k) {
      case 'join':
      case 'reconnect': {
        const target =
          act.k === 'reconnect' || act.to === 'home'
            ? act.k === 'reconnect'
              ? this.me
              : { room: ROOMS[this.plan.room]!, user: USERS[this.plan.user]! }
            : { room: ROOMS[act.to.room]!, user: USERS[act.to.user]! };
        const token =
          act.k === 'reconnect' || act.token
            ? this.world.tokens.get(key(target.room, target.user))
            : undefined;
        if (conn.bound === null) this.me = target;
        conn.send(
          { type: 'join', room: target.room, user: target.user, planet: null, optional: false },
          {
            type: 'join',
            roomId: target.room,
            user: { userId: target.user },
            ...(token === undefined ? {} : { resumeToken: token }),
          },
        );
        return;
      }
      case 'select':
      case 'unselect':
      case 'join_viewer':
      case 'leave_viewer': {
        const planetId = PLANETS[act.planet]!;
        conn.send(
          { type: act.k, room: who.room, user, planet: planetId, optional: false },
          { type: act.k, userId: user, planetId },
        );
        return;
      }
      case 'camera': {
        // On a planet it views, if any (so that relays happen), else on the act's.
        const viewed = [...conn.viewing];
        const planetId = viewed.length > 0 ? viewed[act.planet % viewed.length]! : PLANETS[act.planet]!;
        conn.send(
          { type: 'camera', room: who.room, user, planet: planetId, optional: true },
          { type: 'camera', userId: user, planetId, camera: { position: [act.x, 0, 0] } },
        );
        return;
      }
      case 'heartbeat': {
        const ts = Date.now();
        conn.send(
          { type: 'heartbeat', room: who.room, user, planet: null, optional: false, ts },
          { type: 'heartbeat', userId: user, ts },
        );
        return;
      }
      case 'leave':
        conn.send(
          { type: 'leave', room: who.room, user, planet: null, optional: false },
          { type: 'leave', userId: user },
        );
        return;
      case 'drop':
      case 'hangup':
        this.end(act.k);
        return;
    }
  }

  end(how: 'drop' | 'hangup'): void {
    const conn = this.conn;
    if (conn === null || conn.ended !== null || conn.closed !== null) return;
    conn.ended = { how, at: Date.now() };
    if (how === 'drop') conn.ws.terminate();
    else conn.ws.close(1000);
  }
}

// ---------------------------------------------------------------------------------------------
// The oracle: checks over everything the clients received.

interface Promised {
  readonly user: string;
  /** Granted or renewed at (room clock): expiresAt − LOCK_TTL_MS. */
  readonly from: number;
  readonly until: number;
  /** The lock's fence when the answer shows it (a heartbeat ack does not). */
  readonly fence: number | undefined;
  readonly what: string;
}

interface FenceSeen {
  readonly seq: number;
  readonly fence: number;
  readonly user: string;
  readonly what: string;
}

/** A span of time within which a user may have released its lock (planet null: any planet). */
interface Release {
  readonly planet: string | null;
  readonly from: number;
  readonly to: number;
  readonly what: string;
}

interface RoomView {
  presence: PresenceMessage | null;
  selection: SelectionStateMessage | null;
}

/** Answers of frames that did not pass the binding check: they do not make the user seen. */
const UNSEEN: readonly string[] = ['NOT_JOINED', 'USER_MISMATCH', 'ALREADY_JOINED', 'FORBIDDEN'];

const ERRORS: Readonly<Record<string, readonly string[]>> = {
  join: ['FORBIDDEN', 'ALREADY_JOINED', 'USER_MISMATCH'],
  select: ['NOT_JOINED', 'USER_MISMATCH'],
  unselect: ['NOT_JOINED', 'USER_MISMATCH', 'NOT_SELECTED'],
  heartbeat: ['NOT_JOINED', 'USER_MISMATCH'],
  join_viewer: ['NOT_JOINED', 'USER_MISMATCH'],
  leave_viewer: ['NOT_JOINED', 'USER_MISMATCH', 'NOT_VIEWING'],
  leave: ['NOT_JOINED', 'USER_MISMATCH'],
  camera: ['NOT_JOINED', 'USER_MISMATCH', 'NOT_VIEWING'],
};

/** A presence as every recipient of its seq must see it: lastSeen moves without a new seq. */
const presenceShape = (m: PresenceMessage) => json(m.users.map(({ lastSeen: _, ...u }) => u));
const holders = (m: SelectionStateMessage, planet: string) => m.selected[planet] ?? [];
const heldBy = (m: SelectionStateMessage, user: string) =>
  Object.entries(m.selected)
    .filter(([, users]) => users.includes(user))
    .map(([planet]) => planet);

class Oracle {
  readonly problems: string[] = [];
  private readonly presenceAt = new Map<string, { shape: string; by: string }>();
  private readonly selectionAt = new Map<string, { shape: string; by: string }>();
  private readonly promises = new Map<string, Promised[]>();
  private readonly fences = new Map<string, FenceSeen[]>();
  private readonly releases = new Map<string, Release[]>();

  constructor(private readonly graceMs: number) {}

  problem(text: string): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push(text);
  }

  private push<T>(map: Map<string, T[]>, k: string, value: T): void {
    const list = map.get(k);
    if (list === undefined) map.set(k, [value]);
    else list.push(value);
  }

  connection(conn: Conn): void {
    const p = (text: string) => this.problem(`${conn.name}: ${text}`);
    const views = new Map<string, RoomView>();
    const lastSeq = new Map<string, number>();
    let bound: Identity | null = null;
    let replaced = false;
    let previous: ServerMessage | null = null;
    let next = 0;
    let lastAnsweredSend = Number.NEGATIVE_INFINITY;
    /** The planets this connection's user views, as its answers show. */
    let viewing = new Set<string>();
    for (const { msg, at, room } of conn.inbox) {
      if (msg.type === 'camera') {
        // Relays go to the other viewers of the planet only (CONTRACT §6).
        if (bound === null) p(`a camera relay while bound to no room: ${json(msg)}`);
        else if (msg.userId === bound.user) p(`its own camera relayed back: ${json(msg)}`);
        else if (!viewing.has(msg.planetId)) p(`a camera relay for ${msg.planetId}, which it does not view`);
        else {
          // A relay comes from a viewer, so from a member: never from someone its presence dropped.
          const users = views.get(bound.room)?.presence?.users.map((u) => u.userId) ?? [];
          if (!users.includes(msg.userId))
            p(`a camera relay from ${msg.userId}, not in its last presence ${json(users)}`);
        }
        continue;
      }
      if (msg.type === 'presence' || msg.type === 'selection_state' || msg.type === 'viewer_cameras') {
        previous = msg;
        if (room === null) {
          p(`${msg.type} while bound to no room and joining none: ${json(msg)}`);
          continue;
        }
        if (msg.seq < (lastSeq.get(room) ?? -1)) {
          p(`${room}: ${msg.type} seq ${msg.seq} after seq ${lastSeq.get(room)}`);
        }
        lastSeq.set(room, msg.seq);
        let view = views.get(room);
        if (view === undefined) {
          view = { presence: null, selection: null };
          views.set(room, view);
        }
        if (msg.type === 'presence') this.presence(conn, room, msg, view);
        else if (msg.type === 'selection_state') this.selection(conn, room, msg, view);
        continue;
      }
      if (msg.type === 'error' && msg.code === 'SESSION_REPLACED') {
        if (msg.rid !== undefined) p('SESSION_REPLACED carried a rid');
        replaced = true;
        previous = msg;
        continue;
      }
      if (replaced) p(`an answer after SESSION_REPLACED: ${json(msg)}`);
      while (next < conn.sent.length && conn.sent[next]!.optional && conn.sent[next]!.rid !== msg.rid) next++;
      let sent = conn.sent[next];
      if (sent === undefined || sent.rid !== msg.rid) {
        p(
          `expected the answer to ${sent === undefined ? 'nothing' : `${sent.type} rid ${sent.rid}`}, got ${json(msg)}`,
        );
        const found = conn.sent.findIndex((s) => s.rid === msg.rid);
        if (found < 0) continue;
        next = found;
        sent = conn.sent[found]!;
      }
      next++;
      // Frames refused by the binding check are not "seen" (CONTRACT §7).
      if (msg.type !== 'error' || !UNSEEN.includes(msg.code)) {
        lastAnsweredSend = Math.max(lastAnsweredSend, sent.at);
      }
      const view = bound === null ? views.get(sent.room) : views.get(bound.room);
      this.answer(conn, sent, msg, at, view ?? null, previous);
      if (msg.type === 'ack') {
        if (msg.op === 'join') {
          bound = { room: sent.room, user: sent.user };
          viewing = new Set(msg.viewing);
        } else if (msg.op === 'leave') {
          bound = null;
          viewing = new Set();
        } else if (msg.op === 'join_viewer') viewing.add(planetOf(sent));
        else if (msg.op === 'leave_viewer') viewing.delete(planetOf(sent));
      }
      previous = msg;
    }
    if (conn.openAtEnd) {
      const missing = conn.sent.slice(next).filter((s) => !s.optional);
      if (missing.length > 0) {
        p(`${missing.length} frames got no answer, the first ${missing[0]!.type} rid ${missing[0]!.rid}`);
      }
    }
    this.closing(conn, replaced, lastAnsweredSend);
  }

  private presence(conn: Conn, room: string, msg: PresenceMessage, view: RoomView): void {
    const p = (text: string) => this.problem(`${conn.name}: ${room} presence seq ${msg.seq}: ${text}`);
    msg.users.forEach((u, i) => {
      const prev = msg.users[i - 1];
      if (
        prev !== undefined &&
        (prev.joinedAt > u.joinedAt || (prev.joinedAt === u.joinedAt && prev.userId >= u.userId))
      ) {
        p('users not ordered by joinedAt, then userId');
      }
      if (!u.connected && this.graceMs === 0) p(`${u.userId} shown disconnected without a reconnect grace`);
    });
    const shape = presenceShape(msg);
    const k = key(room, String(msg.seq));
    const seen = this.presenceAt.get(k);
    if (seen === undefined) this.presenceAt.set(k, { shape, by: conn.name });
    else if (seen.shape !== shape) {
      p(`differs from the presence of the same seq ${seen.by} got: ${shape} vs ${seen.shape}`);
    }
    view.presence = msg;
  }

  private selection(conn: Conn, room: string, msg: SelectionStateMessage, view: RoomView): void {
    const p = (text: string) => this.problem(`${conn.name}: ${room} selection_state seq ${msg.seq}: ${text}`);
    const members = new Set(view.presence?.users.map((u) => u.userId));
    for (const [planet, users] of Object.entries(msg.selected)) {
      if (users.length !== 1) p(`${planet} held by ${json(users)}`);
      for (const u of users)
        if (view.presence !== null && !members.has(u))
          p(`${u} holds ${planet} but is not in the last presence`);
    }
    const shape = json(Object.entries(msg.selected).sort(([a], [b]) => (a < b ? -1 : 1)));
    const k = key(room, String(msg.seq));
    const seen = this.selectionAt.get(k);
    if (seen === undefined) this.selectionAt.set(k, { shape, by: conn.name });
    else if (seen.shape !== shape) p(`differs from the one ${seen.by} got: ${shape} vs ${seen.shape}`);
    view.selection = msg;
  }

  /** The answer's kind, and its agreement with the last selection_state the connection got. */
  private answer(
    conn: Conn,
    sent: Sent,
    msg: ServerMessage,
    at: number,
    view: RoomView | null,
    previous: ServerMessage | null,
  ): void {
    const p = (text: string) =>
      this.problem(`${conn.name}: ${sent.type} rid ${sent.rid}: ${text}: ${json(msg)}`);
    const sel = view?.selection ?? null;
    const planet = sent.planet ?? '';
    const room = sent.room;
    const needState = (): SelectionStateMessage | null => {
      if (sel === null) p('answered as bound, but the connection got no selection_state for its room');
      return sel;
    };
    if (msg.type === 'error') {
      if (!(ERRORS[sent.type] ?? []).includes(msg.code)) p(`error ${msg.code}`);
      if (msg.op !== sent.type) p(`error op ${msg.op}`);
      if (msg.code === 'NOT_SELECTED') {
        const s = needState();
        if (s !== null && holders(s, planet).includes(sent.user))
          p(`the last selection_state shows ${sent.user} on ${planet}`);
      }
      return;
    }
    if (msg.type === 'conflict') {
      if (sent.type !== 'select') return p('a conflict for a frame that is not a select');
      if (msg.planetId !== planet) p(`a conflict over ${msg.planetId}`);
      if (msg.lockedBy === sent.user) p('a conflict with the sender itself');
      const s = needState();
      if (s !== null && json(holders(s, planet)) !== json([msg.lockedBy])) {
        p(`the last selection_state (seq ${s.seq}) shows ${planet} held by ${json(holders(s, planet))}`);
      }
      return;
    }
    if (msg.type !== 'ack') return p('not an answer');
    if (sent.type === 'camera') return p('an ack for a camera');
    if (msg.op !== sent.type) return p(`an ack for ${msg.op}`);
    switch (sent.type) {
      case 'join': {
        if (typeof msg.resumeToken !== 'string' || !Array.isArray(msg.viewing))
          p('no resumeToken or viewing');
        if (
          view?.presence == null ||
          !view.presence.users.some((u) => u.userId === sent.user && u.connected)
        ) {
          p(`the presence before it does not show ${sent.user} connected`);
        }
        const s = needState();
        if (s === null) return;
        if (msg.lock === undefined) {
          if (heldBy(s, sent.user).length > 0)
            p(`no lock, but seq ${s.seq} shows ${sent.user} on ${heldBy(s, sent.user)}`);
          return;
        }
        const { planetId, expiresAt, fence } = msg.lock;
        if (json(holders(s, planetId)) !== json([sent.user]))
          p(`a lock on ${planetId}, but seq ${s.seq} shows ${json(holders(s, planetId))}`);
        this.promise(room, planetId, {
          user: sent.user,
          from: expiresAt - LOCK_TTL_MS,
          until: expiresAt,
          fence,
          what: `${conn.name} join ack rid ${sent.rid}`,
        });
        if (fence === undefined) p('a lock without fence');
        else
          this.fence(room, planetId, {
            seq: s.seq,
            fence,
            user: sent.user,
            what: `${conn.name} join rid ${sent.rid}`,
          });
        return;
      }
      case 'select': {
        if (typeof msg.expiresAt !== 'number' || typeof msg.fence !== 'number')
          return p('no expiresAt or fence');
        this.roomTime(sent, at, msg.expiresAt - LOCK_TTL_MS, p);
        const s = needState();
        if (s !== null && json(holders(s, planet)) !== json([sent.user])) {
          p(`the last selection_state (seq ${s.seq}) shows ${planet} held by ${json(holders(s, planet))}`);
        }
        this.promise(room, planet, {
          user: sent.user,
          from: msg.expiresAt - LOCK_TTL_MS,
          until: msg.expiresAt,
          fence: msg.fence,
          what: `${conn.name} select ack rid ${sent.rid}`,
        });
        if (s !== null)
          this.fence(room, planet, {
            seq: s.seq,
            fence: msg.fence,
            user: sent.user,
            what: `${conn.name} select rid ${sent.rid}`,
          });
        this.release(room, sent.user, {
          planet: `!${planet}`,
          from: sent.at,
          to: at,
          what: `${conn.name} select ${planet}`,
        });
        return;
      }
      case 'unselect': {
        const s = needState();
        if (s !== null && holders(s, planet).includes(sent.user))
          p(`the last selection_state (seq ${s.seq}) still shows ${sent.user} on ${planet}`);
        this.release(room, sent.user, {
          planet,
          from: sent.at,
          to: at,
          what: `${conn.name} unselect ${planet}`,
        });
        return;
      }
      case 'heartbeat': {
        if (msg.ts !== sent.ts || typeof msg.serverTs !== 'number')
          return p(`ts ${sent.ts} not echoed or no serverTs`);
        this.roomTime(sent, at, msg.serverTs, p);
        const s = needState();
        if (s === null) return;
        const held = heldBy(s, sent.user);
        if (msg.expiresAt === undefined) {
          if (held.length > 0) p(`no expiresAt, but seq ${s.seq} shows ${sent.user} on ${held}`);
          return;
        }
        if (msg.expiresAt !== msg.serverTs + LOCK_TTL_MS) p(`expiresAt is not serverTs + ${LOCK_TTL_MS}`);
        if (held.length !== 1) return p(`an expiresAt, but seq ${s.seq} shows ${sent.user} on ${json(held)}`);
        this.promise(room, held[0]!, {
          user: sent.user,
          from: msg.serverTs,
          until: msg.expiresAt,
          fence: undefined,
          what: `${conn.name} heartbeat ack rid ${sent.rid}`,
        });
        return;
      }
      case 'join_viewer':
        if (previous?.type !== 'viewer_cameras' || previous.planetId !== planet) {
          p('not right after a viewer_cameras of its planet');
        } else if (sent.user in (previous as ViewerCamerasMessage).cameras) {
          p('the snapshot shows the sender its own camera');
        }
        return;
      case 'leave':
        this.release(room, sent.user, { planet: null, from: sent.at, to: at, what: `${conn.name} leave` });
        return;
    }
  }

  /**
   * A step runs at its command's stamp (the frame's arrival) or later, and never ahead of the
   * clock (the room's clock is the latest stamp it has seen): the promise and release spans
   * compare room times with the client's clock, the same one here.
   */
  private roomTime(sent: Sent, at: number, time: number, p: (text: string) => void): void {
    if (time < sent.at || time > at) p(`applied at ${time}, outside ${sent.at}..${at} (sent..answered)`);
  }

  /** Release spans from the socket's end, and whether its close is one the contract allows. */
  private closing(conn: Conn, replaced: boolean, lastAnsweredSend: number): void {
    const p = (text: string) => this.problem(`${conn.name}: ${text}`);
    const identities = new Map<string, Identity>();
    for (const s of conn.sent)
      if (s.type === 'join') identities.set(key(s.room, s.user), { room: s.room, user: s.user });
    const spans = (from: number, to: number, what: string) => {
      for (const { room, user } of identities.values())
        this.release(room, user, { planet: null, from, to, what });
    };
    const closed = conn.closed;
    if (conn.ended !== null) {
      // The server applies our close at or after we closed; a server close may have come first.
      spans(conn.ended.at, Number.POSITIVE_INFINITY, `${conn.name} ${conn.ended.how}`);
      if (closed !== null && ![1000, 1005, 1006].includes(closed.code)) {
        // The server's close crossed ours: it must be one the server may decide on its own.
        if (![1001, 4001, 4008].includes(closed.code)) p(`closed unexpectedly: ${json(closed)}`);
        if (closed.code !== 4001)
          spans(Number.NEGATIVE_INFINITY, closed.at, `${conn.name} close ${closed.code}`);
      }
      return;
    }
    if (closed === null) {
      if (!conn.openAtEnd) p('neither closed nor open at the end');
      return;
    }
    switch (closed.code) {
      case 4001:
        // Taken over: the user (and its lock) lives on in another connection.
        if (!replaced) p('closed with 4001 without SESSION_REPLACED');
        return;
      case 4008:
        // The member was not seen for PRESENCE_TIMEOUT_MS: every answered frame counts as seen.
        if (closed.at - lastAnsweredSend < PRESENCE_TIMEOUT_MS) {
          p(
            `closed for presence expiry ${closed.at - lastAnsweredSend} ms after its last answered frame was sent`,
          );
        }
        spans(lastAnsweredSend + PRESENCE_TIMEOUT_MS, closed.at, `${conn.name} presence expiry`);
        return;
      case 1001:
        // An eviction: only if its process missed its liveness beats (an event loop stalled that long).
        spans(Number.NEGATIVE_INFINITY, closed.at, `${conn.name} evicted`);
        if (closed.reason.includes('missed')) p(`closed: ${closed.reason}`);
        return;
      default:
        p(`closed unexpectedly: ${json(closed)}`);
    }
  }

  private promise(room: string, planet: string, promised: Promised): void {
    this.push(this.promises, key(room, planet), promised);
  }

  private fence(room: string, planet: string, seen: FenceSeen): void {
    this.push(this.fences, key(room, planet), seen);
  }

  private release(room: string, user: string, release: Release): void {
    this.push(this.releases, key(room, user), release);
  }

  /** The cross-connection checks, once every connection was read. */
  finish(): void {
    for (const [k, promised] of this.promises) {
      const [room, planet] = k.split('\u0000') as [string, string];
      for (const a of promised) {
        for (const b of promised) {
          // Within one millisecond only fences tell which came first.
          const before =
            a.from < b.from ||
            (a.from === b.from && a.fence !== undefined && b.fence !== undefined && a.fence < b.fence);
          if (a.user === b.user || !before || b.from >= a.until) continue;
          const released = (this.releases.get(key(room, a.user)) ?? []).some(
            (r) =>
              (r.planet === null ||
                r.planet === planet ||
                (r.planet.startsWith('!') && r.planet !== `!${planet}`)) &&
              r.from <= b.from &&
              r.to >= a.from,
          );
          if (!released) {
            this.problem(
              `${room}/${planet}: ${a.user} was promised the lock from ${a.from} until ${a.until} (${a.what}) ` +
                `and ${b.user} got it at ${b.from} (${b.what}), with no release by ${a.user} in between`,
            );
          }
        }
      }
    }
    for (const [k, seen] of this.fences) {
      const [room, planet] = k.split('\u0000') as [string, string];
      for (const a of seen) {
        for (const b of seen) {
          if (a.fence === b.fence && a.user !== b.user) {
            this.problem(
              `${room}/${planet}: fence ${a.fence} given to ${a.user} (${a.what}) and ${b.user} (${b.what})`,
            );
          }
          if (a.seq < b.seq && a.fence > b.fence) {
            this.problem(
              `${room}/${planet}: fence ${a.fence} at seq ${a.seq} (${a.what}) but ${b.fence} at seq ${b.seq} (${b.what})`,
            );
          }
          if (a.seq === b.seq && a.fence !== b.fence) {
            this.problem(
              `${room}/${planet}: fences ${a.fence} and ${b.fence} at one seq ${a.seq} (${a.what}, ${b.what})`,
            );
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// A run

interface Stores {
  /** One per process (they may all be the same instance). */
  readonly perProc: readonly RoomStore[];
  close(): Promise<void>;
}

interface LogCall {
  readonly proc: string;
  readonly level: keyof Logger;
  readonly fields: object;
  readonly message: string | undefined;
}

function recordingLogger(proc: string, calls: LogCall[]): Logger {
  const at = (level: keyof Logger) => (fields: object, message?: string) => {
    calls.push({ proc, level, fields, message });
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

const unhandled: string[] = [];
const onUnhandled = (reason: unknown) => {
  unhandled.push(reason instanceof Error ? (reason.stack ?? reason.message) : String(reason));
};
beforeAll(() => {
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
  process.off('uncaughtException', onUnhandled);
});

/** Polls `check` (problems, or none) until it passes or `ms` elapse; returns the last problems. */
async function settle(check: () => Promise<string[]> | string[], ms: number): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const problems = await check();
    if (problems.length === 0 || Date.now() > deadline) return problems;
    await sleep(20);
  }
}

interface DocMember {
  readonly userId: string;
  readonly conn: string | null;
}
interface Doc {
  readonly live: boolean;
  readonly members: readonly DocMember[];
  readonly selected: readonly (readonly [string, readonly string[]])[];
}

async function loadDoc(store: RoomStore, room: string): Promise<Doc | null> {
  const { room: stored } = await store.load(room);
  return stored === null ? null : (JSON.parse(stored.doc) as Doc);
}

/** Convergence: the clients left in each room agree with each other and with the store. */
async function divergence(world: World, store: RoomStore): Promise<string[]> {
  const out: string[] = [];
  for (const room of ROOMS) {
    const doc = await loadDoc(store, room);
    // Read after the load: the clients' bindings move while it is awaited.
    const conns = world.conns.filter((c) => c.open && c.bound?.room === room);
    const connected = (doc?.live === true ? doc.members : [])
      .filter((m) => m.conn !== null)
      .map((m) => m.userId);
    const clientsIn = conns.map((c) => c.bound!.user);
    if (json([...connected].sort()) !== json([...clientsIn].sort())) {
      out.push(
        `${room}: connected members in the store ${json(connected)}, clients bound ${json(clientsIn)}`,
      );
    }
    const last = (c: Conn, type: 'presence' | 'selection_state') =>
      c.inbox.findLast((r) => r.room === room && r.msg.type === type)?.msg as
        | PresenceMessage
        | SelectionStateMessage
        | undefined;
    for (const c of conns) {
      const presence = last(c, 'presence') as PresenceMessage | undefined;
      const selection = last(c, 'selection_state') as SelectionStateMessage | undefined;
      const users = presence?.users.map((u) => [u.userId, u.connected]);
      const expected = doc?.members.map((m) => [m.userId, m.conn !== null]);
      if (json(users) !== json(expected))
        out.push(`${c.name} last presence ${json(users)}, store ${json(expected)}`);
      const shown = json(Object.entries(selection?.selected ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)));
      const stored = json([...(doc?.selected ?? [])].sort(([a], [b]) => (a < b ? -1 : 1)));
      if (shown !== stored) out.push(`${c.name} last selection_state ${shown}, store ${stored}`);
    }
    const shapes = new Set(
      conns.map((c) => json([last(c, 'presence')?.seq, last(c, 'selection_state')?.seq])),
    );
    if (shapes.size > 1)
      out.push(`${room}: clients' last (presence, selection_state) seqs differ: ${json([...shapes])}`);
  }
  return out;
}

async function scenario(sc: Scenario, makeStores: () => Promise<Stores>): Promise<void> {
  const random = mulberry32(sc.lagSeed);
  unhandled.length = 0;
  const logs: LogCall[] = [];
  const stores = await makeStores();
  const servers: ExoServer[] = [];
  const world = new World([]);
  const oracle = new Oracle(sc.graceMs);
  try {
    for (const [i, proc] of PROCS.entries()) {
      servers.push(
        await startServer({
          core: coreConfig(sc.graceMs),
          logger: recordingLogger(proc, logs),
          cluster: {
            store:
              sc.lagMs === 0 ? stores.perProc[i]! : new LaggingStore(stores.perProc[i]!, sc.lagMs, random),
            procId: proc,
          },
        }),
      );
    }
    Object.assign(world, { urls: servers.map((s) => `ws://127.0.0.1:${s.port}/`) });
    const clients = sc.clients.map((plan, i) => new Client(i, plan, world));
    // Everyone joins its own room and user at once: colliding users race across processes.
    await Promise.all(clients.map((c) => c.connect(c.plan.proc)));
    for (const c of clients) c.perform({ k: 'join', to: 'home', token: false });
    for (const round of sc.rounds) {
      const acts = round.acts.map(([i, act]) => [clients[i % clients.length]!, act] as const);
      for (const [client, act] of acts) await client.prepare(act);
      for (const [client, act] of acts) if (act.k !== 'reconnect' || client.conn?.open) client.perform(act);
      if (round.pause > 0) await sleep(round.pause);
    }

    // (1) Every frame answered: waited for here, checked in order by the oracle below.
    const unanswered = await settle(
      () => world.conns.filter((c) => c.open && !c.answered).map((c) => `${c.name} still waits for answers`),
      ANSWER_WAIT_MS,
    );
    for (const u of unanswered) oracle.problem(u);
    // (4) Convergence.
    for (const d of await settle(() => divergence(world, stores.perProc[0]!), CONVERGE_WAIT_MS)) {
      oracle.problem(`no convergence: ${d}`);
    }
    for (const c of world.conns) c.openAtEnd = c.open;
    // (5) Everyone goes (half drop their sockets: the reconnect grace, if any, runs out first).
    for (const [i, c] of clients.entries()) c.end(i % 2 === 0 ? 'drop' : 'hangup');
    const leftovers = await settle(async () => {
      const out: string[] = [];
      for (const room of ROOMS) {
        const doc = await loadDoc(stores.perProc[0]!, room);
        if (doc?.live === true) out.push(`room ${room} is live in the store: ${json(doc.members)}`);
      }
      for (const s of servers) {
        const { rooms, connections } = s.engine.stats();
        if (rooms !== 0 || connections !== 0 || s.connections !== 0) {
          out.push(
            `process ${s.procId}: ${rooms} rooms, ${connections} connections, ${s.connections} sockets`,
          );
        }
      }
      return out;
    }, EMPTY_WAIT_MS);
    for (const l of leftovers) oracle.problem(`after everyone left: ${l}`);

    // The cross-connection checks run over everything received.
    for (const c of world.conns) oracle.connection(c);
    oracle.finish();
    for (const l of logs)
      if (l.level === 'error') oracle.problem(`logged error: ${l.message} ${json(l.fields)}`);
    for (const u of unhandled) oracle.problem(`unhandled: ${u}`);
    if (oracle.problems.length > 0) {
      const warnings = logs
        .filter((l) => l.level === 'warn')
        .map((l) => `${l.proc} warn: ${l.message} ${json(l.fields)}`);
      throw new Error(
        [...oracle.problems, ...warnings.slice(0, 10), '--- transcript ---', ...transcript(world)].join('\n'),
      );
    }
  } finally {
    for (const c of world.conns) c.ws.terminate();
    await Promise.all(servers.map((s) => s.close()));
    await stores.close();
  }
}

/** What each connection sent and received, in order, for a failure's report. */
function transcript(world: World): string[] {
  const lines: string[] = [];
  const t0 = Math.min(...world.conns.flatMap((c) => c.sent.map((s) => s.at)));
  for (const c of world.conns) {
    const events = [
      ...c.sent.map((s) => ({
        at: s.at,
        text: `> ${s.type} ${s.room}/${s.user}${s.planet ? ` ${s.planet}` : ''} rid ${s.rid}`,
      })),
      ...c.inbox.map((r) => ({ at: r.at, text: `< ${json(r.msg)}` })),
      ...(c.ended ? [{ at: c.ended.at, text: `x ${c.ended.how}` }] : []),
      ...(c.closed ? [{ at: c.closed.at, text: `x closed ${c.closed.code} ${c.closed.reason}` }] : []),
    ].sort((a, b) => a.at - b.at);
    lines.push(`${c.name}:`, ...events.map((e) => `  +${e.at - t0} ${e.text.slice(0, 240)}`));
  }
  return lines.slice(0, 400);
}

/** A small seeded PRNG (mulberry32): the lags of a run follow from its scenario. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A process's view of the store over a slow network: its loads and commits leave up to `lagMs`
 * late, and it hears its channel up to `lagMs` late, in publication order (as a Redis subscriber
 * does). Camera relays and the bookkeeping calls pass through.
 */
class LaggingStore implements RoomStore {
  constructor(
    private readonly inner: RoomStore,
    private readonly lagMs: number,
    private readonly random: () => number,
  ) {}
  private async lag(): Promise<void> {
    await sleep(Math.floor(this.random() * (this.lagMs + 1)));
  }
  get up(): boolean {
    return this.inner.up;
  }
  async load(roomId: string) {
    await this.lag();
    return this.inner.load(roomId);
  }
  async commit(commit: Parameters<RoomStore['commit']>[0]) {
    await this.lag();
    return this.inner.commit(commit);
  }
  relay(write: Parameters<RoomStore['relay']>[0]) {
    return this.inner.relay(write);
  }
  subscribe(proc: string, onMessage: (payload: string) => void) {
    let tail = Promise.resolve();
    return this.inner.subscribe(proc, (payload) => {
      tail = tail.then(() => this.lag()).then(() => onMessage(payload));
    });
  }
  dueRooms(now: number, limit: number) {
    return this.inner.dueRooms(now, limit);
  }
  nextDeadline() {
    return this.inner.nextDeadline();
  }
  beat(proc: string, ttlMs: number) {
    return this.inner.beat(proc, ttlMs);
  }
  deadProcs() {
    return this.inner.deadProcs();
  }
  roomsOf(proc: string) {
    return this.inner.roomsOf(proc);
  }
  forget(proc: string) {
    return this.inner.forget(proc);
  }
  ping() {
    return this.inner.ping();
  }
  onStatus(listener: (up: boolean) => void) {
    this.inner.onStatus(listener);
  }
  /** The inner store is closed by its owner. */
  async close() {}
}

function memoryStores(): Promise<Stores> {
  const store = new InMemoryRoomStore();
  return Promise.resolve({ perProc: PROCS.map(() => store), close: async () => {} });
}

// CLUSTER_FUZZ_RUNS / CLUSTER_FUZZ_REDIS_RUNS run more (a bug hunt); the time limit grows with them.
const MEMORY_RUNS = Number(process.env.CLUSTER_FUZZ_RUNS ?? 20);
const REDIS_RUNS = Number(process.env.CLUSTER_FUZZ_REDIS_RUNS ?? 5);
/**
 * Bounds a whole property, shrinking included; running out fails it instead of passing it. The
 * limit is checked between runs: the test's own timeout leaves room for one more failing run (its
 * waits for answers, convergence and emptiness all running out) so the counterexample is printed.
 */
const timeLimit = (runs: number) => Math.max(60_000, runs * 6000);
const settings = (numRuns: number) => ({
  numRuns,
  plugins: [fc.interruptAfterTimeLimit(timeLimit(numRuns), { failOnInterrupt: true })],
});

describe('three processes on one in-memory store under random traffic', () => {
  it(
    'answer once and in order, never give one lock to two users, keep one order per room, converge and leave nothing',
    async () => {
      await fc.assert(
        fc.asyncProperty(scenarioArb, (sc) => scenario(sc, memoryStores)),
        settings(MEMORY_RUNS),
      );
    },
    timeLimit(MEMORY_RUNS) + RUN_MAX_MS,
  );
});

describeWithRedis('three processes on one Redis under random traffic', (redis) => {
  let run = 0;
  const redisStores = async (): Promise<Stores> => {
    const keyPrefix = `cluster-fuzz-${process.pid}-${++run}:`;
    const perProc = await Promise.all(PROCS.map(() => RedisRoomStore.connect(redis().url, { keyPrefix })));
    return { perProc, close: async () => void (await Promise.all(perProc.map((s) => s.close()))) };
  };
  it(
    'keep the same properties',
    async () => {
      await fc.assert(
        fc.asyncProperty(scenarioArb, (sc) => scenario(sc, redisStores)),
        settings(REDIS_RUNS),
      );
    },
    timeLimit(REDIS_RUNS) + RUN_MAX_MS,
  );
});

// Counterexamples the properties found (the first two on Redis), made deterministic.
describe('a takeover on the process of the connection it replaces', () => {
  const server = serverPerTest();

  it('does not relay the user its own camera, sent by the old connection while the takeover was applied', async () => {
    const store = new InMemoryRoomStore();
    // While `stall` is set, this process's commits wait for it: the takeover's join is held.
    let stall: Promise<void> | null = null;
    let reached: () => void = () => {};
    const stalling = new Proxy(store, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver);
        if (key !== 'commit') return typeof value === 'function' ? value.bind(target) : value;
        return async (commit: Parameters<InMemoryRoomStore['commit']>[0]) => {
          if (stall !== null) {
            reached();
            await stall;
          }
          return target.commit(commit);
        };
      },
    });
    const a = await server({ cluster: { store: stalling, procId: 'a' } });
    const old = await connect(a.url);
    old.send({ type: 'join', roomId: 'room', user: { userId: 'u0' }, rid: 'j' });
    const { resumeToken } = (await old.until('ack')).at(-1) as { resumeToken: string };
    old.send({ type: 'join_viewer', userId: 'u0', planetId: 'p', rid: 'v' });
    await old.until('ack');
    let release: () => void = () => {};
    stall = new Promise<void>((resolve) => {
      release = resolve;
    });
    const atCommit = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const moved = await connect(a.url);
    moved.send({ type: 'join', roomId: 'room', user: { userId: 'u0' }, resumeToken, rid: 't' });
    await atCommit;
    // The old connection still views p: its camera is relayed, while the new one holds relays.
    old.send({ type: 'camera', userId: 'u0', planetId: 'p', camera: { position: [1, 0, 0] } });
    await old.quiet(50);
    stall = null;
    release();
    const welcome = await moved.until('ack');
    expect(welcome.map((m) => m.type)).toEqual(['presence', 'selection_state', 'viewer_cameras', 'ack']);
    expect(welcome.at(-1)).toMatchObject({ op: 'join', viewing: ['p'], rid: 't' });
    expect(await old.next('error')).toMatchObject({ code: 'SESSION_REPLACED' });
    await moved.quiet(100);
  });
});

describe('a connection replaced on another process, before its own process hears of it', () => {
  const server = serverPerTest();

  it('gets no answer to a frame sent after the takeover, like a connection one process closed', async () => {
    const store = new InMemoryRoomStore();
    // Process a hears of room steps 150 ms late: the takeover's close has not reached it yet.
    const late = new Proxy(store, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver);
        if (key !== 'subscribe') return typeof value === 'function' ? value.bind(target) : value;
        return (proc: string, onMessage: (payload: string) => void) =>
          target.subscribe(proc, (payload) => {
            setTimeout(() => onMessage(payload), 150);
          });
      },
    });
    const a = await server({ cluster: { store: late, procId: 'a' } });
    const b = await server({ cluster: { store, procId: 'b' } });
    const old = await connect(a.url);
    old.send({ type: 'join', roomId: 'room', user: { userId: 'u0' }, rid: 'j' });
    const { resumeToken } = (await old.until('ack')).at(-1) as { resumeToken: string };
    old.send({ type: 'join_viewer', userId: 'u0', planetId: 'p', rid: 'v' });
    await old.until('ack');
    const moved = await connect(b.url);
    moved.send({ type: 'join', roomId: 'room', user: { userId: 'u0' }, resumeToken, rid: 't' });
    await moved.until('ack');
    // The room ignores the join_viewer (it closed the connection); the camera must be ignored too.
    old.send({ type: 'join_viewer', userId: 'u0', planetId: 'p', rid: 'v2' });
    old.send({ type: 'camera', userId: 'u0', planetId: 'p', camera: { position: [1, 0, 0] }, rid: 'c' });
    expect(await old.next('error')).toMatchObject({ code: 'SESSION_REPLACED' });
    expect(await old.closed()).toEqual({ code: 4001, reason: 'session replaced' });
  });
});

describe('a viewer whose join_viewer is being applied while another viewer leaves', () => {
  const server = serverPerTest();

  it('is not relayed the camera of the viewer that left, after the presence without it', async () => {
    const store = new InMemoryRoomStore();
    // While `stall` is set, process b's commits wait for it: bob's join_viewer holds relays.
    let stall: Promise<void> | null = null;
    let reached: () => void = () => {};
    const stalling = new Proxy(store, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver);
        if (key !== 'commit') return typeof value === 'function' ? value.bind(target) : value;
        return async (commit: Parameters<InMemoryRoomStore['commit']>[0]) => {
          if (stall !== null) {
            reached();
            await stall;
          }
          return target.commit(commit);
        };
      },
    });
    const a = await server({ cluster: { store, procId: 'a' } });
    const b = await server({ cluster: { store: stalling, procId: 'b' } });
    const alice = await connect(a.url);
    alice.send({ type: 'join', roomId: 'room', user: { userId: 'alice' }, rid: 'j' });
    await alice.until('ack');
    alice.send({ type: 'join_viewer', userId: 'alice', planetId: 'p', rid: 'v' });
    await alice.until('ack');
    const bob = await connect(b.url);
    bob.send({ type: 'join', roomId: 'room', user: { userId: 'bob' }, rid: 'j' });
    await bob.until('ack');
    await alice.next('presence');
    let release: () => void = () => {};
    stall = new Promise<void>((resolve) => {
      release = resolve;
    });
    const atCommit = new Promise<void>((resolve) => {
      reached = resolve;
    });
    bob.send({ type: 'join_viewer', userId: 'bob', planetId: 'p', rid: 'bv' });
    await atCommit;
    alice.send({ type: 'camera', userId: 'alice', planetId: 'p', camera: { position: [1, 0, 0] } });
    alice.send({ type: 'leave', userId: 'alice', rid: 'l' });
    await alice.until('ack');
    expect((await bob.next('presence')).users.map((u) => u.userId)).toEqual(['bob']);
    stall = null;
    release();
    expect(await bob.next('viewer_cameras')).toMatchObject({ planetId: 'p', cameras: {} });
    expect(await bob.next('ack')).toMatchObject({ op: 'join_viewer', rid: 'bv' });
    await bob.quiet(100);
  });
});
