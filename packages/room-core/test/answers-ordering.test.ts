// CONTRACT §3: every command but camera gets exactly one answer, echoing its rid, after everything
// else the command sends its sender; within one step a recipient gets at most one presence and one
// selection_state, presence first, then one viewer_cameras per planet in planetId order; seq rises
// once per state-changing step and is the same on every state message of that step.

import type { AckMessage, ServerMessage } from '@exo/protocol';
import { describe, expect, it } from 'vitest';
import { type Harness, harness, types } from './harness.js';

const ANSWER_TYPES: ReadonlySet<string> = new Set(['ack', 'conflict', 'error']);
const answersIn = (messages: ServerMessage[]) => messages.filter((m) => ANSWER_TYPES.has(m.type));
const seqsOf = (messages: ServerMessage[]) => messages.map((m) => ('seq' in m ? m.seq : undefined));
const planetsOf = (messages: ServerMessage[]) =>
  messages.flatMap((m) => (m.type === 'viewer_cameras' ? [m.planetId] : []));
const roomSeq = (h: Harness) => h.engine.inspect().rooms[0]?.seq;
const cam = (x: number) => ({ position: [x, 0, 0] as [number, number, number] });

/** Joins `userId` on a fresh connection and returns the join ack (and empties the inbox). */
function joinAck(h: Harness, conn: string, userId: string, extra: Record<string, unknown> = {}): AckMessage {
  h.open(conn);
  h.send(conn, { type: 'join', roomId: 'room', user: { userId }, ...extra });
  const answer = h.take(conn).at(-1);
  if (answer?.type !== 'ack') throw new Error(`join of ${userId} failed: ${JSON.stringify(answer)}`);
  return answer;
}

describe('answers', () => {
  it.each([
    ['string', 'r-1'],
    ['integer', 42],
  ] as const)('answers every non-camera command exactly once, last, echoing a %s rid', (_kind, rid) => {
    const h = harness();
    h.join('bob');
    h.open('c-alice');
    const commands = [
      { type: 'join', roomId: 'room', user: { userId: 'alice' } },
      { type: 'select', planetId: 'p', userId: 'alice' },
      { type: 'unselect', planetId: 'p', userId: 'alice' },
      { type: 'join_viewer', planetId: 'p', userId: 'alice' },
      { type: 'leave_viewer', planetId: 'p', userId: 'alice' },
      { type: 'heartbeat', ts: 5, userId: 'alice' },
      { type: 'leave', userId: 'alice' },
    ];
    for (const command of commands) {
      h.send('c-alice', { ...command, rid });
      const received = h.take('c-alice');
      expect(answersIn(received), command.type).toHaveLength(1);
      expect(received.at(-1), command.type).toMatchObject({ type: 'ack', op: command.type, ok: true, rid });
    }
  });

  it('echoes the rid in a conflict and in an error', () => {
    const h = harness();
    const a = h.join('alice');
    const b = h.join('bob');
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
    h.take(a);
    h.take(b);
    h.send(b, { type: 'select', planetId: 'p', userId: 'bob', rid: 'c-7' });
    expect(h.take(b)).toEqual([
      {
        type: 'conflict',
        planetId: 'p',
        lockedBy: 'alice',
        reason: 'locked',
        expiresAt: 1_300_000,
        rid: 'c-7',
      },
    ]);
    h.send(b, { type: 'unselect', planetId: 'p', userId: 'bob', rid: 0 });
    expect(h.take(b)).toEqual([
      { type: 'error', op: 'unselect', ok: false, code: 'NOT_SELECTED', message: expect.any(String), rid: 0 },
    ]);
  });

  it('leaves rid out of the answer to a command that carried none', () => {
    const h = harness();
    const a = h.join('alice');
    h.send(a, { type: 'heartbeat', ts: 5, userId: 'alice' });
    const [answer] = h.take(a);
    expect(answer).toEqual({ type: 'ack', op: 'heartbeat', ok: true, ts: 5, serverTs: 1_000_000 });
    expect(answer && 'rid' in answer).toBe(false);
  });

  it('does not answer an accepted camera', () => {
    const h = harness();
    const a = h.join('alice');
    const b = h.join('bob');
    h.send(a, { type: 'join_viewer', planetId: 'p', userId: 'alice' });
    h.send(b, { type: 'join_viewer', planetId: 'p', userId: 'bob' });
    h.take(a);
    h.take(b);
    h.send(a, { type: 'camera', planetId: 'p', userId: 'alice', camera: cam(1), rid: 'k' });
    expect(h.take(a)).toEqual([]);
    expect(h.take(b)).toEqual([{ type: 'camera', planetId: 'p', userId: 'alice', camera: cam(1) }]);
  });

  it('answers a rejected camera with one error echoing its rid', () => {
    const h = harness();
    h.open('c-new');
    h.send('c-new', { type: 'camera', planetId: 'p', userId: 'alice', camera: cam(1), rid: 'k1' });
    expect(h.take('c-new')).toEqual([
      { type: 'error', op: 'camera', ok: false, code: 'NOT_JOINED', message: expect.any(String), rid: 'k1' },
    ]);
    const a = h.join('alice');
    h.send(a, { type: 'camera', planetId: 'p', userId: 'alice', camera: cam(1), rid: 2 });
    expect(h.take(a)).toEqual([
      { type: 'error', op: 'camera', ok: false, code: 'NOT_VIEWING', message: expect.any(String), rid: 2 },
    ]);
  });
});

