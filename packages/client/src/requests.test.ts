import type { ClientMessage } from '@exo/protocol';
import { describe, expect, it } from 'vitest';
import { ExoError } from './errors.js';
import { RequestQueue } from './requests.js';
import { ManualScheduler } from './scheduler.js';

function setup(retries = 3) {
  const scheduler = new ManualScheduler(0);
  const sent: ClientMessage[] = [];
  const queue = new RequestQueue(scheduler, (m) => sent.push(m), retries);
  const ack = (rid: number) => {
    const request = queue.take(rid)!;
    queue.answered(request, { type: 'ack', op: request.command.type, ok: true, rid });
  };
  const limited = (rid: number, retryAfterMs: number) =>
    queue.refused(queue.take(rid)!, {
      type: 'error',
      ok: false,
      code: 'RATE_LIMITED',
      message: 'slow down',
      rid,
      retryAfterMs,
    });
  return { scheduler, sent, queue, ack, limited };
}

const viewer = (planetId: string) => ({ type: 'join_viewer' as const, planetId, userId: 'ana' });

describe('RequestQueue', () => {
  it('holds commands while shut and sends them in order, each with a fresh rid', () => {
    const { sent, queue } = setup();
    void queue.request(viewer('a'));
    void queue.request(viewer('b'));
    expect(sent).toEqual([]);
    queue.setMode('open');
    expect(sent.map((m) => [m.rid, (m as { planetId: string }).planetId])).toEqual([
      [1, 'a'],
      [2, 'b'],
    ]);
  });

  it('after RATE_LIMITED waits retryAfterMs, then sends one at a time until one is answered', async () => {
    const { scheduler, sent, queue, ack, limited } = setup();
    queue.setMode('open');
    const done = [viewer('a'), viewer('b'), viewer('c')].map((c) => queue.request(c));
    limited(1, 100);
    limited(2, 100);
    limited(3, 100);
    expect(sent).toHaveLength(3);
    scheduler.advance(99);
    expect(sent).toHaveLength(3);
    scheduler.advance(1);
    expect(sent.map((m) => m.rid)).toEqual([1, 2, 3, 1]);
    ack(1);
    expect(sent.map((m) => m.rid)).toEqual([1, 2, 3, 1, 2, 3]);
    ack(2);
    ack(3);
    await Promise.all(done);
  });

  it('rejects with the RATE_LIMITED error once the retries are used up', async () => {
    const { scheduler, queue, limited } = setup(1);
    queue.setMode('open');
    const result = queue.request(viewer('a')).catch((err: ExoError) => err);
    limited(1, 10);
    scheduler.advance(10);
    limited(1, 20);
    expect(await result).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 20 });
  });

  it('on a drop rejects what was sent with DISCONNECTED, drops restore commands and keeps the rest', async () => {
    const { sent, queue } = setup();
    queue.setMode('open');
    const inFlight = queue.request(viewer('a')).catch((err: ExoError) => err.code);
    queue.setMode('shut');
    const restore = queue.request(viewer('r'), true).catch((err: ExoError) => err.code);
    const waiting = queue.request(viewer('b'));
    queue.disconnected();
    expect(await inFlight).toBe('DISCONNECTED');
    expect(await restore).toBe('DISCONNECTED');
    queue.setMode('open');
    expect(sent.at(-1)).toMatchObject({ planetId: 'b' });
    expect(queue.take(sent.at(-1)!.rid)).toBeDefined();
    void waiting;
  });

  it('lets only restore commands through while restoring', () => {
    const { sent, queue } = setup();
    void queue.request(viewer('user'));
    queue.setMode('restoring');
    void queue.request(viewer('restore'), true);
    expect(sent.map((m) => (m as { planetId: string }).planetId)).toEqual(['restore']);
    queue.setMode('open');
    expect(sent.map((m) => (m as { planetId: string }).planetId)).toEqual(['restore', 'user']);
  });

  it('failAll rejects everything with the given error', async () => {
    const { queue } = setup();
    const a = queue.request(viewer('a')).catch((err: ExoError) => err);
    queue.failAll(new ExoError('SESSION_REPLACED', 'taken over'));
    expect(await a).toMatchObject({ code: 'SESSION_REPLACED' });
  });
});
