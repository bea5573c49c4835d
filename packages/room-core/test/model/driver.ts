// The real system of the model-based tests: a RoomEngine on a manual clock, driven one command
// at a time. Every step is checked three ways: against the model's prediction (the answer, the
// closes, the whole state), against the state invariants (checks.ts), and against the rules of
// what one step delivers (one answer, last; seq order; presence and selection_state when, and
// only when, they changed; camera relays and the final camera). Every command applied is
// recorded with its frame text, so the run can be replayed on a fresh engine.

import { type CameraState, parseClientMessage, type Rid, type ServerMessage } from '@exo/protocol';
import {
  type Command,
  type CoreConfig,
  type CoreSnapshot,
  CountingTokens,
  type Effect,
  ManualClock,
  RoomEngine,
  type RoomSnapshot,
} from '../../src/index.js';
import {
  bindingOf,
  checkInvariants,
  checkOrdering,
  deliver,
  type Inbox,
  isAnswer,
  isStateMessage,
  memberOf,
  must,
  othersCameras,
  presenceUsers,
  roomOf,
  same,
  selectedRecord,
  sharedState,
  viewOf,
  withoutSenderLastSeen,
} from './checks.js';
import type { CloseCode, FrameOutcome, FrameSpec, Model } from './model.js';

export interface TraceEntry {
  readonly command: Command;
  /** A frame's text: replays parse it again, so no two engines share a decoded message. */
  readonly text?: string;
}

interface FrameContext {
  readonly conn: string;
  readonly spec: FrameSpec;
  readonly outcome: FrameOutcome;
  readonly rid: Rid | undefined;
}

interface StepContext {
  readonly closes: [string, CloseCode][];
  readonly opened?: string;
  readonly frame?: FrameContext;
}

export class Driver {
  readonly clock: ManualClock;
  readonly engine: RoomEngine;
  readonly trace: TraceEntry[] = [];
  /** JSON of each step's effects, in order. */
  readonly effectLog: string[] = [];
  private readonly tokens = new CountingTokens('resume-');
  private rids = 0;
  /** Highest seq each connection saw per room; highest seq each room id ever had. */
  private readonly seenSeq = new Map<string, number>();
  private readonly roomSeq = new Map<string, number>();
  /** Last fence granted per room and planet. */
  private readonly fences = new Map<string, number>();
  /** What each connection knows of others' cameras: conn → planet → user → camera. */
  private readonly knowledge = new Map<string, Map<string, Map<string, CameraState>>>();

  constructor(
    config: Partial<CoreConfig>,
    readonly start: number,
  ) {
    this.clock = new ManualClock(start);
    this.engine = new RoomEngine({ config, clock: this.clock, tokens: this.tokens });
  }

  get config(): CoreConfig {
    return this.engine.config;
  }

  advance(m: Model, ms: number, tick: boolean): void {
    this.clock.advance(ms);
    m.clock = this.clock.now();
    if (tick) this.step(m, { type: 'tick', at: m.clock }, undefined, { closes: m.advanceTo(m.clock) });
  }

  open(m: Model, owner: string): string {
    const at = this.clock.now();
    const closes = m.advanceTo(at);
    const conn = m.openConn(owner);
    this.step(m, { type: 'open', conn, at }, undefined, { closes, opened: conn });
    return conn;
  }

  close(m: Model, conn: string, kind: 'network' | 'other'): void {
    const at = this.clock.now();
    const closes = m.advanceTo(at);
    m.close(conn, kind);
    this.step(m, { type: 'close', conn, at, kind }, undefined, { closes });
  }