describe('the order of what a command sends its sender', () => {
  it('sends a joiner presence, then selection_state, then the ack', () => {
    const h = harness();
    const a = h.join('alice');
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
    h.take(a);
    h.open('c-bob');
    h.send('c-bob', { type: 'join', roomId: 'room', user: { userId: 'bob' }, rid: 1 });
    const received = h.take('c-bob');
    expect(types(received)).toEqual(['presence', 'selection_state', 'ack']);
    expect(received[1]).toMatchObject({ selected: { p: ['alice'] } });
    expect(received[2]).toMatchObject({ op: 'join', rid: 1 });
  });

  it('sends a re-joining viewer presence, selection_state, viewer_cameras per planet in planetId order, then the ack', () => {
    const h = harness();
    const a = h.join('alice');
    // Viewed in the order b, a: the snapshots must still come in planetId order.
    h.send(a, { type: 'join_viewer', planetId: 'b', userId: 'alice' });
    h.send(a, { type: 'join_viewer', planetId: 'a', userId: 'alice' });
    h.take(a);
    h.send(a, { type: 'join', roomId: 'room', user: { userId: 'alice', name: 'Ada' } });
    const received = h.take(a);
    expect(types(received)).toEqual([
      'presence',
      'selection_state',
      'viewer_cameras',
      'viewer_cameras',
      'ack',
    ]);
    expect(planetsOf(received)).toEqual(['a', 'b']);
  });

  it("sends a taken-over user's new connection its viewer_cameras in planetId order", () => {
    const h = harness();
    const { resumeToken } = joinAck(h, 'c-alice', 'alice');
    h.send('c-alice', { type: 'join_viewer', planetId: 'b', userId: 'alice' });
    h.send('c-alice', { type: 'join_viewer', planetId: 'a', userId: 'alice' });
    h.open('c-alice-2');
    h.send('c-alice-2', { type: 'join', roomId: 'room', user: { userId: 'alice' }, resumeToken });
    const received = h.take('c-alice-2');
    expect(types(received)).toEqual([
      'presence',
      'selection_state',
      'viewer_cameras',
      'viewer_cameras',
      'ack',
    ]);
    expect(planetsOf(received)).toEqual(['a', 'b']);
  });

  it('sends a selector selection_state, then the ack', () => {
    const h = harness();
    const a = h.join('alice');
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice', rid: 's' });
    const received = h.take(a);
    expect(types(received)).toEqual(['selection_state', 'ack']);
    expect(received[0]).toMatchObject({ selected: { p: ['alice'] } });
    h.send(a, { type: 'unselect', planetId: 'p', userId: 'alice', rid: 'u' });
    expect(types(h.take(a))).toEqual(['selection_state', 'ack']);
  });

  it('sends a new viewer its viewer_cameras, then the ack', () => {
    const h = harness();
    const a = h.join('alice');
    h.send(a, { type: 'join_viewer', planetId: 'p', userId: 'alice', rid: 'v' });
    expect(h.take(a)).toEqual([
      { type: 'viewer_cameras', planetId: 'p', cameras: {}, seq: 2 },
      { type: 'ack', op: 'join_viewer', ok: true, rid: 'v' },
    ]);
  });
});

