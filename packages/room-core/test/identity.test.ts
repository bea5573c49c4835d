// CONTRACT §4, identity: a connection is bound to one (roomId, userId) by its first successful
// join; before it only join is accepted, after it only that user may speak on it. The join ack
// carries a resumeToken. A re-join as the same user in the same room is a profile update. With auth
// on, a connection may only join as its credential's subject.

import type { AckMessage, PresenceMessage, ServerMessage } from '@exo/protocol';
import { describe, expect, it } from 'vitest';
import { type Harness, harness, types } from './harness.js';

const T0 = 1_000_000;

/** Every non-join command, for the user `userId`. */
const commandsFor = (userId: string) => [
  { type: 'leave', userId },
  { type: 'select', planetId: 'p', userId },
  { type: 'unselect', planetId: 'p', userId },
  { type: 'join_viewer', planetId: 'p', userId },
  { type: 'leave_viewer', planetId: 'p', userId },
  { type: 'heartbeat', ts: 1, userId },
  { type: 'camera', planetId: 'p', userId, camera: { position: [0, 0, 0] } },
];
const OPS = commandsFor('x').map((c) => c.type);

/** Joins on a fresh connection and returns everything the joiner received. */
function joinOn(h: Harness, conn: string, user: Record<string, unknown>, roomId = 'room'): ServerMessage[] {
  h.open(conn);
  h.send(conn, { type: 'join', roomId, user });
  return h.take(conn);
}

function ackOf(messages: ServerMessage[]): AckMessage {
  const last = messages.at(-1);
  if (last?.type !== 'ack') throw new Error(`expected an ack last, got ${JSON.stringify(last)}`);
  return last;
}

function presenceOf(messages: ServerMessage[]): PresenceMessage {
  const presence = messages.find((m) => m.type === 'presence');
  if (presence?.type !== 'presence') throw new Error(`no presence in ${JSON.stringify(messages)}`);
  return presence;
}

describe('binding a connection', () => {
  it.each(OPS)('refuses %s before a join with NOT_JOINED', (op) => {
    const h = harness();
    h.open('c-1');
    const command = commandsFor('alice').find((c) => c.type === op)!;
    h.send('c-1', { ...command, rid: `r-${op}` });
    expect(h.take('c-1')).toEqual([
      { type: 'error', op, ok: false, code: 'NOT_JOINED', message: expect.any(String), rid: `r-${op}` },
    ]);
    expect(h.engine.inspect().rooms).toEqual([]);
  });

  it.each(OPS)(
    'refuses %s for another userId than the bound one with USER_MISMATCH, changing nothing',
    (op) => {
      const h = harness();
      const a = h.join('alice');
      h.join('mallory');
      // alice holds and views p, so each command would succeed were it hers.
      h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
      h.send(a, { type: 'join_viewer', planetId: 'p', userId: 'alice' });
      h.take(a);
      h.take('c-mallory');
      h.advance(1_000);
      const before = h.engine.inspect();
      const command = commandsFor('mallory').find((c) => c.type === op)!;
      h.send(a, { ...command, rid: 3 });
      expect(h.take(a)).toEqual([
        { type: 'error', op, ok: false, code: 'USER_MISMATCH', message: expect.any(String), rid: 3 },
      ]);
      expect(h.take('c-mallory')).toEqual([]);
      // Not even alice's lastSeen moves: the frame did not pass the binding check.
      expect(h.engine.inspect()).toEqual(before);
    },
  );

  it('refuses a join to another room while bound with ALREADY_JOINED', () => {
    const h = harness();
    const a = h.join('alice', 'room-1');
    const before = h.engine.inspect();
    h.send(a, { type: 'join', roomId: 'room-2', user: { userId: 'alice' }, rid: 'j' });
    expect(h.take(a)).toEqual([
      { type: 'error', op: 'join', ok: false, code: 'ALREADY_JOINED', message: expect.any(String), rid: 'j' },
    ]);
    expect(h.engine.inspect()).toEqual(before);
  });

  it('refuses a join to the same room as another user while bound with USER_MISMATCH', () => {
    const h = harness();
    const a = h.join('alice');
    const before = h.engine.inspect();
    h.send(a, { type: 'join', roomId: 'room', user: { userId: 'bob' }, rid: 'j' });
    expect(h.take(a)).toEqual([
      { type: 'error', op: 'join', ok: false, code: 'USER_MISMATCH', message: expect.any(String), rid: 'j' },
    ]);
    expect(h.engine.inspect()).toEqual(before);
    h.send(a, { type: 'heartbeat', ts: 1, userId: 'alice' });
    expect(h.take(a)).toMatchObject([{ type: 'ack', op: 'heartbeat' }]);
  });
});

describe('resumeToken', () => {
  it('hands every joiner its own resumeToken in the join ack', () => {
    const h = harness();
    const alice = ackOf(joinOn(h, 'c-alice', { userId: 'alice' }));
    const bob = ackOf(joinOn(h, 'c-bob', { userId: 'bob' }));
    expect(alice.resumeToken).toEqual(expect.any(String));
    expect(alice.resumeToken).not.toBe('');
    expect(bob.resumeToken).toEqual(expect.any(String));
    expect(bob.resumeToken).not.toBe(alice.resumeToken);
  });

  it('keeps the resumeToken on a profile update', () => {
    const h = harness();
    const first = ackOf(joinOn(h, 'c-alice', { userId: 'alice' }));
    h.send('c-alice', { type: 'join', roomId: 'room', user: { userId: 'alice', name: 'Ada' } });
    expect(ackOf(h.take('c-alice')).resumeToken).toBe(first.resumeToken);
  });
});