  frame(m: Model, conn: string, spec: FrameSpec): void {
    const at = this.clock.now();
    const closes = m.advanceTo(at);
    const n = this.rids++;
    const rid = n % 3 === 0 ? undefined : n % 3 === 1 ? `q${n}` : n;
    const text = frameText(spec, rid);
    const input = parseClientMessage(text);
    const token = input.ok && input.message.type === 'join' ? this.tokens.next() : undefined;
    const outcome = m.frame(conn, spec, token ?? '');
    if (outcome.replaced !== null) closes.push([outcome.replaced, 4001]);
    const command: Command =
      token === undefined ? { type: 'frame', conn, at, input } : { type: 'frame', conn, at, input, token };
    const echoed = input.ok ? input.message.rid : input.error.rid;
    this.step(m, command, text, { closes, frame: { conn, spec, outcome, rid: echoed } });
  }

  private step(m: Model, command: Command, text: string | undefined, ctx: StepContext): void {
    const pre = this.engine.inspect();
    const due = this.engine.nextDeadline();
    // A clean step applies the command alone: no deadline came due before it.
    const clean = due === null || due > command.at;
    const effects = this.engine.apply(command);
    this.trace.push(text === undefined ? { command } : { command, text });
    this.effectLog.push(JSON.stringify(effects));
    const post = this.engine.inspect();

    const open = new Set(pre.conns.map((c) => c.conn));
    if (ctx.opened !== undefined) {
      open.add(ctx.opened);
      if (clean) same(effects, [], 'opening a connection says nothing');
    }
    const inbox = deliver(effects, open);
    const closes = effects.flatMap((e) => (e.type === 'close' ? [[e.conn, e.code] as const] : []));
    same(sortPairs(closes), sortPairs(ctx.closes), 'the connections the core closed');

    if (ctx.frame !== undefined) this.checkAnswer(m, pre, post, inbox, ctx.frame, clean, command.at);
    for (const [conn, messages] of inbox) {
      if (conn !== ctx.frame?.conn)
        must(!messages.some(isAnswer), `${conn} got an answer to nothing it sent`);
    }
    const replaced = ctx.frame?.outcome.replaced;
    if (replaced != null) {
      const old = inbox.get(replaced) ?? [];
      const last = old.at(-1);
      must(
        last?.type === 'error' && last.code === 'SESSION_REPLACED',
        `${replaced} was not told it was replaced`,
      );
      if (clean) must(old.length === 1, `${replaced} heard more than why it was replaced`);
    }

    same(projectCore(post), projectModel(m), 'the core against the model');
    checkInvariants(post, this.config);
    this.checkSeqs(pre, post, inbox, clean);
    this.checkStateMessages(post, inbox, clean);
    if (clean) this.checkBroadcasts(pre, post, inbox, ctx.frame);
    this.checkCameras(pre, post, effects, ctx.frame, clean, command.at);
  }

  private checkAnswer(
    m: Model,
    pre: CoreSnapshot,
    post: CoreSnapshot,
    inbox: Inbox,
    frame: FrameContext,
    clean: boolean,
    at: number,
  ): void {
    const { conn, spec, outcome, rid } = frame;
    const got = inbox.get(conn) ?? [];
    const answers = got.filter(isAnswer);
    const e = outcome.expected;
    if (e.kind === 'ignored' || e.kind === 'silent') {
      same(answers, [], `no answer expected to ${spec.type} (${e.kind})`);
      return;
    }
    must(answers.length === 1, `${answers.length} answers to ${spec.type}: ${JSON.stringify(got)}`);
    const answer = answers[0]!;
    must(got.at(-1) === answer, `the answer to ${spec.type} is not last: ${JSON.stringify(got)}`);
    const withRid = rid === undefined ? {} : { rid };
    if (e.kind === 'error') {
      const message = answer.type === 'error' ? answer.message : '(a message)';
      must(message.length > 0, 'an error says what went wrong');
      const op = e.op === undefined ? {} : { op: e.op };
      same(
        answer,
        { type: 'error', ok: false, code: e.code, message, ...op, ...withRid },
        `answer to ${spec.type}`,
      );
    } else if (e.kind === 'conflict') {
      const conflict = { planetId: e.planet, lockedBy: e.lockedBy, reason: 'locked', expiresAt: e.expiresAt };
      same(answer, { type: 'conflict', ...conflict, ...withRid }, `answer to ${spec.type}`);
    } else {
      same(answer, this.expectedAck(m, frame, answer, at), `answer to ${spec.type}`);
    }
    if (e.kind !== 'ack' && clean) {
      same(
        withoutSenderLastSeen(post, conn),
        withoutSenderLastSeen(pre, conn),
        `a rejected ${spec.type} changed the state`,
      );
    }
    if (spec.type === 'leave' && e.kind === 'ack' && clean)
      same(got, [answer], 'the leaver gets only its ack');
  }

