import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import {
  expectRejectedAt,
  expectUnknownKey,
  parseError,
  parseOk,
  VALID,
  variantOf,
} from '../test/fixtures.js';
import { type ClientMessage, ClientMessageSchema } from './client-messages.js';
import { parseClientValue } from './parse.js';

const EXPECTED: Record<keyof typeof VALID, ClientMessage> = {
  join: {
    type: 'join',
    roomId: 'room-1',
    user: { userId: 'u1', name: 'Ada', color: '#a0b1c2', avatarUrl: 'https://example.com/a.png' },
    resumeToken: 'tok',
    rid: 1,
  },
  leave: { type: 'leave', userId: 'u1', rid: 'r-1' },
  select: { type: 'select', planetId: 'kepler-22b', userId: 'u1' },
  unselect: { type: 'unselect', planetId: 'kepler-22b', userId: 'u1' },
  join_viewer: { type: 'join_viewer', planetId: 'kepler-22b', userId: 'u1' },
  leave_viewer: { type: 'leave_viewer', planetId: 'kepler-22b', userId: 'u1' },
  camera: {
    type: 'camera',
    planetId: 'kepler-22b',
    userId: 'u1',
    camera: {
      position: [1, 2, 3],
      target: [0, 0, 0],
      up: [0, 1, 0],
      quaternion: [0, 0, 0, 1],
      fov: 60,
      zoom: 1.5,
    },
  },
  heartbeat: { type: 'heartbeat', userId: 'u1', ts: 1700000000000 },
};

const TYPES = Object.keys(VALID) as (keyof typeof VALID)[];

describe('client messages', () => {
  it.each(TYPES)('parses a valid %s into its typed form', (type) => {
    expect(parseOk(JSON.stringify(VALID[type]))).toStrictEqual(EXPECTED[type]);
  });

  it.each(TYPES)('validates a valid %s with ClientMessageSchema too', (type) => {
    expect(v.parse(ClientMessageSchema, VALID[type])).toStrictEqual(EXPECTED[type]);
  });

  it.each(TYPES.filter((t) => t !== 'join'))('rejects a %s without userId', (type) => {
    const error = expectRejectedAt(variantOf(type, { userId: undefined }), 'userId');
    expect(error.message).toBe('userId: required key is missing');
  });

  it('rejects a join without user or roomId', () => {
    expectRejectedAt(variantOf('join', { user: undefined }), 'user');
    expectRejectedAt(variantOf('join', { roomId: undefined }), 'roomId');
  });

  it.each(['select', 'unselect', 'join_viewer', 'leave_viewer', 'camera'] as const)(
    'rejects a %s without planetId',
    (type) => {
      expectRejectedAt(variantOf(type, { planetId: undefined }), 'planetId');
    },
  );

  describe('heartbeat', () => {
    it('requires ts', () => {
      const error = expectRejectedAt(variantOf('heartbeat', { ts: undefined }), 'ts');
      expect(error).toMatchObject({ message: 'ts: required key is missing', type: 'heartbeat' });
    });

    it.each([
      ['a string', '1'],
      ['null', null],
    ])('rejects ts as %s', (_, ts) => {
      expectRejectedAt(variantOf('heartbeat', { ts: ts }), 'ts');
    });

    it('accepts any finite ts, negative and fractional included', () => {
      expect(parseOk(variantOf('heartbeat', { ts: -1.25 }))).toMatchObject({ ts: -1.25 });
    });
  });

  describe('unknown keys', () => {
    it('rejects one at the top level and names it', () => {
      const error = expectUnknownKey(variantOf('select', { foo: 1 }), 'foo', '');
      expect(error.path).toBe('foo');
      expect(error.type).toBe('select');
    });

    it('rejects one inside user and names where', () => {
      const error = expectUnknownKey(variantOf('join', { user: { userId: 'u1', foo: 'x' } }), 'foo', 'user');
      expect(error.path).toBe('user.foo');
    });

    it('rejects one inside camera and names where', () => {
      const error = expectUnknownKey(
        variantOf('camera', { camera: { position: [0, 0, 0], roll: 0 } }),
        'roll',
        'camera',
      );
      expect(error.path).toBe('camera.roll');
    });

    it('rejects a literal "__proto__" key from the JSON text', () => {
      const error = expectUnknownKey('{"__proto__":1,"type":"leave","userId":"u1"}', '__proto__', '');
      expect(error.path).toBe('__proto__');
    });

    it('rejects a "__proto__" key inside user and inside camera', () => {
      expectUnknownKey(
        '{"type":"join","roomId":"r","user":{"userId":"u1","__proto__":{"name":"x"}}}',
        '__proto__',
        'user',
      );
      expectUnknownKey(
        '{"type":"camera","planetId":"p","userId":"u","camera":{"position":[0,0,0],"__proto__":null}}',
        '__proto__',
        'camera',
      );
    });

    it('rejects a "constructor" key', () => {
      expectUnknownKey('{"type":"leave","userId":"u1","constructor":{}}', 'constructor', '');
    });

    it('escapes and shortens a hostile key in the path and the message', () => {
      const key = `a\n${'b'.repeat(100)}`;
      const error = parseError(JSON.stringify({ type: 'leave', userId: 'u1', [key]: 1 }));
      expect(error.message).not.toContain('\n');
      expect(error.message.length).toBeLessThan(100);
      expect(error.path).toBe(`["a\\n${'b'.repeat(62)}…"]`);
    });

    it('puts a key that is not an identifier in brackets', () => {
      expect(parseError(variantOf('join', { user: { userId: 'u', 'a.b': 1 } })).path).toBe('user["a.b"]');
    });
  });

  describe('outputs built from scratch', () => {
    it('shares no object with the input', () => {
      const input = structuredClone(VALID.camera) as unknown as { camera: { position: number[] } };
      const result = parseClientValue(input);
      if (!result.ok || result.message.type !== 'camera') return expect.fail('expected a camera message');
      expect(result.message).not.toBe(input);
      expect(result.message.camera).not.toBe(input.camera);
      expect(result.message.camera.position).not.toBe(input.camera.position);
      expect(Object.getPrototypeOf(result.message.camera)).toBe(Object.prototype);
    });

    it('keeps omitted optional keys absent rather than undefined', () => {
      const message = parseOk(variantOf('join', { user: { userId: 'u1' } }));
      expect(Object.keys(message).sort()).toEqual(['resumeToken', 'rid', 'roomId', 'type', 'user']);
      expect(Object.keys((message as { user: object }).user)).toEqual(['userId']);
    });
  });

  describe('in-memory objects', () => {
    it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
      'rejects the number %s',
      (n) => {
        const heartbeat = parseClientValue({ type: 'heartbeat', userId: 'u1', ts: n });
        expect(heartbeat).toMatchObject({ ok: false, error: { code: 'BAD_MESSAGE', path: 'ts' } });
        const camera = parseClientValue({
          type: 'camera',
          planetId: 'p',
          userId: 'u',
          camera: { position: [0, n, 0] },
        });
        expect(camera).toMatchObject({ ok: false, error: { path: 'camera.position[1]' } });
        const zoom = parseClientValue({
          type: 'camera',
          planetId: 'p',
          userId: 'u',
          camera: { position: [0, 0, 0], zoom: n },
        });
        expect(zoom).toMatchObject({ ok: false, error: { path: 'camera.zoom' } });
      },
    );

    it('rejects an optional key set to undefined', () => {
      expect(parseClientValue({ type: 'leave', userId: 'u1', rid: undefined })).toMatchObject({
        ok: false,
        error: { path: 'rid' },
      });
    });
  });
});
