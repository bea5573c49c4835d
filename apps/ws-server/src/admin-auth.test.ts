// The admin credential: a Bearer token read from the Authorization header and compared with
// ADMIN_TOKEN in constant time, whatever the lengths.

import { describe, expect, it } from 'vitest';
import { bearerToken, tokenMatches } from './admin-auth.js';

describe('bearerToken', () => {
  it.each([
    ['Bearer abc', 'abc'],
    ['bearer abc', 'abc'],
    ['BEARER  abc ', 'abc'],
    ['Basic abc', null],
    ['Bearer', null],
    ['Bearer a b', null],
    ['abc', null],
    [undefined, null],
  ])('reads %j as %j', (header, token) => {
    expect(bearerToken(header)).toBe(token);
  });
});

describe('tokenMatches', () => {
  it('accepts only the exact token, whatever the length of the one given', () => {
    const expected = 'admin-token-0123456789';
    expect(tokenMatches(expected, expected)).toBe(true);
    for (const given of ['', 'a', expected.slice(0, -1), `${expected}9`, expected.toUpperCase(), null]) {
      expect(tokenMatches(given, expected)).toBe(false);
    }
  });
});
