import type { CameraState } from '@exo/protocol';
import { describe, expect, it } from 'vitest';
import { CameraCoalescer, type TransmitResult } from './camera-coalescer.js';
import { ManualScheduler } from './scheduler.js';

function setup(result: () => TransmitResult = () => 'sent') {
  const scheduler = new ManualScheduler(0);
  const sent: [number, string, number][] = [];
  const coalescer = new CameraCoalescer(scheduler, 50, (planetId, camera) => {
    const r = result();
    if (r === 'sent') sent.push([scheduler.now(), planetId, camera.position[0]]);
    return r;
  });
  const at = (x: number): CameraState => ({ position: [x, 0, 0] });
  return { scheduler, sent, coalescer, at };
}

describe('CameraCoalescer', () => {
  it('sends the first camera at once and the latest one when the frame ends', () => {
    const { scheduler, sent, coalescer, at } = setup();
    for (let x = 0; x < 100; x++) coalescer.offer('p', at(x));
    expect(sent).toEqual([[0, 'p', 0]]);
    scheduler.advance(50);
    expect(sent).toEqual([
      [0, 'p', 0],
      [50, 'p', 99],
    ]);
    scheduler.advance(500);
    expect(sent).toHaveLength(2);
    expect(scheduler.pending).toBe(0);
  });

  it('paces each planet on its own', () => {
    const { sent, coalescer, at } = setup();
    coalescer.offer('a', at(1));
    coalescer.offer('b', at(2));
    expect(sent).toEqual([
      [0, 'a', 1],
      [0, 'b', 2],
    ]);
  });

  it('holds a camera while the socket is busy and sends it on a later frame', () => {
    let busy = true;
    const { scheduler, sent, coalescer, at } = setup(() => (busy ? 'busy' : 'sent'));
    coalescer.offer('p', at(1));
    scheduler.advance(100);
    expect(sent).toEqual([]);
    busy = false;
    scheduler.advance(50);
    expect(sent).toEqual([[150, 'p', 1]]);
  });

  it('keeps a camera it cannot send yet and sends it on resume; resend repeats the latest', () => {
    let available = false;
    const { scheduler, sent, coalescer, at } = setup(() => (available ? 'sent' : 'unavailable'));
    coalescer.offer('p', at(3));
    expect(scheduler.pending).toBe(0);
    available = true;
    coalescer.resume('p');
    expect(sent).toEqual([[0, 'p', 3]]);
    scheduler.advance(50);
    coalescer.resend('p');
    expect(sent).toEqual([
      [0, 'p', 3],
      [50, 'p', 3],
    ]);
  });

  it('forgets a planet: nothing pending is sent after', () => {
    const { scheduler, sent, coalescer, at } = setup();
    coalescer.offer('p', at(1));
    coalescer.offer('p', at(2));
    coalescer.forget('p');
    scheduler.advance(100);
    expect(sent).toEqual([[0, 'p', 1]]);
    expect(coalescer.lastCamera('p')).toBeUndefined();
  });
});
