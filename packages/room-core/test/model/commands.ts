// The commands of the model-based tests, one small class per action (fast-check's
// check / run / toString), and the arbitrary that mixes them. A command names a user and which
// of that user's connections it uses; which connection that is, and which resume token is
// current, are looked up in the model when the command runs, so shrinking keeps them valid.

import fc from 'fast-check';
import type { Driver } from './driver.js';
import type { FrameSpec, MalformedKind, MConn, Model } from './model.js';

export type ModelCommand = fc.Command<Model, Driver>;

export const USERS = ['u0', 'u1', 'u2', 'u3', 'u4'] as const;
export const ROOMS = ['r0', 'r1'] as const;
// Ids a careless core would trip on: they must behave like any other id (CONTRACT §2).
export const PLANETS = ['p0', '__proto__', 'constructor'] as const;

/**
 * Which connection a command uses: the n-th of those whose user views a planet (none: the
 * command is skipped), of the bound ones (falling back to the open ones when there are none), of
 * the open ones, or (stale) of every connection ever opened, so that frames and
 * closes also reach connections the core no longer knows.
 */
export interface ConnPick {
  readonly n: number;
  readonly among: 'viewer' | 'bound' | 'open' | 'stale';
}

function pickConn(m: Readonly<Model>, pick: ConnPick): MConn | undefined {
  const all = [...m.conns.values()];
  const open = all.filter((c) => c.open);
  const bound = open.filter((c) => c.room !== null);
  const viewers = bound.filter((c) => (m.member(c.room!, c.owner)?.viewing.size ?? 0) > 0);
  // Viewers who share a planet with someone else in their room come first: their cameras relay.
  const sharing = viewers.filter((c) => mostViewed(m, c) !== undefined);
  const conns =
    pick.among === 'stale'
      ? all
      : pick.among === 'viewer'
        ? sharing.length > 0
          ? sharing
          : viewers
        : pick.among === 'open' || bound.length === 0
          ? open
          : bound;
  return conns.length === 0 ? undefined : conns[pick.n % conns.length];
}

const describePick = (pick: ConnPick) => `${pick.among}[${pick.n}]`;

/** Planet placeholders resolved when the command runs: one the sender views, or the one it selects. */
export const VIEWED = '<viewed>';
export const SELECTED = '<selected>';

function resolvePlanet(m: Readonly<Model>, conn: MConn, planet: string): string {
  if (planet !== VIEWED && planet !== SELECTED) return planet;
  const member = conn.room === null ? undefined : m.member(conn.room, conn.owner);
  const viewed = mostViewed(m, conn) ?? [...(member?.viewing ?? [])].sort()[0];
  return (planet === VIEWED ? viewed : member?.selection?.planet) ?? PLANETS[0];
}

/** A planet the connection's user views along with another member of its room, if any. */
function mostViewed(m: Readonly<Model>, conn: MConn): string | undefined {
  const members = conn.room === null ? undefined : m.rooms.get(conn.room);
  const viewing = members?.get(conn.owner)?.viewing;
  if (members === undefined || viewing === undefined) return undefined;
  return [...viewing]
    .sort()
    .find((p) => [...members.values()].some((o) => o.user !== conn.owner && o.viewing.has(p)));
}

export class Join implements ModelCommand {
  constructor(
    readonly owner: string,
    readonly room: string,
    readonly name: string | undefined,
    readonly token: 'none' | 'current' | 'wrong',
    /** null: open a new connection first. */
    readonly pick: ConnPick | null,
    /** Join as the first user from `owner` on who is not in the room yet (if any). */
    readonly newcomer = false,
  ) {}
  check(m: Readonly<Model>): boolean {
    if (this.pick === null) return true;
    const conn = pickConn(m, this.pick);
    return conn !== undefined && m.withinBudgets(conn.id, false);
  }
  run(m: Model, d: Driver): void {
    const existing = this.pick === null ? undefined : pickConn(m, this.pick)!;
    const user = existing?.owner ?? (this.newcomer ? newcomer(m, this.room, this.owner) : this.owner);
    const conn = existing?.id ?? d.open(m, user);
    const current = m.member(this.room, user)?.token;
    const resumeToken =
      this.token === 'current' ? current : this.token === 'wrong' ? 'not-the-token' : undefined;
    const spec: FrameSpec = { type: 'join', room: this.room, user };
    if (this.name !== undefined) spec.name = this.name;
    if (resumeToken !== undefined) spec.resumeToken = resumeToken;
    d.frame(m, conn, spec);
  }
  toString(): string {
    const who = this.newcomer ? `a newcomer from ${this.owner}` : this.owner;
    const via = this.pick === null ? `new conn of ${who}` : describePick(this.pick);
    return `${via} join ${this.room}${this.name === undefined ? '' : ` as ${this.name}`} token=${this.token}`;
  }
}

