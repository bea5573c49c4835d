import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sameToken } from './tokens.js';

describe('sameToken', () => {
  it('is true exactly when the strings are equal', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        expect(sameToken(a, b)).toBe(a === b);
        expect(sameToken(a, a)).toBe(true);
      }),
    );
    expect(sameToken('abc', 'abd')).toBe(false);
    expect(sameToken('abc', 'abcd')).toBe(false);
  });
});
