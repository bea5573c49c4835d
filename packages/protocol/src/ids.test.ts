import { describe, expect, it } from 'vitest';
import { expectRejectedAt, parseError, parseOk, variantOf } from '../test/fixtures.js';

describe('identifiers', () => {
  it.each(['__proto__', 'constructor', 'prototype', 'a', 'A-z_0.9:@x', 'x'.repeat(128)])(
    'accepts %j as an id',
    (id) => {
      const text = variantOf('select', { planetId: id, userId: id });
      expect(parseOk(text)).toEqual({ type: 'select', planetId: id, userId: id });
    },
  );

  it.each([
    ['an empty id', ''],
    ['a 129-char id', 'x'.repeat(129)],
    ['a space', 'a b'],
    ['a slash', 'a/b'],
    ['a non-ASCII letter', 'é'],
    ['a trailing newline', 'abc\n'],
    ['a number', 42],
  ])('rejects %s', (_, id) => {
    const error = expectRejectedAt(variantOf('select', { planetId: id }), 'planetId');
    expect(error.message).toMatch(/^planetId: expected an id/);
  });

  it('checks roomId, userId and the userId inside user', () => {
    expectRejectedAt(variantOf('join', { roomId: 'bad id' }), 'roomId');
    expectRejectedAt(variantOf('leave', { userId: '' }), 'userId');
    expectRejectedAt(variantOf('join', { user: { userId: 'x'.repeat(129) } }), 'user.userId');
  });
});

describe('rid', () => {
  it.each([
    ['a string of 64 chars', 'r'.repeat(64)],
    ['an empty string', ''],
    ['a negative integer', -7],
    ['the largest safe integer', Number.MAX_SAFE_INTEGER],
  ])('accepts %s and returns it unchanged', (_, rid) => {
    expect(parseOk(variantOf('leave', { rid: rid }))).toEqual({
      type: 'leave',
      userId: 'u1',
      rid,
    });
  });

  it.each([
    ['a string of 65 chars', 'r'.repeat(65)],
    ['a fraction', 1.5],
    ['an unsafe integer', 2 ** 53],
    ['a boolean', true],
    ['null', null],
  ])('rejects %s, without echoing it', (_, rid) => {
    const error = expectRejectedAt(variantOf('leave', { rid: rid }), 'rid');
    expect(error.rid).toBeUndefined();
    expect(error.type).toBe('leave');
  });
});

describe('resumeToken', () => {
  it('accepts 1 to 256 characters and rejects an empty or 257-char token', () => {
    expect(parseOk(variantOf('join', { resumeToken: 't'.repeat(256) }))).toMatchObject({
      resumeToken: 't'.repeat(256),
    });
    expectRejectedAt(variantOf('join', { resumeToken: '' }), 'resumeToken');
    expectRejectedAt(variantOf('join', { resumeToken: 't'.repeat(257) }), 'resumeToken');
  });

  it('is optional', () => {
    expect(parseError(variantOf('join', { resumeToken: null })).path).toBe('resumeToken');
    const message = parseOk(variantOf('join', { resumeToken: undefined }));
    expect('resumeToken' in message).toBe(false);
  });
});
