import { describe, expect, it } from 'vitest';
import { parseError, parseOk } from '../test/fixtures.js';
import { parseClientMessage, parseClientValue } from './parse.js';

describe('error classification', () => {
  it.each(['{', '', 'nope', '{"type":"leave",}', "{'type':'leave'}", '[1,', 'undefined', '\u0000'])(
    'answers BAD_JSON for %j, without type or rid',
    (text) => {
      const error = parseError(text);
      expect(error.code).toBe('BAD_JSON');
      expect(error.path).toBe('');
      expect(error).not.toHaveProperty('type');
      expect(error).not.toHaveProperty('rid');
    },
  );

  it.each(['[]', 'null', '42', '"join"', 'true', '[{"type":"leave","userId":"u"}]'])(
    'answers BAD_MESSAGE for the non-object %s, without type',
    (text) => {
      const error = parseError(text);
      expect(error).toMatchObject({ code: 'BAD_MESSAGE', path: '' });
      expect(error).not.toHaveProperty('type');
    },
  );

  it.each(['{}', '{"type":1}', '{"type":null}', '{"type":["join"]}', '{"kind":"join"}'])(
    'answers BAD_MESSAGE for %s, which has no string type, without type',
    (text) => {
      const error = parseError(text);
      expect(error).toMatchObject({ code: 'BAD_MESSAGE', path: 'type' });
      expect(error).not.toHaveProperty('type');
    },
  );

  it.each(['chat', '', 'JOIN', 'constructor', '__proto__', 'toString', 'presence', 'ack'])(
    'answers UNKNOWN_TYPE for type %j, with the type',
    (type) => {
      const error = parseError(JSON.stringify({ type, userId: 'u1' }));
      expect(error).toMatchObject({ code: 'UNKNOWN_TYPE', type, path: 'type' });
    },
  );

  it('answers UNKNOWN_TYPE before looking at the shape', () => {
    expect(parseError('{"type":"chat","bogus":true}').code).toBe('UNKNOWN_TYPE');
  });

  it('answers BAD_MESSAGE with the type for a known type of the wrong shape', () => {
    expect(parseError('{"type":"camera","planetId":"p","userId":"u"}')).toMatchObject({
      code: 'BAD_MESSAGE',
      type: 'camera',
      path: 'camera',
    });
  });

  describe('rid echo', () => {
    it('echoes a valid rid on a shape error', () => {
      expect(parseError('{"type":"select","userId":"u","rid":"req-9"}')).toMatchObject({ rid: 'req-9' });
    });

    it('echoes a valid rid on an unknown type', () => {
      expect(parseError('{"type":"chat","rid":7}')).toMatchObject({ code: 'UNKNOWN_TYPE', rid: 7 });
    });

    it('echoes a valid rid when the type is missing', () => {
      expect(parseError('{"rid":7}')).toMatchObject({ code: 'BAD_MESSAGE', rid: 7 });
    });

    it('leaves out an invalid rid', () => {
      expect(parseError('{"type":"chat","rid":1.5}')).not.toHaveProperty('rid');
      expect(parseError(`{"type":"chat","rid":"${'r'.repeat(65)}"}`)).not.toHaveProperty('rid');
    });

    it('leaves out an absent rid', () => {
      expect(parseError('{"type":"select","userId":"u"}')).not.toHaveProperty('rid');
    });
  });
});

describe('hostile input', () => {
  it('survives very deep nesting, wherever it is', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(['BAD_JSON', 'BAD_MESSAGE']).toContain(parseError(deep).code);
    expect(parseError(`{"type":"leave","userId":"u","x":${deep}}`).code).toBe('BAD_MESSAGE');
    expect(parseError(`{"type":"join","roomId":"r","user":{"userId":"u","name":${deep}}}`).path).toBe(
      'user.name',
    );
  });

  it('survives a large frame', () => {
    const big = JSON.stringify({ type: 'leave', userId: 'u', pad: 'x'.repeat(1_000_000) });
    expect(parseError(big).code).toBe('BAD_MESSAGE');
  });

  it('does not call a value that is not a string JSON text', () => {
    expect(parseClientMessage(42 as unknown as string)).toMatchObject({
      ok: false,
      error: { code: 'BAD_MESSAGE' },
    });
  });

  it('rejects objects that are not plain, whatever they inherit', () => {
    const inherited = Object.create({ type: 'leave', userId: 'u1' });
    expect(parseClientValue(inherited)).toMatchObject({
      ok: false,
      error: { code: 'BAD_MESSAGE', path: '' },
    });
    expect(parseClientValue(new Map([['type', 'leave']]))).toMatchObject({ ok: false });
    expect(parseClientValue(new Date())).toMatchObject({ ok: false });
  });

  it('accepts a prototype-free object', () => {
    const bare = Object.assign(Object.create(null), { type: 'leave', userId: 'u1' });
    expect(parseClientValue(bare)).toEqual({ ok: true, message: { type: 'leave', userId: 'u1' } });
  });

  it('turns a throwing getter or proxy into BAD_MESSAGE instead of throwing', () => {
    const getter = {
      type: 'leave',
      get userId(): string {
        throw new Error('boom');
      },
    };
    expect(parseClientValue(getter)).toMatchObject({ ok: false, error: { code: 'BAD_MESSAGE' } });
    const trap = new Proxy(
      {},
      {
        getPrototypeOf() {
          throw new Error('boom');
        },
      },
    );
    expect(parseClientValue(trap)).toMatchObject({ ok: false, error: { code: 'BAD_MESSAGE' } });
  });

  it('parses a message whose ids are prototype names into ordinary data', () => {
    const message = parseOk('{"type":"join","roomId":"__proto__","user":{"userId":"constructor"}}');
    expect(message).toEqual({ type: 'join', roomId: '__proto__', user: { userId: 'constructor' } });
    expect(Object.getPrototypeOf(message)).toBe(Object.prototype);
  });
});
