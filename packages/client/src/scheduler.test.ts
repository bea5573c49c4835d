import { describe, expect, it } from 'vitest';
import { ManualScheduler } from './scheduler.js';

describe('ManualScheduler', () => {
  it('runs due timers in time order, ties in the order set, each at its own time', () => {
    const scheduler = new ManualScheduler(100);
    const ran: [string, number][] = [];
    scheduler.setTimeout(() => ran.push(['late', scheduler.now()]), 30);
    scheduler.setTimeout(() => ran.push(['first', scheduler.now()]), 10);
    scheduler.setTimeout(() => ran.push(['second', scheduler.now()]), 10);
    scheduler.advance(20);
    expect(ran).toEqual([
      ['first', 110],
      ['second', 110],
    ]);
    expect(scheduler.now()).toBe(120);
    scheduler.advance(10);
    expect(ran.at(-1)).toEqual(['late', 130]);
  });

  it('runs a timer set by a timer within the same advance when it falls due', () => {
    const scheduler = new ManualScheduler(0);
    const ran: number[] = [];
    scheduler.setTimeout(() => scheduler.setTimeout(() => ran.push(scheduler.now()), 5), 5);
    scheduler.advance(10);
    expect(ran).toEqual([10]);
  });

  it('forgets a cleared timer and refuses to move backwards', () => {
    const scheduler = new ManualScheduler(0);
    const handle = scheduler.setTimeout(() => {
      throw new Error('cleared timers never run');
    }, 1);
    scheduler.clearTimeout(handle);
    scheduler.advance(5);
    expect(scheduler.pending).toBe(0);
    expect(() => scheduler.advance(-1)).toThrow(RangeError);
  });
});
