import { describe, expect, it } from 'vitest';
import { expectRejectedAt, type Json, parseOk, variantOf } from '../test/fixtures.js';

const withUser = (user: Record<string, Json>) => variantOf('join', { user: { userId: 'u1', ...user } });

describe('user profile', () => {
  it('needs only a userId', () => {
    expect(parseOk(withUser({}))).toMatchObject({ user: { userId: 'u1' } });
    expect(Object.keys((parseOk(withUser({})) as { user: object }).user)).toEqual(['userId']);
  });

  describe('name', () => {
    it('accepts 64 astral code points, which are 128 UTF-16 units', () => {
      const name = '🪐'.repeat(64);
      expect(parseOk(withUser({ name }))).toMatchObject({ user: { name } });
    });

    it('rejects 65 code points, even when they fit in 128 UTF-16 units', () => {
      expectRejectedAt(withUser({ name: `${'🪐'.repeat(64)}a` }), 'user.name');
      expectRejectedAt(withUser({ name: 'a'.repeat(65) }), 'user.name');
    });

    it('rejects an empty name', () => {
      expectRejectedAt(withUser({ name: '' }), 'user.name');
    });

    it.each([
      ['U+0000', '\u0000'],
      ['a tab', '\t'],
      ['a newline', '\n'],
      ['U+001F', '\u001f'],
      ['DEL', '\u007f'],
      ['U+0085 (NEL)', '\u0085'],
      ['U+009F', '\u009f'],
    ])('rejects the control character %s', (_, c) => {
      expectRejectedAt(withUser({ name: `Ada${c}` }), 'user.name');
    });

    it('accepts spaces, combining marks and right-to-left text', () => {
      const name = 'Zoë Ångström أحمد';
      expect(parseOk(withUser({ name }))).toMatchObject({ user: { name } });
    });
  });

  describe('color', () => {
    it.each([
      ['#ABC', '#abc'],
      ['#abc', '#abc'],
      ['#A0b1C2', '#a0b1c2'],
      ['#ffffff', '#ffffff'],
    ])('accepts %s and returns it lower-cased as %s', (color, lower) => {
      expect(parseOk(withUser({ color }))).toMatchObject({ user: { color: lower } });
    });

    it.each(['abc', '#ab', '#abcd', '#abcde', '#abcdefg', '#ggg', 'red', '', '#ABC ', 'rgb(0,0,0)'])(
      'rejects %j',
      (color) => {
        expectRejectedAt(withUser({ color }), 'user.color');
      },
    );
  });

  describe('avatarUrl', () => {
    it.each(['https://example.com/a.png', 'http://localhost:8080/x?y=1#z', 'HTTPS://EXAMPLE.COM/'])(
      'accepts %s unchanged',
      (avatarUrl) => {
        expect(parseOk(withUser({ avatarUrl }))).toMatchObject({ user: { avatarUrl } });
      },
    );

    it('accepts exactly 512 characters and rejects 513', () => {
      const base = 'https://example.com/';
      const url512 = base + 'a'.repeat(512 - base.length);
      expect(parseOk(withUser({ avatarUrl: url512 }))).toMatchObject({ user: { avatarUrl: url512 } });
      expectRejectedAt(withUser({ avatarUrl: `${url512}a` }), 'user.avatarUrl');
    });

    it.each([
      'ftp://example.com/a.png',
      'javascript:alert(1)',
      'data:image/png;base64,AAAA',
      'file:///etc/passwd',
      '//example.com/a.png',
      '/a.png',
      'not a url',
      'https://exa\nmple.com/',
      '',
    ])('rejects %j', (avatarUrl) => {
      expectRejectedAt(withUser({ avatarUrl }), 'user.avatarUrl');
    });
  });
});