  private expectedAck(m: Model, frame: FrameContext, answer: ServerMessage, at: number): unknown {
    const { conn, spec, outcome, rid } = frame;
    const base = { type: 'ack', op: spec.type, ok: true, ...(rid === undefined ? {} : { rid }) };
    const owner = m.conns.get(conn)!;
    const member = owner.room === null ? undefined : m.member(owner.room, owner.owner);
    if (spec.type === 'join') {
      const joined = m.member(spec.room, spec.user)!;
      const viewing = answer.type === 'ack' ? (answer.viewing ?? []) : [];
      same([...viewing].sort(), [...joined.viewing].sort(), 'join ack: viewing');
      const lock = joined.selection;
      return {
        ...base,
        resumeToken: joined.token,
        viewing,
        ...(lock === null
          ? {}
          : { lock: { planetId: lock.planet, expiresAt: lock.expiresAt, ...fenceOf(lock.fence) } }),
      };
    }
    if (spec.type === 'heartbeat') {
      const expiresAt = member?.selection?.expiresAt;
      return { ...base, ts: spec.ts, serverTs: at, ...(expiresAt === undefined ? {} : { expiresAt }) };
    }
    if (spec.type === 'select') {
      const selection = member!.selection!;
      if (outcome.granted && this.config.selectionMode === 'exclusive' && answer.type === 'ack') {
        // A new grant's fence is at least now × 1000 and above every fence this room and planet had.
        const key = `${owner.room}\u0000${spec.planet}`;
        const fence = answer.fence ?? 0;
        must(fence >= at * 1000, `fence ${fence} below now × 1000`);
        must(fence > (this.fences.get(key) ?? 0), `fence ${fence} did not grow`);
        this.fences.set(key, fence);
        selection.fence = fence;
      }
      return { ...base, expiresAt: selection.expiresAt, ...fenceOf(selection.fence) };
    }
    return base;
  }

  private checkSeqs(pre: CoreSnapshot, post: CoreSnapshot, inbox: Inbox, clean: boolean): void {
    for (const [conn, messages] of inbox) {
      for (const message of messages) {
        if (!isStateMessage(message)) continue;
        const binding = bindingOf(post, conn) ?? bindingOf(pre, conn);
        if (binding === null) throw new Error(`${conn} got ${message.type} but belongs to no room`);
        const key = `${conn}\u0000${binding.room}`;
        const last = this.seenSeq.get(key) ?? 0;
        must(message.seq >= last, `${conn}: seq went back from ${last} to ${message.seq} in ${binding.room}`);
        this.seenSeq.set(key, message.seq);
        const room = roomOf(post, binding.room);
        if (clean && room !== undefined) {
          must(message.seq === room.seq, `${conn}: ${message.type} seq ${message.seq}, room at ${room.seq}`);
        }
      }
    }
    for (const room of post.rooms) {
      const before = roomOf(pre, room.roomId);
      if (before === undefined) {
        const last = this.roomSeq.get(room.roomId) ?? -1;
        must(room.seq > last, `re-created ${room.roomId} starts at seq ${room.seq}, not above ${last}`);
      } else if (clean) {
        const rise = sharedState(before) !== sharedState(room) ? 1 : 0;
        must(
          room.seq === before.seq + rise,
          `${room.roomId}: seq ${before.seq} → ${room.seq}, expected +${rise}`,
        );
      }
      this.roomSeq.set(room.roomId, room.seq);
    }
  }