describe('profile update (join again on the same connection)', () => {
  it('replaces the profile whole, clearing omitted optional fields', () => {
    const h = harness();
    joinOn(h, 'c-alice', { userId: 'alice', name: 'Ada', color: '#ABC', avatarUrl: 'https://x.test/a.png' });
    h.send('c-alice', { type: 'join', roomId: 'room', user: { userId: 'alice', name: 'Ada L.' } });
    expect(presenceOf(h.take('c-alice')).users).toEqual([
      { userId: 'alice', name: 'Ada L.', joinedAt: T0, lastSeen: T0, connected: true },
    ]);
  });

  it("keeps the user's joinedAt and place in users", () => {
    const h = harness();
    joinOn(h, 'c-alice', { userId: 'alice' });
    h.advance(1_000);
    joinOn(h, 'c-bob', { userId: 'bob' });
    h.advance(1_000);
    h.take('c-alice');
    h.send('c-alice', { type: 'join', roomId: 'room', user: { userId: 'alice', name: 'Ada' } });
    expect(presenceOf(h.take('c-alice')).users).toEqual([
      { userId: 'alice', name: 'Ada', joinedAt: T0, lastSeen: T0 + 2_000, connected: true },
      { userId: 'bob', joinedAt: T0 + 1_000, lastSeen: T0 + 1_000, connected: true },
    ]);
  });

  it('answers the sender what a first join gets: presence, selection_state, viewer_cameras, then the ack', () => {
    const h = harness();
    const a = h.join('alice');
    h.send(a, { type: 'select', planetId: 'p', userId: 'alice' });
    h.send(a, { type: 'join_viewer', planetId: 'v', userId: 'alice' });
    h.take(a);
    h.send(a, { type: 'join', roomId: 'room', user: { userId: 'alice', name: 'Ada' }, rid: 'again' });
    const received = h.take(a);
    expect(types(received)).toEqual(['presence', 'selection_state', 'viewer_cameras', 'ack']);
    expect(received[1]).toMatchObject({ selected: { p: ['alice'] } });
    expect(received[2]).toMatchObject({ planetId: 'v', cameras: {} });
    expect(received[3]).toEqual({
      type: 'ack',
      op: 'join',
      ok: true,
      rid: 'again',
      resumeToken: expect.any(String),
      lock: { planetId: 'p', expiresAt: T0 + 300_000, fence: T0 * 1000 },
      viewing: ['v'],
    });
  });

  it('broadcasts presence to the others, and nothing else, when the profile changed', () => {
    const h = harness();
    const a = h.join('alice');
    const b = h.join('bob');
    h.take(a);
    h.send(a, { type: 'join', roomId: 'room', user: { userId: 'alice', color: '#00F' } });
    const toBob = h.take(b);
    expect(types(toBob)).toEqual(['presence']);
    expect(presenceOf(toBob).users[0]).toMatchObject({ userId: 'alice', color: '#00f' });
  });

  it('sends the others nothing and keeps seq when the profile did not change', () => {
    const h = harness();
    joinOn(h, 'c-alice', { userId: 'alice', name: 'Ada', color: '#abc' });
    const b = h.join('bob');
    h.take('c-alice');
    const seq = h.engine.inspect().rooms[0]?.seq;
    // The color differs only in case, which the wire folds away: the same profile.
    h.send('c-alice', {
      type: 'join',
      roomId: 'room',
      user: { userId: 'alice', name: 'Ada', color: '#ABC' },
    });
    expect(types(h.take('c-alice'))).toEqual(['presence', 'selection_state', 'ack']);
    expect(h.take(b)).toEqual([]);
    expect(h.engine.inspect().rooms[0]?.seq).toBe(seq);
  });
});

describe('auth', () => {
  it("refuses a join as a user other than the credential's subject with FORBIDDEN", () => {
    const h = harness();
    h.open('c-1', { userId: 'alice' });
    h.send('c-1', { type: 'join', roomId: 'room', user: { userId: 'mallory' }, rid: 'j' });
    expect(h.take('c-1')).toEqual([
      { type: 'error', op: 'join', ok: false, code: 'FORBIDDEN', message: expect.any(String), rid: 'j' },
    ]);
    expect(h.engine.inspect().rooms).toEqual([]);
  });

  it("accepts a join as the credential's subject", () => {
    const h = harness();
    h.open('c-1', { userId: 'alice' });
    h.send('c-1', { type: 'join', roomId: 'room', user: { userId: 'alice' } });
    expect(types(h.take('c-1'))).toEqual(['presence', 'selection_state', 'ack']);
    expect(h.engine.inspect().conns).toMatchObject([{ conn: 'c-1', roomId: 'room', userId: 'alice' }]);
  });
});
