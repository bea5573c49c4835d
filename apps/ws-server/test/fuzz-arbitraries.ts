// The fuzz test's input model: a client's plan is a list of steps, each a frame to send and a pause
// before it. Frames are data (so fast-check can print and shrink them); `render` turns one into
// the bytes on the wire and the answer the contract promises for it. Rules the oracle encodes:
// - a frame with a known type and a valid shape gets an ack, a conflict (select only) or one of
//   the errors its type can earn (binding, domain, RATE_LIMITED); never BAD_MESSAGE, whatever
//   hostile ids (`__proto__`, `constructor`) or numbers (-0, 1e308) it carries;
// - a frame that carries a valid `rid` is answered with that rid; one that cannot carry one (not
//   JSON, not an object, binary) is answered without, with its decode error even over the budget;
// - `camera` gets no ack: an error, or nothing when it is out of rate;
// - a frame over MAX_BYTES closes the connection with 1009, invalid UTF-8 text with 1007.
// Rooms, users and planets come from small sets so clients collide on them.

import { CLIENT_MESSAGE_TYPES, type ClientMessageType, type ErrorCode, type Rid } from '@exo/protocol';
import fc from 'fast-check';

export const ROOMS = ['orbit', '__proto__'] as const;
export const USERS = ['ada', 'bo', 'constructor', '__proto__'] as const;
export const PLANETS = ['kepler-22b', 'toString', '__proto__'] as const;
export const MAX_BYTES = 4096;

const KNOWN_TYPES = CLIENT_MESSAGE_TYPES;
type KnownType = ClientMessageType;
type PlanetType = 'select' | 'unselect' | 'join_viewer' | 'leave_viewer';

/** Speak as the user of this client's last join (`self`), or as the room and user given. */
export interface Who {
  readonly self: boolean;
  readonly room: number;
  readonly user: number;
}

export interface Profile {
  readonly name?: string;
  readonly color?: string;
  readonly avatarUrl?: string;
}

export type RidStyle = 'int' | 'negative' | 'max' | 'text' | 'proto' | 'surrogate' | 'long';

export type Frame =
  | { readonly kind: 'join'; readonly who: Who; readonly profile: Profile }
  | {
      readonly kind: 'takeover';
      readonly room: number;
      readonly user: number;
      /** null: the token another client was given for that user; else this (wrong) token. */
      readonly token: string | null;
    }
  | { readonly kind: 'leave'; readonly who: Who }
  | { readonly kind: 'planet'; readonly type: PlanetType; readonly who: Who; readonly planet: number }
  | { readonly kind: 'camera'; readonly who: Who; readonly planet: number; readonly camera: Literal }
  | { readonly kind: 'heartbeat'; readonly who: Who; readonly ts: Literal }
  | { readonly kind: 'object'; readonly shape: ObjectShape }
  | { readonly kind: 'raw'; readonly text: string; readonly code: 'BAD_JSON' | 'BAD_MESSAGE' }
  | { readonly kind: 'binary'; readonly bytes: Uint8Array }
  | {
      readonly kind: 'sized';
      readonly over: boolean;
      readonly slack: number;
      readonly unit: string;
      readonly carrier: 'object' | 'deep' | 'text' | 'binary';
    }
  | { readonly kind: 'bad_utf8'; readonly bytes: readonly number[] }
  | { readonly kind: 'hangup' }
  | { readonly kind: 'drop' };

/** JSON text of a value and whether the server must accept it where a valid one is expected. */
export interface Literal {
  readonly text: string;
  readonly valid: boolean;
}

/** A JSON object sent with a rid: its members (without rid) and the one answer it can get. */
export interface ObjectShape {
  readonly members: string;
  /** The `type` the server sees when it is a known one (the error's `op`); undefined otherwise. */
  readonly op: KnownType | undefined;
  readonly codes: readonly ErrorCode[];
}

export interface Step {
  readonly pause: number;
  readonly rid: RidStyle;
  readonly frame: Frame;
}

// ---------------------------------------------------------------------------------------------
// Values

const json = (value: unknown) => JSON.stringify(value);
const deepArray = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