  /** The last presence and selection_state each member got describe the room as it now is. */
  private checkStateMessages(post: CoreSnapshot, inbox: Inbox, clean: boolean): void {
    for (const [conn, messages] of inbox) {
      const binding = bindingOf(post, conn);
      if (binding === null) continue;
      const room = roomOf(post, binding.room)!;
      const presence = messages.findLast((m) => m.type === 'presence');
      if (presence?.type === 'presence') {
        const users = clean ? presence.users : presence.users.map(({ lastSeen: _, ...u }) => u);
        same(users, presenceUsers(room, clean), `${conn}: presence`);
      }
      const selection = messages.findLast((m) => m.type === 'selection_state');
      if (selection?.type === 'selection_state') {
        same(selection.selected, selectedRecord(room), `${conn}: selection_state`);
      }
      for (const m of messages) {
        if (m.type !== 'viewer_cameras') continue;
        const views = viewOf(memberOf(post, binding.room, binding.user), m.planetId);
        must(views !== undefined, `${conn} got viewer_cameras of ${m.planetId}, which it does not view`);
        if (clean) same(m.cameras, othersCameras(room, m.planetId, binding.user), `${conn}: viewer_cameras`);
      }
      if (clean) checkOrdering(conn, messages);
    }
  }

  /** In a one-command step, presence and selection_state go to everyone iff they changed. */
  private checkBroadcasts(pre: CoreSnapshot, post: CoreSnapshot, inbox: Inbox, frame?: FrameContext): void {
    const joiner = frame?.spec.type === 'join' && frame.outcome.expected.kind === 'ack' ? frame.conn : null;
    const people = (r?: RoomSnapshot) => JSON.stringify(r?.members.map((m) => [m.userId, m.profile, m.conn]));
    const picks = (r?: RoomSnapshot) => JSON.stringify(r?.selected);
    for (const room of post.rooms) {
      const before = roomOf(pre, room.roomId);
      const changes = [
        ['presence', people(before) !== people(room)],
        ['selection_state', picks(before) !== picks(room)],
      ] as const;
      for (const [type, changed] of changes) {
        for (const member of room.members) {
          if (member.conn === null) continue;
          const got = (inbox.get(member.conn) ?? []).some((m) => m.type === type);
          if (changed) must(got, `${member.conn} missed ${type} of ${room.roomId}`);
          else if (member.conn !== joiner) must(!got, `${member.conn} got ${type} with no change`);
        }
      }
    }
  }

  private checkCameras(
    pre: CoreSnapshot,
    post: CoreSnapshot,
    effects: readonly Effect[],
    frame: FrameContext | undefined,
    clean: boolean,
    at: number,
  ): void {
    for (const effect of effects) {
      if (effect.type !== 'send') continue;
      const { message } = effect;
      if (message.type === 'camera') {
        for (const to of effect.to) {
          const binding = bindingOf(pre, to);
          const viewers = roomOf(pre, binding?.room ?? '')?.viewers.find(
            ([p]) => p === message.planetId,
          )?.[1];
          must(
            binding !== null && binding.user !== message.userId,
            `${to} got its own camera, or is unbound`,
          );
          must(viewers?.includes(binding!.user) === true, `${to} got a camera of a planet it does not view`);
          must(viewers?.includes(message.userId) === true, `${to} got the camera of a non-viewer`);
          this.known(to, message.planetId).set(message.userId, structuredClone(message.camera));
        }
      } else if (message.type === 'viewer_cameras') {
        for (const to of effect.to) {
          const planets = this.knowledge.get(to) ?? new Map<string, Map<string, CameraState>>();
          this.knowledge.set(to, planets);
          planets.set(message.planetId, new Map(Object.entries(structuredClone(message.cameras))));
        }
      }
    }
    if (clean && frame?.spec.type === 'camera' && frame.outcome.expected.kind === 'silent') {
      this.checkThrottle(pre, post, effects, frame.conn, frame.spec, at);
    }
    // The final camera is never lost: once nothing is pending on a planet, every connected viewer
    // knows exactly the last camera of every other viewer that sent one.
    for (const room of post.rooms) {
      for (const [planetId, users] of room.viewers) {
        const viewers = room.members.filter((m) => users.includes(m.userId));
        if (viewers.some((m) => viewOf(m, planetId)!.pending !== null)) continue;
        for (const viewer of viewers) {
          if (viewer.conn === null) continue;
          const known = Object.fromEntries(this.known(viewer.conn, planetId));
          same(
            known,
            othersCameras(room, planetId, viewer.userId),
            `${viewer.conn} lost a camera of ${planetId}`,
          );
        }
      }
    }
  }

