// CONTRACT §8, the core's rate budgets: a sliding general budget of RATE_LIMIT_MAX non-camera
// frames per RATE_LIMIT_WINDOW_MS (unparsable frames and joins included), a camera budget of
// CAMERA_RATE_MAX per second whose extra frames are coalesced without an answer, and the flood
// closes (1008) past 3 × RATE_LIMIT_MAX per window or 10 × CAMERA_RATE_MAX cameras per second.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Harness, harness, types } from './harness.js';

const START = 1_000_000;
const SMALL = { rateLimitMax: 5, rateLimitWindowMs: 1000 } as const;

const heartbeat = (userId: string, rid?: string | number) => ({
  type: 'heartbeat',
  userId,
  ts: 1,
  ...(rid === undefined ? {} : { rid }),
});
const at = (x: number) => ({ position: [x, 0, 0] });
const cameraMsg = (userId: string, planetId: string, x: number) => ({
  type: 'camera',
  planetId,
  userId,
  camera: at(x),
});
const relay = (userId: string, planetId: string, x: number) => ({
  type: 'camera',
  planetId,
  userId,
  camera: at(x),
});
const limited = (op: string | undefined, retryAfterMs: number, rid?: string | number) => ({
  type: 'error',
  ...(op === undefined ? {} : { op }),
  ok: false,
  code: 'RATE_LIMITED',
  message: expect.any(String),
  ...(rid === undefined ? {} : { rid }),
  retryAfterMs,
});
const acked = (op: string) => expect.objectContaining({ type: 'ack', op, ok: true });

/** Moves the clock to START + ms and ticks. */
const moveTo = (h: Harness, ms: number) => h.advance(START + ms - h.clock.now());

/** Sends a frame and returns what the sender got for it. */
const answer = (h: Harness, conn: string, frame: object | string) => {
  h.send(conn, frame);
  return h.take(conn);
};