const numberLiteral: fc.Arbitrary<Literal> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc
      .double({ noNaN: true, noDefaultInfinity: true })
      .map((n) => ({ text: json(n), valid: true })),
  },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      ...[
        '-0',
        '1e308',
        '-1e308',
        '5e-324',
        '1e-400',
        '123456789012345678901234567890',
        '9007199254740993',
      ].map((text) => ({ text, valid: true })),
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom(...['1e400', '-1e309'].map((text) => ({ text, valid: false }))) },
);

const fovLiteral: fc.Arbitrary<Literal> = fc.constantFrom(
  ...['60', '179.999', '1e-300', '0.5'].map((text) => ({ text, valid: true })),
  ...['0', '-0', '180', '-1', '1e400'].map((text) => ({ text, valid: false })),
);

const zoomLiteral: fc.Arbitrary<Literal> = fc.constantFrom(
  ...['1', '1e308', '0.001'].map((text) => ({ text, valid: true })),
  ...['0', '-0', '-2'].map((text) => ({ text, valid: false })),
);

const vector = (n: number): fc.Arbitrary<Literal> =>
  fc.array(numberLiteral, { minLength: n, maxLength: n }).map((items) => ({
    text: `[${items.map((i) => i.text).join(',')}]`,
    valid: items.every((i) => i.valid),
  }));

/** A camera as JSON text; valid when every number is finite and fov, zoom are in range. */
const anyCamera: fc.Arbitrary<Literal> = fc
  .record(
    {
      position: vector(3),
      target: vector(3),
      up: vector(3),
      quaternion: vector(4),
      fov: fovLiteral,
      zoom: zoomLiteral,
    },
    { requiredKeys: ['position'] },
  )
  .map((parts) => {
    const entries = Object.entries(parts) as [string, Literal][];
    return {
      text: `{${entries.map(([k, l]) => `${json(k)}:${l.text}`).join(',')}}`,
      valid: entries.every(([, l]) => l.valid),
    };
  });

const plainCamera: fc.Arbitrary<Literal> = fc
  .tuple(
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer({ min: -100, max: 100 }),
    fc.nat(179),
  )
  .map(([x, y, fov]) => ({ text: json({ position: [x, y, 1], fov: fov + 0.5 }), valid: true }));

const cameraLiteral = fc.oneof({ weight: 3, arbitrary: plainCamera }, { weight: 1, arbitrary: anyCamera });

const LONE = ['\ud800', '\udfff'];

/** Any code point, lone surrogates included (the 'binary' unit leaves those out). */
const anyUnit = fc.oneof(
  { weight: 9, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(...LONE),
  },
);

const nameArb = fc.oneof(
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 64 }),
  fc.string({ unit: anyUnit, maxLength: 70 }),
  fc.constantFrom('🪐'.repeat(64), '🪐'.repeat(65), '', 'Ada\u0000', 'tab\there', '\u202eevil'),
);
const colorArb = fc.constantFrom('#abc', '#ABC', '#a1B2c3', '#abcd', 'red', '#ggg', '');
const avatarArb = fc.constantFrom(
  'https://example.org/a.png',
  `http://example.org/${'a'.repeat(493)}`,
  `https://example.org/${'a'.repeat(493)}`,
  'javascript:alert(1)',
  'ftp://example.org/a',
  'not a url',
  'https://exa\u0000mple.org/',
);

const plainProfile: fc.Arbitrary<Profile> = fc.record(
  {
    name: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 64 }),
    color: fc.constantFrom('#abc', '#A1B2C3'),
    avatarUrl: fc.constant('https://example.org/a.png'),
  },
  { requiredKeys: [] },
);

const profileArb: fc.Arbitrary<Profile> = fc.oneof(
  { weight: 3, arbitrary: plainProfile },
  {
    weight: 1,
    arbitrary: fc.record({ name: nameArb, color: colorArb, avatarUrl: avatarArb }, { requiredKeys: [] }),
  },
);

type Verdict = 'valid' | 'invalid' | 'either';

/**
 * The contract's profile rules (§2). A lone surrogate in a name is a code point but not a
 * character; the contract does not say, so either answer is accepted for it.
 */