  /** CONTRACT §6: the first camera after a quiet interval goes at once, later ones wait. */
  private checkThrottle(
    pre: CoreSnapshot,
    post: CoreSnapshot,
    effects: readonly Effect[],
    conn: string,
    spec: Extract<FrameSpec, { type: 'camera' }>,
    at: number,
  ): void {
    const { room, user } = bindingOf(pre, conn)!;
    const before = viewOf(memberOf(pre, room, user), spec.planet)!;
    const after = viewOf(memberOf(post, room, user), spec.planet)!;
    const sent = cameraOf(spec.x);
    const quiet =
      before.pending === null &&
      (before.lastRelayAt === null || at >= before.lastRelayAt + this.config.cameraMinIntervalMs);
    const relayedTo = effects.flatMap((e) =>
      e.type === 'send' &&
      e.message.type === 'camera' &&
      e.message.userId === user &&
      e.message.planetId === spec.planet
        ? [...e.to]
        : [],
    );
    same(after.camera, sent, 'the last camera is stored');
    if (quiet) {
      const others = roomOf(post, room)!.members.filter(
        (m) => m.userId !== user && m.conn !== null && viewOf(m, spec.planet) !== undefined,
      );
      same(
        relayedTo.sort(),
        others.map((m) => m.conn!).sort(),
        'a camera after a quiet interval goes at once to the other viewers',
      );
      must(after.pending === null && after.lastRelayAt === at, 'a relayed camera leaves nothing pending');
    } else {
      same(relayedTo, [], 'a camera inside the interval waits');
      same(after.pending, sent, 'the latest camera is kept for the end of the interval');
      must(after.lastRelayAt === before.lastRelayAt, 'a held camera does not move the interval');
    }
  }

  private known(conn: string, planetId: string): Map<string, CameraState> {
    const planets = this.knowledge.get(conn) ?? new Map<string, Map<string, CameraState>>();
    this.knowledge.set(conn, planets);
    const cameras = planets.get(planetId) ?? new Map<string, CameraState>();
    planets.set(planetId, cameras);
    return cameras;
  }
}

/** Applies a recorded run to a fresh engine; returns the JSON of each step's effects. */
export function replay(config: Partial<CoreConfig>, start: number, trace: readonly TraceEntry[]): string[] {
  const engine = new RoomEngine({
    config,
    clock: new ManualClock(start),
    tokens: new CountingTokens('unused-'),
  });
  return trace.map(({ command, text }) => {
    const fresh =
      command.type === 'frame' && text !== undefined
        ? { ...command, input: parseClientMessage(text) }
        : command;
    return JSON.stringify(engine.apply(fresh));
  });
}

export function cameraOf(x: number): CameraState {
  return { position: [x, 1, 2] };
}

