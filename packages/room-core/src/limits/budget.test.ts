import { describe, expect, it } from 'vitest';
import { FixedWindowCounter, SlidingBudget } from './budget.js';

describe('SlidingBudget', () => {
  it('accepts max units at one instant and refuses the next until the window has passed', () => {
    const budget = new SlidingBudget(3, 1000);
    expect([budget.take(0), budget.take(0), budget.take(0)]).toEqual([0, 0, 0]);
    expect(budget.take(0)).toBe(1000);
    expect(budget.take(999)).toBe(1);
    expect(budget.take(1000)).toBe(0);
  });

  it('says exactly how long to wait: until the oldest accepted unit leaves the window', () => {
    const budget = new SlidingBudget(2, 1000);
    budget.take(100);
    budget.take(700);
    expect(budget.take(850)).toBe(250);
    expect(budget.take(1100)).toBe(0);
    // The window slides: the unit at 700 is now the oldest, not a fixed window's start.
    expect(budget.take(1200)).toBe(500);
    expect(budget.take(1700)).toBe(0);
  });

  it('does not remember refused units, so retrying does not push the wait further out', () => {
    const budget = new SlidingBudget(1, 1000);
    budget.take(0);
    for (let t = 100; t < 1000; t += 100) expect(budget.take(t)).toBe(1000 - t);
    expect(budget.take(1000)).toBe(0);
  });

  it('never refuses a client that keeps at most max units in any window', () => {
    const budget = new SlidingBudget(4, 1000);
    // Bursts of four exactly one window apart, then a steady unit every 250 ms.
    for (let w = 0; w < 50; w++) for (let i = 0; i < 4; i++) expect(budget.take(w * 1000)).toBe(0);
    for (let t = 50_000; t < 100_000; t += 250) expect(budget.take(t)).toBe(0);
  });

  it('refuses a fifth unit in a window that a steady client squeezes in', () => {
    const budget = new SlidingBudget(4, 1000);
    for (const t of [0, 250, 500, 750]) expect(budget.take(t)).toBe(0);
    expect(budget.take(999)).toBe(1);
  });

  it('reports the wait without taking a unit', () => {
    const budget = new SlidingBudget(1, 500);
    expect(budget.waitAt(0)).toBe(0);
    expect(budget.waitAt(0)).toBe(0);
    expect(budget.take(0)).toBe(0);
    expect(budget.waitAt(200)).toBe(300);
    expect(budget.waitAt(500)).toBe(0);
    expect(budget.take(500)).toBe(0);
  });
});

describe('FixedWindowCounter', () => {
  it('counts every event in the window that starts at the first one', () => {
    const counter = new FixedWindowCounter(1000);
    expect([counter.hit(5000), counter.hit(5000), counter.hit(5999)]).toEqual([1, 2, 3]);
  });

  it('starts over at the first event at or after the window end', () => {
    const counter = new FixedWindowCounter(1000);
    counter.hit(5000);
    counter.hit(5500);
    expect(counter.hit(6000)).toBe(1);
    // The new window starts at 6000, not at a multiple of the window length.
    expect(counter.hit(6999)).toBe(2);
    expect(counter.hit(7000)).toBe(1);
  });

  it('starts a fresh window after a long quiet time', () => {
    const counter = new FixedWindowCounter(10_000);
    counter.hit(0);
    counter.hit(1);
    expect(counter.hit(1_000_000)).toBe(1);
  });
});