export function profileVerdict(p: Profile): Verdict {
  const verdicts: Verdict[] = [];
  if (p.name !== undefined) {
    const points = [...p.name].length;
    if (points < 1 || points > 64 || /\p{Cc}/u.test(p.name)) verdicts.push('invalid');
    else verdicts.push(/\p{Cs}/u.test(p.name) ? 'either' : 'valid');
  }
  if (p.color !== undefined) {
    verdicts.push(/^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i.test(p.color) ? 'valid' : 'invalid');
  }
  if (p.avatarUrl !== undefined) {
    const ok =
      p.avatarUrl.length <= 512 &&
      /^https?:\/\/[a-z.]+\/\S*$/.test(p.avatarUrl) &&
      !/\p{Cc}/u.test(p.avatarUrl);
    verdicts.push(ok ? 'valid' : 'invalid');
  }
  if (verdicts.includes('invalid')) return 'invalid';
  return verdicts.includes('either') ? 'either' : 'valid';
}

// ---------------------------------------------------------------------------------------------
// Objects of wrong shapes, unknown types and hostile keys (all sent with a rid)

const HOSTILE_MEMBERS = [
  '"__proto__":{"x":1}',
  '"__proto__":{"type":"join","roomId":"orbit","user":{"userId":"ada"}}',
  '"__proto__":null',
  '"constructor":{"prototype":{"polluted":true}}',
  '"prototype":{}',
  '"toString":"x"',
  '"hasOwnProperty":1',
];

const randomMembers = (forbidden: ReadonlySet<string>) =>
  fc
    .dictionary(
      fc.string({ unit: anyUnit, maxLength: 8 }).filter((k) => !forbidden.has(k)),
      fc.jsonValue({ maxDepth: 2 }),
      { maxKeys: 3 },
    )
    .map((d) => json(d).slice(1, -1));

const extraMembers = (forbidden: ReadonlySet<string>) =>
  fc.oneof(fc.constant(''), fc.constantFrom(...HOSTILE_MEMBERS), randomMembers(forbidden));

const joinMembers = (...parts: string[]) => parts.filter((p) => p !== '').join(',');

const unknownType = fc.oneof(
  fc.constantFrom(
    'hello',
    'JOIN',
    'join ',
    'constructor',
    '__proto__',
    'toString',
    'hasOwnProperty',
    '',
    'join\u0000',
    '\ud800',
    'camera\n',
    'x'.repeat(1000),
  ),
  fc.string({ unit: anyUnit, maxLength: 12 }),
);

const unknownTypeObject: fc.Arbitrary<ObjectShape> = fc
  .tuple(
    unknownType.filter((t) => !(KNOWN_TYPES as readonly string[]).includes(t)),
    extraMembers(new Set(['type', 'rid'])),
  )
  .map(
    ([type, extra]): ObjectShape => ({
      members: joinMembers(`"type":${json(type)}`, extra),
      op: undefined,
      codes: ['UNKNOWN_TYPE', 'RATE_LIMITED'],
    }),
  );

/** No string `type`: answered BAD_MESSAGE even over the budget (decoding precedes the budget). */
const typelessObject: fc.Arbitrary<ObjectShape> = fc
  .tuple(
    fc.option(
      fc.oneof(
        fc.jsonValue({ maxDepth: 2 }).filter((v) => typeof v !== 'string'),
        fc.constantFrom(['join'], { toString: 'join' }, null),
      ),
      { nil: undefined },
    ),
    extraMembers(new Set(['type', 'rid'])),
  )
  .map(
    ([type, extra]): ObjectShape => ({
      members: joinMembers(type === undefined ? '' : `"type":${json(type)}`, extra),
      op: undefined,
      codes: ['BAD_MESSAGE'],
    }),
  );

const ALLOWED_KEYS: Record<KnownType, readonly string[]> = {
  join: ['type', 'rid', 'roomId', 'user', 'resumeToken'],
  leave: ['type', 'rid', 'userId'],
  select: ['type', 'rid', 'planetId', 'userId'],
  unselect: ['type', 'rid', 'planetId', 'userId'],
  join_viewer: ['type', 'rid', 'planetId', 'userId'],
  leave_viewer: ['type', 'rid', 'planetId', 'userId'],
  camera: ['type', 'rid', 'planetId', 'camera', 'userId'],
  heartbeat: ['type', 'rid', 'userId', 'ts'],
};