function newcomer(m: Readonly<Model>, room: string, from: string): string {
  const start = USERS.indexOf(from as (typeof USERS)[number]);
  const order = USERS.map((_, i) => USERS[(start + i) % USERS.length]!);
  return order.find((u) => m.member(room, u) === undefined) ?? from;
}

/** Frames other than join carry the user of their connection, or (as) claim another one. */
export type Template = DistributiveOmit<Exclude<FrameSpec, { type: 'join' }>, 'user'>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Any frame but join, on an existing connection. */
export class Send implements ModelCommand {
  constructor(
    readonly pick: ConnPick,
    readonly template: Template,
    readonly as: string | null = null,
  ) {}
  check(m: Readonly<Model>): boolean {
    const conn = pickConn(m, this.pick);
    const t = this.template;
    return (
      conn !== undefined &&
      m.withinBudgets(conn.id, t.type === 'camera' || (t.type === 'malformed' && t.kind === 'bad_camera'))
    );
  }
  run(m: Model, d: Driver): void {
    const conn = pickConn(m, this.pick)!;
    const spec = { ...this.template, user: this.as ?? conn.owner } as Exclude<FrameSpec, { type: 'join' }>;
    if ('planet' in spec) spec.planet = resolvePlanet(m, conn, spec.planet);
    d.frame(m, conn.id, spec);
  }
  toString(): string {
    const { type, ...rest } = this.template;
    return `${describePick(this.pick)} ${type}${this.as === null ? '' : ` as ${this.as}`} ${JSON.stringify(rest)}`;
  }
}

export class Disconnect implements ModelCommand {
  constructor(
    readonly pick: ConnPick,
    readonly kind: 'network' | 'other',
  ) {}
  check(m: Readonly<Model>): boolean {
    return pickConn(m, this.pick) !== undefined;
  }
  run(m: Model, d: Driver): void {
    d.close(m, pickConn(m, this.pick)!.id, this.kind);
  }
  toString(): string {
    return `${describePick(this.pick)} disconnect (${this.kind})`;
  }
}

export class Advance implements ModelCommand {
  constructor(
    readonly ms: number,
    /** false: only the clock moves; the next command's step applies the deadlines. */
    readonly tick: boolean,
  ) {}
  check(): boolean {
    return true;
  }
  run(m: Model, d: Driver): void {
    d.advance(m, this.ms, this.tick);
  }
  toString(): string {
    return `advance ${this.ms} ms${this.tick ? ' and tick' : ''}`;
  }
}

const user = fc.constantFrom(...USERS);
const room: fc.Arbitrary<string> = fc.constantFrom(ROOMS[0], ROOMS[0], ROOMS[0], ROOMS[1]);
// Mostly one planet, so that locks are contended and viewers meet.
const planet: fc.Arbitrary<string> = fc.constantFrom(
  PLANETS[0],
  PLANETS[0],
  PLANETS[0],
  PLANETS[1],
  PLANETS[2],
);
const pick: fc.Arbitrary<ConnPick> = fc.record({
  n: fc.nat(5),
  among: fc.constantFrom<ConnPick['among']>(
    'bound',
    'bound',
    'bound',
    'bound',
    'bound',
    'open',
    'open',
    'stale',
  ),
});
const viewerPick: fc.Arbitrary<ConnPick> = fc.record({
  n: fc.nat(5),
  among: fc.constantFrom<ConnPick['among']>('viewer', 'viewer', 'viewer', 'bound', 'stale'),
});
/** A planet by name, or one the sender views or selects (so cameras and unselects often succeed). */
const planetOr = (placeholder: string, weight: number) =>
  fc.oneof({ weight: 3, arbitrary: planet }, { weight, arbitrary: fc.constant(placeholder) });
