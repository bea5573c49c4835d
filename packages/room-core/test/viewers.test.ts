// CONTRACT §6: join_viewer snapshots, the viewed-planet limit, camera storage and relay, and
// what the remaining viewers learn when a viewer stops viewing.

import type { ServerMessage } from '@exo/protocol';
import { describe, expect, it } from 'vitest';
import { type Harness, harness, types } from './harness.js';

const at = (x: number) => ({ position: [x, 0, 0] });
const cameraMsg = (userId: string, planetId: string, x: number, rid?: string | number) => ({
  type: 'camera',
  planetId,
  userId,
  camera: at(x),
  ...(rid === undefined ? {} : { rid }),
});
const relay = (userId: string, planetId: string, x: number) => ({
  type: 'camera',
  planetId,
  userId,
  camera: at(x),
});

/** `userId` (already joined on c-userId) starts viewing `planetId`; its inbox is emptied. */
function view(h: Harness, userId: string, planetId: string): void {
  const conn = `c-${userId}`;
  h.take(conn);
  h.send(conn, { type: 'join_viewer', planetId, userId });
  expect(types(h.take(conn))).toEqual(['viewer_cameras', 'ack']);
}

const seqOf = (h: Harness): number => h.engine.inspect().rooms[0]!.seq;

/** Empties every inbox named. */
const drain = (h: Harness, ...conns: string[]) => {
  for (const conn of conns) h.take(conn);
};

describe('join_viewer', () => {
  it('answers viewer_cameras with the last camera of every other viewer that sent one, then the ack', () => {
    const h = harness();
    const [a, b, c, d] = ['alice', 'bob', 'carol', 'dave'].map((u) => h.join(u)) as [
      string,
      string,
      string,
      string,
    ];
    for (const u of ['alice', 'bob', 'dave']) view(h, u, 'p');
    h.send(a, cameraMsg('alice', 'p', 1));
    h.send(b, cameraMsg('bob', 'p', 2));
    h.advance(100);
    drain(h, a, b, c, d);
    const seq = seqOf(h);
    h.send(c, { type: 'join_viewer', planetId: 'p', userId: 'carol', rid: 'v1' });
    expect(h.take(c)).toEqual([
      { type: 'viewer_cameras', planetId: 'p', cameras: { alice: at(1), bob: at(2) }, seq: seq + 1 },
      { type: 'ack', op: 'join_viewer', ok: true, rid: 'v1' },
    ]);
    // Becoming a viewer is announced to no one else.
    expect([h.take(a), h.take(b), h.take(d)]).toEqual([[], [], []]);
  });

  it('answers an empty snapshot on a planet nobody views yet', () => {
    const h = harness();
    const a = h.join('alice');
    const seq = seqOf(h);
    h.send(a, { type: 'join_viewer', planetId: 'p', userId: 'alice', rid: 3 });
    expect(h.take(a)).toEqual([
      { type: 'viewer_cameras', planetId: 'p', cameras: {}, seq: seq + 1 },
      { type: 'ack', op: 'join_viewer', ok: true, rid: 3 },
    ]);
  });

  it("never puts the joiner's own camera in its snapshot", () => {
    const h = harness();
    const a = h.join('alice');
    const b = h.join('bob');
    view(h, 'alice', 'p');
    view(h, 'bob', 'p');
    h.send(a, cameraMsg('alice', 'p', 1));
    h.send(b, cameraMsg('bob', 'p', 2));
    drain(h, a, b);
    h.send(a, { type: 'join_viewer', planetId: 'p', userId: 'alice' });
    expect(h.take(a)[0]).toEqual({
      type: 'viewer_cameras',
      planetId: 'p',
      cameras: { bob: at(2) },
      seq: seqOf(h),
    });
    expect(h.engine.inspect().rooms[0]!.members[0]!.viewing[0]!.camera).toEqual(at(1));
  });

  it('answers join_viewer on a planet already viewed with the same snapshot and ack, changing nothing', () => {
    const h = harness();
    const a = h.join('alice');
    const b = h.join('bob');
    view(h, 'alice', 'p');
    view(h, 'bob', 'p');
    h.send(b, cameraMsg('bob', 'p', 2));
    drain(h, a, b);
    h.send(a, { type: 'join_viewer', planetId: 'p', userId: 'alice', rid: 'again' });
    const first = h.take(a);
    const before = h.engine.inspect();
    h.send(a, { type: 'join_viewer', planetId: 'p', userId: 'alice', rid: 'again' });
    expect(h.take(a)).toEqual(first);
    expect(first).toEqual([
      { type: 'viewer_cameras', planetId: 'p', cameras: { bob: at(2) }, seq: before.rooms[0]!.seq },
      { type: 'ack', op: 'join_viewer', ok: true, rid: 'again' },
    ]);
    expect(h.engine.inspect()).toEqual(before);
    expect(h.take(b)).toEqual([]);
  });

  it('refuses a fifth planet with LIMIT_EXCEEDED under the default MAX_VIEWED_PLANETS of 4', () => {
    const h = harness();
    const a = h.join('alice');
    for (const p of ['p1', 'p2', 'p3', 'p4']) view(h, 'alice', p);
    const before = h.engine.inspect();
    h.send(a, { type: 'join_viewer', planetId: 'p5', userId: 'alice', rid: 'five' });
    expect(h.take(a)).toEqual([
      {
        type: 'error',
        op: 'join_viewer',
        ok: false,
        code: 'LIMIT_EXCEEDED',
        message: expect.any(String),
        rid: 'five',
      },
    ]);
    expect(h.engine.inspect().rooms).toEqual(before.rooms);
    // A planet already viewed is not one more.
    view(h, 'alice', 'p4');
  });

  it('lets a user view a new planet once it left one, under a configured MAX_VIEWED_PLANETS', () => {
    const h = harness({ maxViewedPlanets: 1 });
    const a = h.join('alice');
    view(h, 'alice', 'p');
    h.send(a, { type: 'join_viewer', planetId: 'q', userId: 'alice' });
    expect(h.take(a)).toMatchObject([{ type: 'error', code: 'LIMIT_EXCEEDED' }]);
    h.send(a, { type: 'leave_viewer', planetId: 'p', userId: 'alice' });
    h.take(a);
    view(h, 'alice', 'q');
    expect(h.engine.inspect().rooms[0]!.viewers).toEqual([['q', ['alice']]]);
  });
});