/** Values no field of any message accepts. */
const UNIVERSAL_POISON = ['null', 'true', '[]', '{}', '{"__proto__":{"x":1}}', '{"constructor":{}}'];
/** Strings that are not ids: empty, too long, outside the alphabet, lone surrogate. */
const ID_POISON = [
  '""',
  json('a'.repeat(129)),
  '"a b"',
  '"\\ud800"',
  '"é"',
  '"__proto__\\u0000"',
  '-0',
  '1e308',
];
const TS_POISON = ['1e400', '"1"', '-1e400'];
const CAMERA_POISON = [
  '{"position":[1,2]}',
  '{"position":[1,2,3,4]}',
  '{"position":[1,2,3],"fov":0}',
  '{"position":[1,2,3],"constructor":{}}',
  '{"position":[1,2,3],"__proto__":{}}',
  '{"position":[1e400,0,0]}',
  '{"position":["1",2,3]}',
  '{"target":[1,2,3]}',
];

type Field = readonly [key: string, value: string, poison: readonly string[]];

function baseFields(type: KnownType, room: string, user: string, planet: string): Field[] {
  const id = [...UNIVERSAL_POISON, ...ID_POISON];
  const userId: Field = ['userId', json(user), id];
  const planetId: Field = ['planetId', json(planet), id];
  switch (type) {
    case 'join':
      return [
        ['roomId', json(room), id],
        ['user', json({ userId: user }), [...UNIVERSAL_POISON, '"ada"', `{"userId":${ID_POISON[0]}}`]],
      ];
    case 'leave':
      return [userId];
    case 'camera':
      return [planetId, ['camera', '{"position":[0,0,1]}', [...UNIVERSAL_POISON, ...CAMERA_POISON]], userId];
    case 'heartbeat':
      return [userId, ['ts', '1', [...UNIVERSAL_POISON, ...TS_POISON]]];
    default:
      return [planetId, userId];
  }
}

type Poison =
  | { readonly mode: 'extra'; readonly member: string }
  | { readonly mode: 'replace'; readonly field: number; readonly pick: number; readonly depth: number }
  | { readonly mode: 'drop'; readonly field: number };

/** A known type with exactly one thing wrong: an unknown key, a bad value, or a missing key. */
const badShapeObject: fc.Arbitrary<ObjectShape> = fc
  .record({
    type: fc.constantFrom(...KNOWN_TYPES),
    room: fc.constantFrom(...ROOMS),
    user: fc.constantFrom(...USERS),
    planet: fc.constantFrom(...PLANETS),
    poison: fc.oneof(
      fc.record({
        mode: fc.constant('extra' as const),
        member: fc.oneof(
          fc.constantFrom(...HOSTILE_MEMBERS),
          fc.constantFrom('"extra":1', '"roomId":"orbit"', '"ts":1', '"name":"x"'),
        ),
      }),
      fc.record({
        mode: fc.constant('replace' as const),
        field: fc.nat(),
        pick: fc.nat(),
        depth: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1800 })),
      }),
      fc.record({ mode: fc.constant('drop' as const), field: fc.nat() }),
    ),
  })
  // An "extra" member must be unknown to this type: ALLOWED_KEYS lists the known ones.
  .filter(({ type, poison }) => poison.mode !== 'extra' || !ALLOWED_KEYS[type].includes(keyOf(poison.member)))
  .map(({ type, room, user, planet, poison }): ObjectShape => {
    const all = baseFields(type, room, user, planet);
    const fields = all.map(([k, v]) => [k, v] as [string, string]);
    applyPoison(fields, all, poison);
    return {
      members: joinMembers(`"type":${json(type)}`, ...fields.map(([k, v]) => `${json(k)}:${v}`)),
      op: type,
      codes: type === 'camera' ? ['BAD_MESSAGE'] : ['BAD_MESSAGE', 'RATE_LIMITED'],
    };
  });

function keyOf(member: string): string {
  return JSON.parse(member.slice(0, member.indexOf(':')));
}

function applyPoison(fields: [string, string][], all: Field[], poison: Poison): void {
  if (poison.mode === 'extra') {
    fields.push([keyOf(poison.member), poison.member.slice(poison.member.indexOf(':') + 1)]);
    return;
  }
  const index = poison.field % fields.length;
  if (poison.mode === 'drop') {
    fields.splice(index, 1);
    return;
  }
  const choices = all[index]![2];
  const value = poison.depth > 0 ? deepArray(poison.depth) : choices[poison.pick % choices.length]!;
  fields[index]![1] = value;
}

// ---------------------------------------------------------------------------------------------
// Frames that cannot carry a rid

