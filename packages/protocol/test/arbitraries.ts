// fast-check generators of valid client messages, each paired with the output the parser must give
// (the input with `color` lower-cased). Records have Object.prototype, as JSON.parse would give. Numbers exclude -0: JSON writes it as 0, so it cannot
// round-trip, and the protocol gives it no meaning.
import fc from 'fast-check';

export type Expected = Record<string, unknown>;
export interface Generated {
  input: Record<string, unknown>;
  expected: Expected;
}

const zeroToPositive = (x: number) => (x === 0 ? 0 : x);

export const idArb = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'a', 'x'.repeat(128)),
  fc.stringMatching(/^[A-Za-z0-9._:@-]{1,128}$/),
);

export const ridArb = fc.oneof(
  fc.string({ maxLength: 64 }),
  fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }).map(zeroToPositive),
);

export const finiteArb = fc.double({ noNaN: true, noDefaultInfinity: true }).map(zeroToPositive);
const vec3Arb = fc.tuple(finiteArb, finiteArb, finiteArb);
const quatArb = fc.tuple(finiteArb, finiteArb, finiteArb, finiteArb);

export const cameraArb = fc.record(
  {
    position: vec3Arb,
    target: vec3Arb,
    up: vec3Arb,
    quaternion: quatArb,
    fov: fc.double({ min: 0, max: 180, minExcluded: true, maxExcluded: true, noNaN: true }),
    zoom: fc.double({ min: 0, minExcluded: true, noNaN: true, noDefaultInfinity: true }),
  },
  { requiredKeys: ['position'], noNullPrototype: true },
);

// Any code point but the control characters (Cc), 1 to 64 of them.
const nameArb = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 64 })
  .map((s) => s.replace(/\p{Cc}/gu, 'x'));

const colorArb = fc.stringMatching(/^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/);
const avatarUrlArb = fc.webUrl({ validSchemes: ['http', 'https'] }).filter((url) => url.length <= 512);

export const profileArb = fc.record(
  { userId: idArb, name: nameArb, color: colorArb, avatarUrl: avatarUrlArb },
  { requiredKeys: ['userId'], noNullPrototype: true },
);

const withRid = fc.record({ rid: ridArb }, { requiredKeys: [], noNullPrototype: true });
const planetCommand = (type: string) =>
  fc
    .tuple(fc.record({ planetId: idArb, userId: idArb }, { noNullPrototype: true }), withRid)
    .map(([body, rid]) => ({ type, ...body, ...rid }));

function lowerColor(profile: Record<string, unknown>): Record<string, unknown> {
  return typeof profile.color === 'string' ? { ...profile, color: profile.color.toLowerCase() } : profile;
}

const joinArb = fc
  .tuple(
    idArb,
    profileArb,
    fc.record(
      { resumeToken: fc.string({ minLength: 1, maxLength: 256 }) },
      { requiredKeys: [], noNullPrototype: true },
    ),
    withRid,
  )
  .map(([roomId, user, token, rid]) => {
    const input = { type: 'join', roomId, user, ...token, ...rid };
    return { input, expected: { ...input, user: lowerColor(user) } };
  });

const sameOut = (arb: fc.Arbitrary<Record<string, unknown>>) =>
  arb.map((input): Generated => ({ input, expected: input }));

export const validMessageArb: fc.Arbitrary<Generated> = fc.oneof(
  joinArb,
  sameOut(fc.tuple(idArb, withRid).map(([userId, rid]) => ({ type: 'leave', userId, ...rid }))),
  sameOut(planetCommand('select')),
  sameOut(planetCommand('unselect')),
  sameOut(planetCommand('join_viewer')),
  sameOut(planetCommand('leave_viewer')),
  sameOut(
    fc
      .tuple(idArb, idArb, cameraArb, withRid)
      .map(([planetId, userId, camera, rid]) => ({ type: 'camera', planetId, userId, camera, ...rid })),
  ),
  sameOut(
    fc
      .tuple(idArb, finiteArb, withRid)
      .map(([userId, ts, rid]) => ({ type: 'heartbeat', userId, ts, ...rid })),
  ),
);

/** One place in a message to change, as a path of keys from the top. */
function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof value !== 'object' || value === null) return [prefix];
  const keys: (string | number)[] = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return [
    prefix,
    ...keys.flatMap((k) => pathsOf((value as Record<string | number, unknown>)[k], [...prefix, k])),
  ];
}

type Mutation =
  | { kind: 'set'; value: unknown }
  | { kind: 'delete' }
  | { kind: 'add'; key: string; value: unknown };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), value: fc.jsonValue() }),
  fc.constant({ kind: 'delete' as const }),
  fc.record({
    kind: fc.constant('add' as const),
    key: fc.oneof(fc.constantFrom('__proto__', 'constructor', 'extra'), fc.string()),
    value: fc.jsonValue(),
  }),
);

function applyMutation(root: unknown, path: (string | number)[], mutation: Mutation): unknown {
  if (path.length === 0) {
    if (mutation.kind === 'set') return mutation.value;
    if (mutation.kind === 'delete') return undefined;
  }
  const copy: unknown = structuredClone(root);
  let parent = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path.at(-1);
  const target = last === undefined ? parent : (parent[last] as Record<string, unknown>);
  if (mutation.kind === 'add') {
    if (typeof target === 'object' && target !== null) {
      Object.defineProperty(target, mutation.key, {
        value: mutation.value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  } else if (last !== undefined) {
    if (mutation.kind === 'set') parent[last] = mutation.value;
    else delete parent[last];
  }
  return copy;
}

/** JSON text of a valid message with one field replaced, removed, or one key added. */
export const nearValidTextArb: fc.Arbitrary<string> = validMessageArb.chain(({ input }) =>
  fc
    .tuple(fc.constantFrom(...pathsOf(input)), mutationArb)
    .map(([path, mutation]) => JSON.stringify(applyMutation(input, path, mutation)) ?? 'undefined'),
);