describe('camera', () => {
  it('refuses a camera from a user who does not view the planet with NOT_VIEWING, echoing the rid', () => {
    const h = harness();
    const a = h.join('alice');
    const b = h.join('bob');
    view(h, 'alice', 'p');
    view(h, 'bob', 'q');
    h.send(a, cameraMsg('alice', 'q', 1, 'c1'));
    expect(h.take(a)).toEqual([
      { type: 'error', op: 'camera', ok: false, code: 'NOT_VIEWING', message: expect.any(String), rid: 'c1' },
    ]);
    expect(h.take(b)).toEqual([]);
    expect(h.engine.inspect().rooms[0]!.members[0]!.viewing).toEqual([
      { planetId: 'p', camera: null, cameraAt: null, pending: null, lastRelayAt: null },
    ]);
  });

  it('sends no ack for an accepted camera, even one carrying a rid', () => {
    const h = harness();
    const a = h.join('alice');
    view(h, 'alice', 'p');
    h.send(a, cameraMsg('alice', 'p', 1, 'r'));
    h.advance(1000);
    expect(h.take(a)).toEqual([]);
  });

  it('relays a camera to the other viewers of its planet only', () => {
    const h = harness();
    const [a, b, c, d, e] = ['alice', 'bob', 'carol', 'dave', 'erin'].map((u) => h.join(u)) as string[];
    view(h, 'alice', 'p');
    view(h, 'bob', 'p');
    view(h, 'carol', 'p');
    view(h, 'dave', 'q');
    drain(h, a!, b!, c!, d!, e!);
    h.send(a!, cameraMsg('alice', 'p', 7));
    expect(h.take(b!)).toEqual([relay('alice', 'p', 7)]);
    expect(h.take(c!)).toEqual([relay('alice', 'p', 7)]);
    // Not the sender, not a viewer of another planet, not a member who views nothing.
    expect([h.take(a!), h.take(d!), h.take(e!)]).toEqual([[], [], []]);
  });

  it("stores the camera as the user's last camera, shown to the next viewer to join", () => {
    const h = harness();
    const a = h.join('alice');
    const b = h.join('bob');
    view(h, 'alice', 'p');
    h.send(a, cameraMsg('alice', 'p', 1));
    h.send(a, cameraMsg('alice', 'p', 2));
    h.send(b, { type: 'join_viewer', planetId: 'p', userId: 'bob' });
    expect(h.take(b)[0]).toEqual({
      type: 'viewer_cameras',
      planetId: 'p',
      cameras: { alice: at(2) },
      seq: seqOf(h),
    });
  });

  it('leaves the room seq alone when cameras move', () => {
    const h = harness();
    const a = h.join('alice');
    h.join('bob');
    view(h, 'alice', 'p');
    view(h, 'bob', 'p');
    const seq = seqOf(h);
    h.send(a, cameraMsg('alice', 'p', 1));
    h.send(a, cameraMsg('alice', 'p', 2));
    h.advance(1000);
    expect(seqOf(h)).toBe(seq);
  });

  it('relays nothing to a viewer in reconnect grace, and hands it the latest cameras when it takes over', () => {
    const h = harness({ reconnectGraceMs: 5000 });
    const a = h.join('alice');
    h.open('c-bob');
    h.send('c-bob', { type: 'join', roomId: 'room', user: { userId: 'bob' } });
    const joined = h.take('c-bob').at(-1) as Extract<ServerMessage, { type: 'ack' }>;
    view(h, 'alice', 'p');
    view(h, 'bob', 'p');
    h.close('c-bob', 'network');
    h.take(a);
    const from = h.log.length;
    h.send(a, cameraMsg('alice', 'p', 1));
    h.advance(10);
    h.send(a, cameraMsg('alice', 'p', 2));
    h.advance(1000);
    expect(h.log.slice(from)).toEqual([]);
    h.open('c-bob2');
    h.send('c-bob2', {
      type: 'join',
      roomId: 'room',
      user: { userId: 'bob' },
      resumeToken: joined.resumeToken,
    });
    const answer = h.take('c-bob2');
    expect(types(answer)).toEqual(['presence', 'selection_state', 'viewer_cameras', 'ack']);
    expect(answer[2]).toEqual({
      type: 'viewer_cameras',
      planetId: 'p',
      cameras: { alice: at(2) },
      seq: seqOf(h),
    });
    expect(answer[3]).toMatchObject({ op: 'join', viewing: ['p'] });
    h.send(a, cameraMsg('alice', 'p', 3));
    expect(h.take('c-bob2')).toEqual([relay('alice', 'p', 3)]);
  });
});