const BAD_JSON_TEXTS = [
  '',
  ' ',
  '{',
  '}',
  '[',
  '{"type":"join"',
  "{'type':'join'}",
  'undefined',
  'NaN',
  'Infinity',
  '-',
  '[1,]',
  '{"a":1,}',
  '{"type":"heartbeat","userId":"ada","ts":1,"rid":1',
  '\u0000',
  'nul',
  '"\\ud800',
  '01',
  '+1',
  '.5',
  '1e',
  '0x10',
  '\ud800',
];

const badJsonText = fc.oneof(
  fc.constantFrom(...BAD_JSON_TEXTS),
  fc.json({ maxDepth: 2 }).map((j) => `${j} ]`),
  fc.json({ maxDepth: 2 }).map((j) => `}${j}`),
  fc.string({ unit: 'grapheme-ascii', maxLength: 40 }).map((s) => `"${s.replace(/["\\]/g, '')}`),
  fc.integer({ min: 1, max: 2000 }).map((n) => '['.repeat(n)),
);

const NON_OBJECT_TEXTS = [
  '1e308',
  '-0',
  '1e400',
  '-1e400',
  '123456789012345678901234567890',
  'null',
  'true',
  '"__proto__"',
  '[]',
  '[{"type":"join","roomId":"orbit","user":{"userId":"ada"}}]',
  '"\ud800"',
];

/** JSON that is not an object with a string type and carries no valid rid: BAD_MESSAGE, no rid. */
const badMessageText = fc.oneof(
  fc.constantFrom(...NON_OBJECT_TEXTS),
  fc
    .jsonValue({ maxDepth: 2 })
    .filter((v) => v === null || typeof v !== 'object' || Array.isArray(v))
    .map((v) => json(v)),
  fc.integer({ min: 1, max: 2000 }).map(deepArray),
  fc.constantFrom(
    '{}',
    '{"__proto__":{"x":1}}',
    '{"__proto__":{"type":"join","roomId":"orbit","user":{"userId":"ada"}}}',
    '{"constructor":{"prototype":{"polluted":true}}}',
    '{"rid":{"x":1}}',
    '{"rid":1.5}',
    '{"rid":9007199254740993}',
    '{"rid":1e400}',
    `{"rid":"${'r'.repeat(65)}"}`,
  ),
);

const binaryBytes = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.constant(new Uint8Array(0)),
  fc.constant(new TextEncoder().encode('{"type":"heartbeat","userId":"ada","ts":1,"rid":1}')),
);

const BAD_UTF8 = [
  [0xff],
  [0xc3, 0x28],
  [0xed, 0xa0, 0x80],
  [0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x3a, 0x31, 0x7d],
  [0xf4, 0x90, 0x80, 0x80],
  [0xc0, 0x80],
];

// ---------------------------------------------------------------------------------------------
// Steps and plans

// Most traffic goes to the first room, so it fills up (ROOM_FULL) and users contend for locks.
const room = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(1) });
const user = fc.nat(USERS.length - 1);
const who: fc.Arbitrary<Who> = fc.record({
  self: fc.oneof({ weight: 6, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  room,
  user,
});
const planet = fc.nat(PLANETS.length - 1);

const wrongToken = fc.oneof(
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 40 }),
  fc.constantFrom('', 'x'.repeat(256), 'x'.repeat(257), '__proto__', '\ud800'),
);

const sizedFrame = (over: boolean) =>
  fc.record({
    kind: fc.constant('sized' as const),
    over: fc.constant(over),
    slack: fc.nat(8),
    unit: fc.constantFrom('x', 'é', '€', '🪐'),
    carrier: fc.constantFrom('object', 'deep', 'text', 'binary'),
  });