describe('general rate budget', () => {
  it('never limits a client that keeps to RATE_LIMIT_MAX frames in every window, whatever the pattern', () => {
    const gap = fc.oneof(
      { arbitrary: fc.constant(0), weight: 4 },
      { arbitrary: fc.integer({ min: 1, max: 200 }), weight: 4 },
      { arbitrary: fc.integer({ min: 201, max: 12_000 }), weight: 1 },
    );
    fc.assert(
      fc.property(fc.array(gap, { minLength: 1, maxLength: 200 }), (gaps) => {
        const h = harness();
        const a = h.join('alice');
        const sent = [START];
        let t = START;
        for (const g of gaps) {
          t += g;
          // The client counts for itself: fewer than 60 frames in the window ending now.
          if (sent.filter((s) => s > t - 10_000).length >= 60) continue;
          h.clock.set(t);
          sent.push(t);
          expect(answer(h, a, heartbeat('alice'))).toEqual([acked('heartbeat')]);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('accepts 60 frames at one instant under the defaults and limits the 61st for the rest of the window', () => {
    const h = harness();
    expect(h.engine.config).toMatchObject({ rateLimitMax: 60, rateLimitWindowMs: 10_000 });
    const a = h.join('alice');
    for (let i = 2; i <= 60; i++) expect(answer(h, a, heartbeat('alice'))).toEqual([acked('heartbeat')]);
    expect(answer(h, a, heartbeat('alice', 61))).toEqual([limited('heartbeat', 10_000, 61)]);
    moveTo(h, 9999);
    expect(answer(h, a, heartbeat('alice'))).toEqual([limited('heartbeat', 1)]);
    moveTo(h, 10_000);
    expect(answer(h, a, heartbeat('alice'))).toEqual([acked('heartbeat')]);
  });

  it('accepts 60 frames spread over 10 s under the defaults, then limits until the first leaves the window', () => {
    const h = harness();
    const a = h.join('alice');
    for (let i = 1; i < 60; i++) {
      moveTo(h, i * 150);
      expect(answer(h, a, heartbeat('alice'))).toEqual([acked('heartbeat')]);
    }
    moveTo(h, 9999);
    expect(answer(h, a, heartbeat('alice'))).toEqual([limited('heartbeat', 1)]);
    moveTo(h, 10_000);
    expect(answer(h, a, heartbeat('alice'))).toEqual([acked('heartbeat')]);
    expect(answer(h, a, heartbeat('alice'))).toEqual([limited('heartbeat', 150)]);
  });

  it('keeps accepting a client that sends steadily at the limit for a long time', () => {
    const h = harness(SMALL);
    const a = h.join('alice');
    // One frame every 200 ms: five in every 1000 ms window, for 40 s.
    for (let t = 200; t <= 40_000; t += 200) {
      moveTo(h, t);
      expect(answer(h, a, heartbeat('alice'))).toEqual([acked('heartbeat')]);
    }
    // Then bursts of five exactly one window apart.
    for (let t = 41_000; t <= 60_000; t += 1000) {
      moveTo(h, t);
      for (let i = 0; i < 5; i++) expect(answer(h, a, heartbeat('alice'))).toEqual([acked('heartbeat')]);
    }
    expect(h.closes).toEqual([]);
  });

  it('answers a frame over the budget with RATE_LIMITED, the exact retryAfterMs, its op and rid, and changes nothing', () => {
    const h = harness(SMALL);
    const a = h.join('alice');
    const b = h.join('bob');
    for (const t of [100, 200, 300, 400]) {
      moveTo(h, t);
      h.send(a, heartbeat('alice'));
    }
    h.take(a);
    h.take(b);
    moveTo(h, 550);
    const before = h.engine.inspect();
    expect(answer(h, a, { type: 'select', planetId: 'p', userId: 'alice', rid: 'over' })).toEqual([
      limited('select', 450, 'over'),
    ]);
    expect(h.engine.inspect().rooms).toEqual(before.rooms);
    expect(h.take(b)).toEqual([]);
    // A refused frame is not charged: the wait still counts from the frame at 0.
    moveTo(h, 600);
    expect(answer(h, a, { type: 'join_viewer', planetId: 'p', userId: 'alice', rid: 7 })).toEqual([
      limited('join_viewer', 400, 7),
    ]);
    moveTo(h, 1000);
    expect(types(answer(h, a, { type: 'select', planetId: 'p', userId: 'alice' }))).toEqual([
      'selection_state',
      'ack',
    ]);
    expect(answer(h, a, heartbeat('alice'))).toEqual([limited('heartbeat', 100)]);
  });

  it('leaves op out of RATE_LIMITED for a frame of unknown type', () => {
    const h = harness(SMALL);
    const a = h.join('alice');
    for (let i = 0; i < 4; i++) h.send(a, heartbeat('alice'));
    h.take(a);
    expect(answer(h, a, { type: 'teleport', rid: 'u' })).toEqual([limited(undefined, 1000, 'u')]);
  });

  it('charges unparsable frames to the budget and still answers each with its decode error', () => {
    const h = harness(SMALL);
    h.open('c-x');
    for (let i = 0; i < 5; i++) {
      expect(answer(h, 'c-x', '{oops')).toEqual([
        { type: 'error', ok: false, code: 'BAD_JSON', message: expect.any(String) },
      ]);
    }
    expect(answer(h, 'c-x', { type: 'join', roomId: 'room', user: { userId: 'x' }, rid: 'j' })).toEqual([
      limited('join', 1000, 'j'),
    ]);
    expect(h.engine.inspect().rooms).toEqual([]);
    expect(answer(h, 'c-x', '{oops')).toMatchObject([{ type: 'error', code: 'BAD_JSON' }]);
    expect(answer(h, 'c-x', '[1]')).toMatchObject([{ type: 'error', code: 'BAD_MESSAGE' }]);
    moveTo(h, 1000);
    expect(answer(h, 'c-x', { type: 'join', roomId: 'room', user: { userId: 'x' } }).at(-1)).toEqual(
      acked('join'),
    );
  });

  it('charges joins to the budget', () => {
    const h = harness(SMALL);
    const a = h.join('alice');
    for (let i = 0; i < 4; i++) {
      const join = { type: 'join', roomId: 'room', user: { userId: 'alice', name: `A${i}` } };
      expect(answer(h, a, join).at(-1)).toEqual(acked('join'));
    }
    const join = { type: 'join', roomId: 'room', user: { userId: 'alice', name: 'late' } };
    expect(answer(h, a, join)).toEqual([limited('join', 1000)]);
    expect(h.engine.inspect().rooms[0]!.members[0]!.profile).toEqual({ userId: 'alice', name: 'A3' });
  });

  it('does not charge camera frames to the general budget or its flood count', () => {
    const h = harness({ ...SMALL, cameraRateMax: 100 });
    const a = h.join('alice');
    h.send(a, { type: 'join_viewer', planetId: 'p', userId: 'alice' });
    h.take(a);
    for (let i = 0; i < 50; i++) h.send(a, cameraMsg('alice', 'p', i));
    for (let i = 0; i < 3; i++) expect(answer(h, a, heartbeat('alice'))).toEqual([acked('heartbeat')]);
    expect(answer(h, a, heartbeat('alice'))).toEqual([limited('heartbeat', 1000)]);
    expect(h.closes).toEqual([]);
  });

  it('keeps a budget per connection', () => {
    const h = harness(SMALL);
    const a = h.join('alice');
    const b = h.join('bob');
    for (let i = 0; i < 4; i++) h.send(a, heartbeat('alice'));
    h.take(a);
    expect(answer(h, a, heartbeat('alice'))).toEqual([limited('heartbeat', 1000)]);
    expect(answer(h, b, heartbeat('bob'))).toEqual([acked('heartbeat')]);
  });
});

describe('camera rate budget', () => {
  it('takes 30 camera frames a second under the defaults and leaves the rest unanswered until the second has passed', () => {
    const h = harness();
    expect(h.engine.config.cameraRateMax).toBe(30);
    const a = h.join('alice');
    // Not a viewer: every camera taken is answered NOT_VIEWING, so the answers show what was taken.
    for (let i = 0; i < 30; i++) {
      expect(answer(h, a, cameraMsg('alice', 'p', i))).toMatchObject([{ code: 'NOT_VIEWING', op: 'camera' }]);
    }
    expect(answer(h, a, cameraMsg('alice', 'p', 30))).toEqual([]);
    moveTo(h, 999);
    expect(answer(h, a, cameraMsg('alice', 'p', 31))).toEqual([]);
    moveTo(h, 1000);
    expect(answer(h, a, cameraMsg('alice', 'p', 32))).toMatchObject([{ code: 'NOT_VIEWING' }]);
  });

  it('coalesces camera frames over the rate and relays the latest once the budget allows', () => {
    const h = harness({ cameraRateMax: 3, cameraMinIntervalMs: 0 });
    const a = h.join('alice');
    const b = h.join('bob');
    for (const [conn, userId] of [
      [a, 'alice'],
      [b, 'bob'],
    ] as const) {
      h.send(conn, { type: 'join_viewer', planetId: 'p', userId });
    }
    h.take(a);
    h.take(b);
    for (const x of [1, 2, 3]) h.send(a, cameraMsg('alice', 'p', x));
    expect(h.take(b)).toEqual([relay('alice', 'p', 1), relay('alice', 'p', 2), relay('alice', 'p', 3)]);
    h.send(a, cameraMsg('alice', 'p', 4));
    moveTo(h, 10);
    h.send(a, cameraMsg('alice', 'p', 5));
    // Out of rate, neither an invalid camera nor one for a planet not viewed is answered or kept.
    moveTo(h, 20);
    h.send(a, { type: 'camera', planetId: 'p', userId: 'alice', camera: { position: [0, 0] } });
    h.send(a, cameraMsg('alice', 'q', 6));
    expect(h.engine.nextDeadline()).toBe(START + 1000);
    moveTo(h, 999);
    expect(h.take(b)).toEqual([]);
    moveTo(h, 1000);
    expect(h.take(b)).toEqual([relay('alice', 'p', 5)]);
    expect(h.take(a)).toEqual([]);
    h.send(a, cameraMsg('alice', 'p', 7));
    expect(h.take(b)).toEqual([relay('alice', 'p', 7)]);
  });
});

describe('flood closes', () => {
  it('closes with 1008 past 3 × RATE_LIMIT_MAX non-camera frames in one window, unparsable ones included, and the user leaves', () => {
    const h = harness(SMALL);
    const a = h.join('alice');
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
    const b = h.join('bob');
    h.take(a);
    const answers = [];
    for (let i = 3; i <= 15; i++) answers.push(...answer(h, a, i % 2 === 0 ? heartbeat('alice') : '{oops'));
    expect(answers.map((m) => (m.type === 'error' ? m.code : m.type))).toEqual([
      'BAD_JSON',
      'ack',
      'BAD_JSON',
      ...Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? 'RATE_LIMITED' : 'BAD_JSON')),
    ]);
    expect(h.closes).toEqual([]);
    h.take(b);
    expect(answer(h, a, '{oops')).toEqual([]);
    expect(h.closes).toEqual([{ type: 'close', conn: a, code: 1008, reason: expect.any(String) }]);
    const seen = h.take(b);
    expect(types(seen)).toEqual(['presence', 'selection_state']);
    expect(seen[0]).toMatchObject({ users: [{ userId: 'bob' }] });
    expect(seen[1]).toMatchObject({ selected: {} });
    // The closed connection is gone: a late frame changes nothing.
    expect(h.send(a, heartbeat('alice'))).toEqual([]);
  });

  it('does not close a client that stays within 3 × RATE_LIMIT_MAX in each window, and accepts it again after the window', () => {
    const h = harness(SMALL);
    const a = h.join('alice');
    const codes = (n: number) => {
      const out = [];
      for (let i = 0; i < n; i++) out.push(...answer(h, a, heartbeat('alice')));
      return out.map((m) => (m.type === 'error' ? m.code : m.type));
    };
    expect(codes(14)).toEqual([...Array(4).fill('ack'), ...Array(10).fill('RATE_LIMITED')]);
    moveTo(h, 1000);
    expect(codes(15)).toEqual([...Array(5).fill('ack'), ...Array(10).fill('RATE_LIMITED')]);
    expect(h.closes).toEqual([]);
  });

  it('closes with 1008 at 181 non-camera frames in one window under the defaults', () => {
    const h = harness();
    const a = h.join('alice');
    for (let i = 2; i <= 180; i++) h.send(a, heartbeat('alice'));
    expect(h.closes).toEqual([]);
    h.send(a, heartbeat('alice'));
    expect(h.closes).toEqual([{ type: 'close', conn: a, code: 1008, reason: expect.any(String) }]);
  });

  it('closes with 1008 past 10 × CAMERA_RATE_MAX camera frames in one second, and the viewer leaves', () => {
    const h = harness({ cameraRateMax: 3 });
    const a = h.join('alice');
    const b = h.join('bob');
    for (const [conn, userId] of [
      [a, 'alice'],
      [b, 'bob'],
    ] as const) {
      h.send(conn, { type: 'join_viewer', planetId: 'p', userId });
    }
    for (let i = 0; i < 30; i++) {
      moveTo(h, i * 33);
      h.send(a, cameraMsg('alice', 'p', i));
    }
    moveTo(h, 999);
    expect(h.closes).toEqual([]);
    h.take(b);
    h.send(a, cameraMsg('alice', 'p', 30));
    expect(h.closes).toEqual([{ type: 'close', conn: a, code: 1008, reason: expect.any(String) }]);
    const seq = h.engine.inspect().rooms[0]!.seq;
    expect(h.take(b)).toEqual([
      expect.objectContaining({ type: 'presence', users: [expect.objectContaining({ userId: 'bob' })], seq }),
      { type: 'viewer_cameras', planetId: 'p', cameras: {}, seq },
    ]);
    // Its coalesced camera went with it.
    moveTo(h, 5000);
    expect(h.take(b)).toEqual([]);
  });

  it('does not close a client at 10 × CAMERA_RATE_MAX camera frames in each second', () => {
    const h = harness({ cameraRateMax: 3 });
    const a = h.join('alice');
    for (const second of [0, 1000, 2000]) {
      moveTo(h, second);
      for (let i = 0; i < 30; i++) h.send(a, cameraMsg('alice', 'p', i));
    }
    expect(h.closes).toEqual([]);
  });

  it('closes with 1008 at 301 camera frames in one second under the defaults', () => {
    const h = harness();
    const a = h.join('alice');
    for (let i = 0; i < 300; i++) h.send(a, cameraMsg('alice', 'p', i));
    expect(h.closes).toEqual([]);
    h.send(a, cameraMsg('alice', 'p', 300));
    expect(h.closes).toEqual([{ type: 'close', conn: a, code: 1008, reason: expect.any(String) }]);
  });
});