describe('a viewer that stops viewing', () => {
  it('leaves a snapshot without its camera to the remaining viewers after leave_viewer', () => {
    const h = harness();
    const [a, b, c] = ['alice', 'bob', 'carol'].map((u) => h.join(u)) as [string, string, string];
    for (const u of ['alice', 'bob', 'carol']) view(h, u, 'p');
    h.send(a, cameraMsg('alice', 'p', 1));
    h.send(b, cameraMsg('bob', 'p', 2));
    drain(h, a, b, c);
    const seq = seqOf(h);
    h.send(a, { type: 'leave_viewer', planetId: 'p', userId: 'alice', rid: 'bye' });
    expect(h.take(a)).toEqual([{ type: 'ack', op: 'leave_viewer', ok: true, rid: 'bye' }]);
    expect(h.take(b)).toEqual([{ type: 'viewer_cameras', planetId: 'p', cameras: {}, seq: seq + 1 }]);
    expect(h.take(c)).toEqual([
      { type: 'viewer_cameras', planetId: 'p', cameras: { bob: at(2) }, seq: seq + 1 },
    ]);
    expect(h.engine.inspect().rooms[0]!.viewers).toEqual([['p', ['bob', 'carol']]]);
  });

  it('tells nobody when it had never sent a camera', () => {
    const h = harness();
    const a = h.join('alice');
    const b = h.join('bob');
    view(h, 'alice', 'p');
    view(h, 'bob', 'p');
    h.send(b, cameraMsg('bob', 'p', 2));
    h.take(a);
    h.send(a, { type: 'leave_viewer', planetId: 'p', userId: 'alice' });
    expect(h.take(a)).toEqual([{ type: 'ack', op: 'leave_viewer', ok: true }]);
    expect(h.take(b)).toEqual([]);
  });

  it('answers leave_viewer from a non-viewer with NOT_VIEWING, echoing the rid', () => {
    const h = harness();
    const a = h.join('alice');
    view(h, 'alice', 'p');
    const before = h.engine.inspect();
    h.send(a, { type: 'leave_viewer', planetId: 'q', userId: 'alice', rid: 9 });
    expect(h.take(a)).toEqual([
      {
        type: 'error',
        op: 'leave_viewer',
        ok: false,
        code: 'NOT_VIEWING',
        message: expect.any(String),
        rid: 9,
      },
    ]);
    expect(h.engine.inspect().rooms).toEqual(before.rooms);
  });

  it('leaves, on leave, presence then a snapshot per planet in planetId order to the remaining viewers', () => {
    const h = harness();
    const a = h.join('alice');
    const b = h.join('bob');
    for (const p of ['zeta', 'alpha']) {
      view(h, 'alice', p);
      view(h, 'bob', p);
      h.send(a, cameraMsg('alice', p, 1));
    }
    h.send(b, cameraMsg('bob', 'alpha', 2));
    drain(h, a, b);
    h.send(a, { type: 'leave', userId: 'alice' });
    const seq = seqOf(h);
    expect(h.take(b)).toEqual([
      { type: 'presence', users: [expect.objectContaining({ userId: 'bob' })], seq },
      { type: 'viewer_cameras', planetId: 'alpha', cameras: {}, seq },
      { type: 'viewer_cameras', planetId: 'zeta', cameras: {}, seq },
    ]);
    expect(h.take(a)).toEqual([{ type: 'ack', op: 'leave', ok: true }]);
  });

  it('leaves a snapshot without its camera when its socket closes', () => {
    const h = harness();
    const a = h.join('alice');
    const b = h.join('bob');
    const c = h.join('carol');
    for (const u of ['alice', 'bob', 'carol']) view(h, u, 'p');
    h.send(a, cameraMsg('alice', 'p', 1));
    h.send(c, cameraMsg('carol', 'p', 3));
    drain(h, a, b, c);
    h.close(a, 'network');
    const messages = h.take(b);
    expect(types(messages)).toEqual(['presence', 'viewer_cameras']);
    expect(messages[1]).toEqual({
      type: 'viewer_cameras',
      planetId: 'p',
      cameras: { carol: at(3) },
      seq: seqOf(h),
    });
  });

  it('leaves a snapshot without its camera when its presence expires', () => {
    const h = harness({ presenceTimeoutMs: 1000 });
    const a = h.join('alice');
    view(h, 'alice', 'p');
    h.send(a, cameraMsg('alice', 'p', 1));
    h.advance(600);
    const b = h.join('bob');
    view(h, 'bob', 'p');
    h.advance(400);
    expect(h.closeOf(a)).toMatchObject({ code: 4008 });
    const messages = h.take(b);
    expect(types(messages)).toEqual(['presence', 'viewer_cameras']);
    expect(messages[1]).toEqual({ type: 'viewer_cameras', planetId: 'p', cameras: {}, seq: seqOf(h) });
  });
});