describe('one step, one message of each kind per recipient', () => {
  it('sends one selection_state when a select releases one planet and locks another', () => {
    const h = harness();
    const a = h.join('alice');
    const b = h.join('bob');
    h.send(a, { type: 'select', planetId: 'p1', userId: 'alice' });
    h.take(a);
    h.take(b);
    h.send(a, { type: 'select', planetId: 'p2', userId: 'alice' });
    const toAlice = h.take(a);
    expect(types(toAlice)).toEqual(['selection_state', 'ack']);
    expect(toAlice[0]).toMatchObject({ selected: { p2: ['alice'] } });
    expect(h.take(b)).toEqual([toAlice[0]]);
  });

  it('sends the others presence before selection_state, once each, when a lock holder leaves', () => {
    const h = harness();
    const a = h.join('alice');
    const b = h.join('bob');
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
    h.take(b);
    h.send(a, { type: 'leave', userId: 'alice' });
    const toBob = h.take(b);
    expect(types(toBob)).toEqual(['presence', 'selection_state']);
    expect(toBob[0]).toMatchObject({ users: [{ userId: 'bob' }] });
    expect(toBob[1]).toMatchObject({ selected: {} });
  });

  it('sends the remaining viewers one viewer_cameras per planet, in planetId order, when a viewer leaves', () => {
    const h = harness();
    const a = h.join('alice');
    const b = h.join('bob');
    for (const planetId of ['b', 'a']) {
      h.send(a, { type: 'join_viewer', planetId, userId: 'alice' });
      h.send(b, { type: 'join_viewer', planetId, userId: 'bob' });
      h.send(a, { type: 'camera', planetId, userId: 'alice', camera: cam(1) });
    }
    h.take(b);
    h.send(a, { type: 'leave', userId: 'alice' });
    const toBob = h.take(b);
    expect(types(toBob)).toEqual(['presence', 'viewer_cameras', 'viewer_cameras']);
    expect(planetsOf(toBob)).toEqual(['a', 'b']);
    expect(toBob[1]).toMatchObject({ cameras: {} });
  });

  it('merges deadlines due at one time into one presence and one selection_state per recipient', () => {
    const h = harness({ presenceTimeoutMs: 10_000 });
    const a = h.join('alice');
    const b = h.join('bob');
    const c = h.join('carol');
    h.send(a, { type: 'select', planetId: 'p1', userId: 'alice' });
    h.send(b, { type: 'select', planetId: 'p2', userId: 'bob' });
    h.advance(5_000);
    h.send(c, { type: 'heartbeat', ts: 1, userId: 'carol' });
    h.take(c);
    // alice and bob were last seen at the same time, so both expire in one step.
    h.advance(5_000);
    const toCarol = h.take(c);
    expect(types(toCarol)).toEqual(['presence', 'selection_state']);
    expect(toCarol[0]).toMatchObject({ users: [{ userId: 'carol' }] });
    expect(toCarol[1]).toMatchObject({ selected: {} });
    expect(h.closes.map((x) => `${x.conn}:${x.code}`).sort()).toEqual([`${a}:4008`, `${b}:4008`]);
  });
});

describe('seq', () => {
  it('rises once per state-changing step and is the same on every state message of the step', () => {
    const h = harness();
    h.open('c-alice');
    h.send('c-alice', { type: 'join', roomId: 'room', user: { userId: 'alice' } });
    expect(seqsOf(h.take('c-alice'))).toEqual([1, 1, undefined]);
    const b = h.join('bob', 'room');
    expect(seqsOf(h.take('c-alice'))).toEqual([2]);
    h.send('c-alice', { type: 'select', planetId: 'p', userId: 'alice' });
    h.send('c-alice', { type: 'join_viewer', planetId: 'p', userId: 'alice' });
    expect(seqsOf(h.take('c-alice'))).toEqual([3, undefined, 4, undefined]);
    expect(seqsOf(h.take(b))).toEqual([3]);
    h.send('c-alice', { type: 'leave', userId: 'alice' });
    // presence and selection_state of the leave come from one step: one seq for both.
    expect(seqsOf(h.take(b))).toEqual([5, 5]);
    expect(roomSeq(h)).toBe(5);
  });

  it('stays put on lock renewals, heartbeats and cameras', () => {
    const h = harness();
    const a = h.join('alice');
    const b = h.join('bob');
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
    h.send(a, { type: 'join_viewer', planetId: 'p', userId: 'alice' });
    h.send(b, { type: 'join_viewer', planetId: 'p', userId: 'bob' });
    const before = roomSeq(h);
    h.advance(1_000);
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
    h.send(a, { type: 'heartbeat', ts: 1, userId: 'alice' });
    h.send(a, { type: 'camera', planetId: 'p', userId: 'alice', camera: cam(1) });
    h.advance(1_000);
    h.send(a, { type: 'camera', planetId: 'p', userId: 'alice', camera: cam(2) });
    expect(roomSeq(h)).toBe(before);
  });

  it('stamps the current seq on a state message sent without a change', () => {
    const h = harness();
    const a = h.join('alice');
    h.send(a, { type: 'join_viewer', planetId: 'p', userId: 'alice' });
    h.take(a);
    const current = roomSeq(h);
    h.send(a, { type: 'join_viewer', planetId: 'p', userId: 'alice' });
    h.send(a, { type: 'join', roomId: 'room', user: { userId: 'alice' } });
    expect(seqsOf(h.take(a))).toEqual([current, undefined, current, current, current, undefined]);
    expect(roomSeq(h)).toBe(current);
  });
});