const name = fc.constantFrom(undefined, 'Ada', 'Grace');
const MALFORMED: MalformedKind[] = [
  'bad_json',
  'not_object',
  'no_type',
  'unknown_type',
  'bad_shape',
  'extra_key',
  'bad_camera',
];

const planetFrame = (type: 'select' | 'unselect' | 'join_viewer' | 'leave_viewer', planets = planet) =>
  fc.tuple(pick, planets).map(([p, pl]) => new Send(p, { type, planet: pl }));

/** Small steps cross the camera interval; medium ones the lock TTL and grace; large ones presence. */
const advanceMs = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 60 }) },
  { weight: 2, arbitrary: fc.integer({ min: 200, max: 1200 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1500, max: 4000 }) },
);

export const commandArb: fc.Arbitrary<ModelCommand> = fc.oneof(
  { weight: 2, arbitrary: fc.tuple(user, room, name).map(([u, r, n]) => new Join(u, r, n, 'none', null)) },
  {
    weight: 4,
    arbitrary: fc.tuple(user, room, name).map(([u, r, n]) => new Join(u, r, n, 'none', null, true)),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(user, room, name, fc.constantFrom<'current' | 'wrong'>('current', 'current', 'current', 'wrong'))
      .map(([u, r, n, t]) => new Join(u, r, n, t, null)),
  },
  { weight: 1, arbitrary: fc.tuple(room, name, pick).map(([r, n, p]) => new Join('', r, n, 'none', p)) },
  { weight: 1, arbitrary: pick.map((p) => new Send(p, { type: 'leave' })) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(pick, fc.constantFrom<'network' | 'other'>('network', 'network', 'other'))
      .map(([p, k]) => new Disconnect(p, k)),
  },
  { weight: 4, arbitrary: planetFrame('select') },
  { weight: 2, arbitrary: planetFrame('unselect', planetOr(SELECTED, 3)) },
  { weight: 8, arbitrary: planetFrame('join_viewer', planetOr(PLANETS[0], 6)) },
  { weight: 1, arbitrary: planetFrame('leave_viewer', planetOr(VIEWED, 3)) },
  {
    weight: 7,
    arbitrary: fc
      .tuple(viewerPick, planetOr(VIEWED, 9), fc.integer({ min: -99, max: 99 }))
      .map(([p, pl, x]) => new Send(p, { type: 'camera', planet: pl, x })),
  },
  {
    weight: 4,
    arbitrary: fc
      .tuple(pick, fc.integer({ min: 0, max: 1e6 }))
      .map(([p, ts]) => new Send(p, { type: 'heartbeat', ts })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(pick, user, planet)
      .map(([p, as, pl]) => new Send(p, { type: 'select', planet: pl }, as)),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(pick, fc.constantFrom(...MALFORMED), planet)
      .map(([p, kind, pl]) => new Send(p, { type: 'malformed', kind, planet: pl })),
  },
  {
    weight: 6,
    arbitrary: fc.tuple(advanceMs, fc.boolean(), fc.boolean()).map(([ms, a, b]) => new Advance(ms, a || b)),
  },
);

export const MAX_COMMANDS = 60;

/**
 * fast-check's run parameters, overridable to replay a failure it reported:
 * FC_SEED=… FC_PATH=… FC_REPLAY_PATH=… (the last from the commands' replayPath), FC_NUM_RUNS=….
 */
export function runParameters(numRuns: number): { params: fc.Parameters<unknown>; replayPath?: string } {
  const env = process.env;
  const params: fc.Parameters<unknown> = { numRuns: Number(env.FC_NUM_RUNS ?? numRuns) };
  if (env.FC_SEED !== undefined) params.seed = Number(env.FC_SEED);
  if (env.FC_PATH !== undefined) params.path = env.FC_PATH;
  return env.FC_REPLAY_PATH === undefined ? { params } : { params, replayPath: env.FC_REPLAY_PATH };
}