// Weights: mostly commands, so rooms fill up and locks, conflicts and camera relays happen; about
// a third of the frames malformed or hostile; the frames that end a client (oversize, invalid
// UTF-8, hang-up, drop) rare enough that most clients play their whole plan.
const frame: fc.Arbitrary<Frame> = fc.oneof(
  { weight: 60, arbitrary: fc.record({ kind: fc.constant('join' as const), who, profile: profileArb }) },
  {
    weight: 20,
    arbitrary: fc.record({
      kind: fc.constant('takeover' as const),
      room,
      user,
      token: fc.oneof({ weight: 2, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: wrongToken }),
    }),
  },
  { weight: 15, arbitrary: fc.record({ kind: fc.constant('leave' as const), who }) },
  {
    weight: 200,
    arbitrary: fc.record({
      kind: fc.constant('planet' as const),
      type: fc.constantFrom('select', 'select', 'unselect', 'join_viewer', 'join_viewer', 'leave_viewer'),
      who,
      planet,
    }),
  },
  {
    weight: 120,
    arbitrary: fc.record({ kind: fc.constant('camera' as const), who, planet, camera: cameraLiteral }),
  },
  { weight: 40, arbitrary: fc.record({ kind: fc.constant('heartbeat' as const), who, ts: numberLiteral }) },
  {
    weight: 80,
    arbitrary: fc.record({
      kind: fc.constant('object' as const),
      shape: fc.oneof(unknownTypeObject, typelessObject, badShapeObject, badShapeObject),
    }),
  },
  {
    weight: 50,
    arbitrary: fc.oneof(
      fc.record({
        kind: fc.constant('raw' as const),
        text: badJsonText,
        code: fc.constant('BAD_JSON' as const),
      }),
      fc.record({
        kind: fc.constant('raw' as const),
        text: badMessageText,
        code: fc.constant('BAD_MESSAGE' as const),
      }),
    ),
  },
  { weight: 20, arbitrary: fc.record({ kind: fc.constant('binary' as const), bytes: binaryBytes }) },
  { weight: 20, arbitrary: sizedFrame(false) },
  { weight: 1, arbitrary: sizedFrame(true) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('bad_utf8' as const), bytes: fc.constantFrom(...BAD_UTF8) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'hangup' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'drop' as const }) },
);

const step: fc.Arbitrary<Step> = fc.record({
  pause: fc.oneof(
    { weight: 6, arbitrary: fc.constant(0) },
    { weight: 3, arbitrary: fc.integer({ min: 1, max: 3 }) },
    { weight: 1, arbitrary: fc.integer({ min: 4, max: 15 }) },
  ),
  rid: fc.constantFrom<RidStyle>('int', 'int', 'negative', 'max', 'text', 'proto', 'surrogate', 'long'),
  frame,
});

/** A join as a random user with a plain profile: how every client starts, so most get bound. */
const opening: fc.Arbitrary<Step> = fc.record({
  pause: fc.constant(0),
  rid: fc.constant<RidStyle>('int'),
  frame: fc.record({
    kind: fc.constant('join' as const),
    who: fc.record({ self: fc.constant(false), room, user }),
    profile: fc.constant({}),
  }),
});

/** 3–5 clients, each with 40–120 steps. */
export const plansArb = fc.array(
  fc
    .tuple(opening, fc.array(step, { minLength: 39, maxLength: 119 }))
    .map(([first, rest]) => [first, ...rest]),
  { minLength: 3, maxLength: 5 },
);

// ---------------------------------------------------------------------------------------------
// Rendering: a frame on the wire and the answer the contract promises for it

export interface AnswerSpec {
  /** undefined: the frame could not carry a rid, so its answer carries none. */
  readonly rid: Rid | undefined;
  /** Camera frames: an error or nothing. */
  readonly optional: boolean;
  /** The `op` an error must carry (only when the frame's type is a known one). */
  readonly op: string | undefined;
  readonly codes: readonly ErrorCode[];
  /** An ack is allowed, for this op; `ts` is what a heartbeat ack must echo. */
  readonly ack: { readonly op: KnownType; readonly ts?: number } | null;
  /** A conflict is allowed (select): it names this planet and someone other than `userId`. */
  readonly conflict: { readonly planetId: string; readonly userId: string } | null;
  readonly text: string;
}

export type Expectation =
  | { readonly kind: 'answer'; readonly spec: AnswerSpec }
  | { readonly kind: 'close'; readonly code: 1007 | 1009 }
  | { readonly kind: 'hangup' }
  | { readonly kind: 'drop' };

export interface Wire {
  readonly data: string | Uint8Array;
  readonly binary: boolean;
  readonly expect: Expectation;
  /** Set for joins: the (room, user) the join is for, so its ack's resumeToken can be shared. */
  readonly joins?: { readonly room: string; readonly user: string };
}

