import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF, reconnectDelay } from './backoff.js';

describe('reconnectDelay', () => {
  it('doubles from 500 ms to a 30 s cap, half of each wait being random', () => {
    const low = [0, 1, 2, 3, 4, 5, 6, 7].map((n) => reconnectDelay(n, 0, DEFAULT_BACKOFF, () => 0));
    expect(low).toEqual([250, 500, 1000, 2000, 4000, 8000, 15000, 15000]);
  });

  it('starts from the floor for closes that ask to back off', () => {
    expect(reconnectDelay(0, 5000, DEFAULT_BACKOFF, () => 0)).toBe(2500);
    expect(reconnectDelay(1, 5000, DEFAULT_BACKOFF, () => 0.5)).toBe(7500);
  });

  it('stays within [ceiling / 2, ceiling] for any attempt and any random draw', () => {
    fc.assert(
      fc.property(fc.nat(60), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
        const ceiling = Math.min(30_000, 500 * 2 ** attempt);
        const wait = reconnectDelay(attempt, 0, DEFAULT_BACKOFF, () => r);
        return wait >= ceiling / 2 && wait <= ceiling;
      }),
    );
  });
});