export function frameText(spec: FrameSpec, rid: Rid | undefined): string {
  const r = rid === undefined ? {} : { rid };
  switch (spec.type) {
    case 'join': {
      const user = spec.name === undefined ? { userId: spec.user } : { userId: spec.user, name: spec.name };
      const token = spec.resumeToken === undefined ? {} : { resumeToken: spec.resumeToken };
      return JSON.stringify({ type: 'join', roomId: spec.room, user, ...token, ...r });
    }
    case 'leave':
      return JSON.stringify({ type: 'leave', userId: spec.user, ...r });
    case 'camera':
      return JSON.stringify({
        type: 'camera',
        planetId: spec.planet,
        userId: spec.user,
        camera: cameraOf(spec.x),
        ...r,
      });
    case 'heartbeat':
      return JSON.stringify({ type: 'heartbeat', userId: spec.user, ts: spec.ts, ...r });
    case 'malformed':
      return malformedText(spec, r);
    default:
      return JSON.stringify({ type: spec.type, planetId: spec.planet, userId: spec.user, ...r });
  }
}

function malformedText(spec: Extract<FrameSpec, { type: 'malformed' }>, r: { rid?: Rid }): string {
  const { user: userId, planet: planetId } = spec;
  switch (spec.kind) {
    case 'bad_json':
      return '{"type":"select",';
    case 'not_object':
      return '[1,2]';
    case 'no_type':
      return JSON.stringify({ userId, ...r });
    case 'unknown_type':
      return JSON.stringify({ type: 'dance', userId, ...r });
    case 'bad_shape':
      return JSON.stringify({ type: 'select', planetId: '', userId, ...r });
    case 'extra_key':
      return JSON.stringify({ type: 'heartbeat', userId, ts: 1, extra: true, ...r });
    case 'bad_camera':
      return JSON.stringify({ type: 'camera', planetId, userId, camera: { position: [1, 2] }, ...r });
  }
}

function fenceOf(fence: number | null): { fence?: number } {
  return fence === null ? {} : { fence };
}

function sortPairs(pairs: readonly (readonly [string, number])[]): string[] {
  return pairs.map(([conn, code]) => `${conn} ${code}`).sort();
}

/** The part of the core's state the model predicts. */
export function projectCore(s: CoreSnapshot): unknown {
  return {
    rooms: Object.fromEntries(
      s.rooms.map((r) => [
        r.roomId,
        Object.fromEntries(
          r.members.map((m) => [
            m.userId,
            {
              conn: m.conn,
              joinedAt: m.joinedAt,
              lastSeen: m.lastSeen,
              graceUntil: m.graceUntil,
              name: m.profile.name ?? null,
              selection: m.selection && {
                planet: m.selection.planetId,
                expiresAt: m.selection.expiresAt,
                fence: m.selection.fence,
              },
              viewing: m.viewing.map((v) => v.planetId).sort(),
            },
          ]),
        ),
      ]),
    ),
    conns: Object.fromEntries(
      s.conns.map((c) => [
        c.conn,
        { room: c.roomId, user: c.userId, unboundSince: c.roomId === null ? c.unboundSince : null },
      ]),
    ),
  };
}

export function projectModel(m: Model): unknown {
  return {
    rooms: Object.fromEntries(
      [...m.rooms].map(([roomId, members]) => [
        roomId,
        Object.fromEntries(
          [...members.values()].map((mm) => [
            mm.user,
            {
              conn: mm.conn,
              joinedAt: mm.joinedAt,
              lastSeen: mm.lastSeen,
              graceUntil: mm.graceUntil,
              name: mm.name ?? null,
              selection: mm.selection && { ...mm.selection },
              viewing: [...mm.viewing].sort(),
            },
          ]),
        ),
      ]),
    ),
    conns: Object.fromEntries(
      [...m.conns.values()]
        .filter((c) => c.open)
        .map((c) => [
          c.id,
          {
            room: c.room,
            user: c.room === null ? null : c.owner,
            unboundSince: c.room === null ? c.unboundSince : null,
          },
        ]),
    ),
  };
}