export interface WireContext {
  nextRid(style: RidStyle): Rid;
  /** The room and user of this client's last acknowledged join: frames that speak as `self` use it. */
  lastJoin: { room: string; user: string } | null;
  /** The resumeToken last handed to any client for this user, if any. */
  tokenFor(room: string, user: string): string | undefined;
}

const BINDING: ErrorCode[] = ['NOT_JOINED', 'USER_MISMATCH', 'RATE_LIMITED'];
const DOMAIN: Record<PlanetType, ErrorCode[]> = {
  select: BINDING,
  unselect: [...BINDING, 'NOT_SELECTED'],
  // Three planets never reach the default MAX_VIEWED_PLANETS of 4: no LIMIT_EXCEEDED.
  join_viewer: BINDING,
  leave_viewer: [...BINDING, 'NOT_VIEWING'],
};
const JOIN_CODES: ErrorCode[] = ['ALREADY_JOINED', 'USER_MISMATCH', 'ROOM_FULL', 'FORBIDDEN', 'RATE_LIMITED'];
const SHAPE_CODES: ErrorCode[] = ['BAD_MESSAGE', 'RATE_LIMITED'];

function ridText(rid: Rid): string {
  return json(rid);
}

function resolve(w: Who, ctx: WireContext): { room: string; user: string } {
  if (w.self && ctx.lastJoin !== null) return ctx.lastJoin;
  return { room: ROOMS[w.room]!, user: USERS[w.user]! };
}

function answer(data: string, spec: Omit<AnswerSpec, 'text'>): Wire {
  return { data, binary: false, expect: { kind: 'answer', spec: { ...spec, text: data.slice(0, 300) } } };
}

function ridless(data: string | Uint8Array, binary: boolean, code: 'BAD_JSON' | 'BAD_MESSAGE'): Wire {
  const text = typeof data === 'string' ? data.slice(0, 300) : `binary ${data.length} bytes`;
  return {
    data,
    binary,
    expect: {
      kind: 'answer',
      spec: {
        rid: undefined,
        optional: false,
        op: undefined,
        codes: [code],
        ack: null,
        conflict: null,
        text,
      },
    },
  };
}

export function render(step: Step, ctx: WireContext): Wire {
  const f = step.frame;
  switch (f.kind) {
    case 'join': {
      const { room, user } = resolve(f.who, ctx);
      const rid = ctx.nextRid(step.rid);
      const verdict = profileVerdict(f.profile);
      const data = json({ type: 'join', roomId: room, user: { userId: user, ...f.profile }, rid });
      return {
        ...answer(data, {
          rid,
          optional: false,
          op: 'join',
          codes:
            verdict === 'valid'
              ? JOIN_CODES
              : verdict === 'invalid'
                ? SHAPE_CODES
                : [...JOIN_CODES, 'BAD_MESSAGE'],
          ack: verdict === 'invalid' ? null : { op: 'join' },
          conflict: null,
        }),
        joins: { room, user },
      };
    }
    case 'takeover': {
      const room = ROOMS[f.room]!;
      const user = USERS[f.user]!;
      const rid = ctx.nextRid(step.rid);
      const token = f.token ?? ctx.tokenFor(room, user) ?? 'never-issued';
      const tokenOk = token.length >= 1 && token.length <= 256;
      const data = json({ type: 'join', roomId: room, user: { userId: user }, resumeToken: token, rid });
      return {
        ...answer(data, {
          rid,
          optional: false,
          op: 'join',
          codes: tokenOk ? JOIN_CODES : SHAPE_CODES,
          ack: tokenOk ? { op: 'join' } : null,
          conflict: null,
        }),
        joins: { room, user },
      };
    }
    case 'leave': {
      const rid = ctx.nextRid(step.rid);
      const { user } = resolve(f.who, ctx);
      return answer(json({ type: 'leave', userId: user, rid }), {
        rid,
        optional: false,
        op: 'leave',
        codes: BINDING,
        ack: { op: 'leave' },
        conflict: null,
      });
    }
    case 'planet': {
      const rid = ctx.nextRid(step.rid);
      const { user } = resolve(f.who, ctx);
      const planetId = PLANETS[f.planet]!;
      return answer(json({ type: f.type, planetId, userId: user, rid }), {
        rid,
        optional: false,
        op: f.type,
        codes: DOMAIN[f.type],
        ack: { op: f.type },
        conflict: f.type === 'select' ? { planetId, userId: user } : null,
      });
    }
    case 'camera': {
      const rid = ctx.nextRid(step.rid);
      const { user } = resolve(f.who, ctx);
      const planetId = PLANETS[f.planet]!;
      const data = `{"type":"camera","planetId":${json(planetId)},"camera":${f.camera.text},"userId":${json(user)},"rid":${ridText(rid)}}`;
      return answer(data, {
        rid,
        optional: true,
        op: 'camera',
        codes: f.camera.valid ? ['NOT_JOINED', 'USER_MISMATCH', 'NOT_VIEWING'] : ['BAD_MESSAGE'],
        ack: null,
        conflict: null,
      });
    }
    case 'heartbeat': {
      const rid = ctx.nextRid(step.rid);
      const { user } = resolve(f.who, ctx);
      const data = `{"type":"heartbeat","userId":${json(user)},"ts":${f.ts.text},"rid":${ridText(rid)}}`;
      return answer(data, {
        rid,
        optional: false,
        op: 'heartbeat',
        codes: f.ts.valid ? BINDING : SHAPE_CODES,
        ack: f.ts.valid ? { op: 'heartbeat', ts: JSON.parse(f.ts.text) as number } : null,
        conflict: null,
      });
    }
    case 'object': {
      const rid = ctx.nextRid(step.rid);
      const { members, op, codes } = f.shape;
      const data = `{"rid":${ridText(rid)}${members === '' ? '' : ','}${members}}`;
      return answer(data, { rid, optional: op === 'camera', op, codes, ack: null, conflict: null });
    }
    case 'raw':
      return ridless(f.text, false, f.code);
    case 'binary':
      return ridless(f.bytes, true, 'BAD_MESSAGE');
    case 'sized':
      return sized(f, ctx.nextRid(step.rid));
    case 'bad_utf8':
      return { data: Uint8Array.from(f.bytes), binary: false, expect: { kind: 'close', code: 1007 } };
    case 'hangup':
      return { data: '', binary: false, expect: { kind: 'hangup' } };
    case 'drop':
      return { data: '', binary: false, expect: { kind: 'drop' } };
  }
}

const bytes = (text: string) => Buffer.byteLength(text, 'utf8');

/** Fills `room` bytes with `unit` repeated, topped up with ASCII so the count is exact. */
function fill(room: number, unit: string): string {
  const n = Math.floor(room / bytes(unit));
  return unit.repeat(n) + 'x'.repeat(room - n * bytes(unit));
}

/** A frame of exactly MAX_BYTES − slack bytes, or MAX_BYTES + 1 + slack when `over`. */
function sized(f: Extract<Frame, { kind: 'sized' }>, rid: Rid): Wire {
  const target = f.over ? MAX_BYTES + 1 + f.slack : MAX_BYTES - f.slack;
  const head = `{"rid":${ridText(rid)},"type":"heartbeat","userId":"ada","ts":1,"pad":`;
  let data: string | Uint8Array;
  let fallback: Wire;
  switch (f.carrier) {
    case 'object': {
      data = `${head}"${fill(target - bytes(head) - 3, f.unit)}"}`;
      fallback = answer(data, {
        rid,
        optional: false,
        op: 'heartbeat',
        codes: SHAPE_CODES,
        ack: null,
        conflict: null,
      });
      break;
    }
    case 'deep': {
      const room = target - bytes(head) - 1;
      const depth = Math.floor(room / 2);
      data = `${head}${' '.repeat(room - depth * 2)}${deepArray(depth)}}`;
      fallback = answer(data, {
        rid,
        optional: false,
        op: 'heartbeat',
        codes: SHAPE_CODES,
        ack: null,
        conflict: null,
      });
      break;
    }
    case 'text':
      data = `"${fill(target - 1, f.unit)}`;
      fallback = ridless(data, false, 'BAD_JSON');
      break;
    case 'binary':
      data = new TextEncoder().encode(fill(target, f.unit));
      fallback = ridless(data, true, 'BAD_MESSAGE');
      break;
  }
  const size = typeof data === 'string' ? bytes(data) : data.length;
  if (size !== target) throw new Error(`sized frame of ${size} bytes, wanted ${target}`);
  if (!f.over) return fallback;
  return { data, binary: f.carrier === 'binary', expect: { kind: 'close', code: 1009 } };
}
