// CONTRACT §4, takeover and reconnect grace. A join for a user another connection holds, with the
// user's current resumeToken (or a credential for that user), moves the user, lock and viewers to
// the new connection; the old one gets SESSION_REPLACED and 4001, and nothing it does afterwards
// counts. With RECONNECT_GRACE_MS, a network or going-away close keeps the user, connected: false,
// until a takeover or the grace's end; a clean close leaves at once.

import type { AckMessage, PresenceMessage, ServerMessage } from '@exo/protocol';
import { describe, expect, it } from 'vitest';
import { type Harness, harness, types } from './harness.js';

const T0 = 1_000_000;
const LOCK = { planetId: 'p', expiresAt: T0 + 300_000, fence: T0 * 1000 };
const cam = (x: number) => ({ position: [x, 0, 0] as [number, number, number] });

function presenceOf(messages: ServerMessage[]): PresenceMessage {
  const presence = messages.find((m) => m.type === 'presence');
  if (presence?.type !== 'presence') throw new Error(`no presence in ${JSON.stringify(messages)}`);
  return presence;
}

function ackOf(messages: ServerMessage[]): AckMessage {
  const last = messages.at(-1);
  if (last?.type !== 'ack') throw new Error(`expected an ack last, got ${JSON.stringify(last)}`);
  return last;
}

const member = (h: Harness, userId: string) =>
  h.engine.inspect().rooms[0]?.members.find((m) => m.userId === userId);

/**
 * alice on c-alice holding p's lock and viewing planets b and a (a camera sent on a), bob on c-bob
 * viewing a with a camera sent. Returns alice's resumeToken; every inbox is empty.
 */
function setUp(h: Harness): string {
  h.open('c-alice');
  h.send('c-alice', { type: 'join', roomId: 'room', user: { userId: 'alice' } });
  const token = ackOf(h.take('c-alice')).resumeToken!;
  h.join('bob');
  h.send('c-alice', { type: 'select', planetId: 'p', userId: 'alice' });
  h.send('c-alice', { type: 'join_viewer', planetId: 'b', userId: 'alice' });
  h.send('c-alice', { type: 'join_viewer', planetId: 'a', userId: 'alice' });
  h.send('c-alice', { type: 'camera', planetId: 'a', userId: 'alice', camera: cam(1) });
  h.send('c-bob', { type: 'join_viewer', planetId: 'a', userId: 'bob' });
  h.send('c-bob', { type: 'camera', planetId: 'a', userId: 'bob', camera: cam(2) });
  h.take('c-alice');
  h.take('c-bob');
  return token;
}

function takeOver(
  h: Harness,
  conn: string,
  extra: Record<string, unknown>,
  auth?: { userId: string },
): ServerMessage[] {
  h.open(conn, auth);
  h.send(conn, { type: 'join', roomId: 'room', user: { userId: 'alice', name: 'Ada' }, ...extra });
  return h.take(conn);
}

describe('takeover', () => {
  it('moves the user with its lock (same fence) and its viewers to the connection with its resumeToken', () => {
    const h = harness();
    const resumeToken = setUp(h);
    const before = member(h, 'alice')!;
    h.advance(1_000);
    takeOver(h, 'c-alice-2', { resumeToken });
    const after = member(h, 'alice')!;
    expect(after.conn).toBe('c-alice-2');
    expect(after.selection).toEqual(before.selection);
    expect(after.selection).toEqual(LOCK);
    expect(after.viewing).toEqual(before.viewing);
    expect(after.joinedAt).toBe(T0);
    expect(after.lastSeen).toBe(T0 + 1_000);
    // bob's next camera on a reaches the new connection, not the old one.
    h.send('c-bob', { type: 'camera', planetId: 'a', userId: 'bob', camera: cam(3) });
    expect(h.take('c-alice-2')).toEqual([{ type: 'camera', planetId: 'a', userId: 'bob', camera: cam(3) }]);
    expect(h.take('c-alice')).toEqual([expect.objectContaining({ code: 'SESSION_REPLACED' })]);
  });

  it('sends the replaced connection SESSION_REPLACED, then closes it with 4001', () => {
    const h = harness();
    const resumeToken = setUp(h);
    takeOver(h, 'c-alice-2', { resumeToken });
    expect(h.take('c-alice')).toEqual([
      { type: 'error', ok: false, code: 'SESSION_REPLACED', message: expect.any(String) },
    ]);
    const sendIndex = h.log.findIndex(
      (e) => e.type === 'send' && e.to.includes('c-alice') && e.message.type === 'error',
    );
    const closeIndex = h.log.findIndex((e) => e.type === 'close' && e.conn === 'c-alice');
    expect(sendIndex).toBeGreaterThanOrEqual(0);
    expect(closeIndex).toBeGreaterThan(sendIndex);
    expect(h.closes).toEqual([{ type: 'close', conn: 'c-alice', code: 4001, reason: expect.any(String) }]);
  });

  it('answers the new connection like a first join, with a new resumeToken, the lock and the viewed planets', () => {
    const h = harness();
    const resumeToken = setUp(h);
    const received = takeOver(h, 'c-alice-2', { resumeToken, rid: 't' });
    expect(types(received)).toEqual([
      'presence',
      'selection_state',
      'viewer_cameras',
      'viewer_cameras',
      'ack',
    ]);
    expect(received[1]).toMatchObject({ selected: { p: ['alice'] } });
    expect(received[2]).toMatchObject({ planetId: 'a', cameras: { bob: cam(2) } });
    expect(received[3]).toMatchObject({ planetId: 'b', cameras: {} });
    const ack = ackOf(received);
    expect(ack).toEqual({
      type: 'ack',
      op: 'join',
      ok: true,
      rid: 't',
      resumeToken: expect.any(String),
      lock: LOCK,
      viewing: expect.any(Array),
    });
    expect(ack.resumeToken).not.toBe(resumeToken);
    expect([...(ack.viewing ?? [])].sort()).toEqual(['a', 'b']);
  });

  it('broadcasts presence with the new profile to the whole room', () => {
    const h = harness();
    const resumeToken = setUp(h);
    const seq = h.engine.inspect().rooms[0]!.seq;
    takeOver(h, 'c-alice-2', { resumeToken });
    expect(h.take('c-bob')).toEqual([
      {
        type: 'presence',
        seq: seq + 1,
        users: [
          { userId: 'alice', name: 'Ada', joinedAt: T0, lastSeen: T0, connected: true },
          { userId: 'bob', joinedAt: T0, lastSeen: T0, connected: true },
        ],
      },
    ]);
  });

  it.each([
    ['a wrong resumeToken', { resumeToken: 'not-the-token' }],
    ['no resumeToken', {}],
  ] as const)('refuses a takeover with %s with FORBIDDEN and changes nothing', (_what, extra) => {
    const h = harness();
    setUp(h);
    const before = h.engine.inspect();
    const received = takeOver(h, 'c-mallory', { ...extra, rid: 'x' });
    expect(received).toEqual([
      { type: 'error', op: 'join', ok: false, code: 'FORBIDDEN', message: expect.any(String), rid: 'x' },
    ]);
    expect(h.take('c-alice')).toEqual([]);
    expect(h.take('c-bob')).toEqual([]);
    expect(h.closes).toEqual([]);
    expect(h.engine.inspect().rooms).toEqual(before.rooms);
  });

  it('refuses a resumeToken that a later takeover superseded', () => {
    const h = harness();
    const resumeToken = setUp(h);
    takeOver(h, 'c-alice-2', { resumeToken });
    const received = takeOver(h, 'c-alice-3', { resumeToken });
    expect(received).toMatchObject([{ type: 'error', op: 'join', code: 'FORBIDDEN' }]);
    expect(member(h, 'alice')?.conn).toBe('c-alice-2');
  });

  it('lets a connection authenticated as the user take it over without a resumeToken', () => {
    const h = harness();
    setUp(h);
    const received = takeOver(h, 'c-alice-2', {}, { userId: 'alice' });
    expect(ackOf(received)).toMatchObject({ op: 'join', lock: LOCK });
    expect(member(h, 'alice')?.conn).toBe('c-alice-2');
    expect(h.closeOf('c-alice')).toMatchObject({ code: 4001 });
  });

  it("refuses a takeover by a connection authenticated as someone else, even with the user's resumeToken", () => {
    const h = harness();
    const resumeToken = setUp(h);
    const received = takeOver(h, 'c-mallory', { resumeToken }, { userId: 'mallory' });
    expect(received).toMatchObject([{ type: 'error', op: 'join', code: 'FORBIDDEN' }]);
    expect(member(h, 'alice')?.conn).toBe('c-alice');
    expect(h.closes).toEqual([]);
  });

  it('ignores a late frame from the replaced connection', () => {
    const h = harness();
    const resumeToken = setUp(h);
    takeOver(h, 'c-alice-2', { resumeToken });
    h.take('c-alice');
    h.take('c-bob');
    const before = h.engine.inspect();
    expect(h.send('c-alice', { type: 'unselect', planetId: 'p', userId: 'alice' })).toEqual([]);
    expect(h.send('c-alice', { type: 'leave', userId: 'alice' })).toEqual([]);
    expect(h.engine.inspect()).toEqual(before);
  });

  it.each(['network', 'going_away', 'other'] as const)(
    'ignores the %s close of the replaced connection, even with a reconnect grace',
    (kind) => {
      const h = harness({ reconnectGraceMs: 5_000 });
      const resumeToken = setUp(h);
      takeOver(h, 'c-alice-2', { resumeToken });
      h.take('c-bob');
      const before = h.engine.inspect();
      expect(h.close('c-alice', kind)).toEqual([]);
      expect(h.engine.inspect()).toEqual(before);
      expect(member(h, 'alice')).toMatchObject({ conn: 'c-alice-2', graceUntil: null, selection: LOCK });
    },
  );
});

describe('reconnect grace', () => {
  it.each(['network', 'going_away'] as const)(
    'keeps a user whose socket closed (%s) for the grace, broadcast as connected: false',
    (kind) => {
      const h = harness({ reconnectGraceMs: 5_000 });
      setUp(h);
      h.close('c-alice', kind);
      const toBob = h.take('c-bob');
      expect(types(toBob)).toEqual(['presence']);
      expect(presenceOf(toBob).users[0]).toEqual({
        userId: 'alice',
        joinedAt: T0,
        lastSeen: T0,
        connected: false,
      });
      expect(member(h, 'alice')).toMatchObject({ conn: null, graceUntil: T0 + 5_000, selection: LOCK });
      h.advance(4_999);
      expect(member(h, 'alice')).toBeDefined();
      expect(h.take('c-bob')).toEqual([]);
    },
  );

  it('removes a user at once on a clean close, even with a grace', () => {
    const h = harness({ reconnectGraceMs: 5_000 });
    setUp(h);
    h.close('c-alice', 'other');
    const toBob = h.take('c-bob');
    expect(types(toBob)).toEqual(['presence', 'selection_state', 'viewer_cameras']);
    expect(presenceOf(toBob).users.map((u) => u.userId)).toEqual(['bob']);
    expect(member(h, 'alice')).toBeUndefined();
  });

  it('removes the user, releasing its lock and camera, when the grace ends', () => {
    const h = harness({ reconnectGraceMs: 5_000 });
    setUp(h);
    h.close('c-alice', 'network');
    h.take('c-bob');
    h.advance(5_000);
    const toBob = h.take('c-bob');
    expect(types(toBob)).toEqual(['presence', 'selection_state', 'viewer_cameras']);
    expect(presenceOf(toBob).users.map((u) => u.userId)).toEqual(['bob']);
    expect(toBob[1]).toMatchObject({ selected: {} });
    expect(toBob[2]).toMatchObject({ planetId: 'a', cameras: {} });
    expect(member(h, 'alice')).toBeUndefined();
  });

  it('removes the room when its last user’s grace ends', () => {
    const h = harness({ reconnectGraceMs: 5_000 });
    const a = h.join('alice');
    h.close(a, 'network');
    h.advance(4_999);
    expect(h.engine.inspect().rooms).toHaveLength(1);
    h.advance(1);
    expect(h.engine.inspect().rooms).toEqual([]);
  });

  it('counts a user in grace toward MAX_ROOM_USERS', () => {
    const h = harness({ reconnectGraceMs: 5_000, maxRoomUsers: 2 });
    setUp(h);
    h.close('c-alice', 'network');
    h.open('c-carol');
    h.send('c-carol', { type: 'join', roomId: 'room', user: { userId: 'carol' } });
    expect(h.take('c-carol')).toMatchObject([{ type: 'error', op: 'join', code: 'ROOM_FULL' }]);
  });

  it('keeps the lock TTL running during the grace', () => {
    const h = harness({ reconnectGraceMs: 5_000, lockTtlMs: 1_000 });
    const resumeToken = setUp(h);
    h.close('c-alice', 'network');
    h.take('c-bob');
    h.advance(1_000);
    expect(h.take('c-bob')).toEqual([{ type: 'selection_state', selected: {}, seq: expect.any(Number) }]);
    expect(member(h, 'alice')).toMatchObject({ conn: null, selection: null });
    expect(ackOf(takeOver(h, 'c-alice-2', { resumeToken })).lock).toBeUndefined();
  });

  it('suspends the presence timeout during the grace and restarts it at the takeover', () => {
    const h = harness({ reconnectGraceMs: 5_000, presenceTimeoutMs: 1_000 });
    const resumeToken = setUp(h);
    h.send('c-bob', { type: 'leave', userId: 'bob' });
    h.close('c-alice', 'network');
    h.advance(4_000);
    expect(member(h, 'alice')).toMatchObject({ conn: null, graceUntil: T0 + 5_000 });
    takeOver(h, 'c-alice-2', { resumeToken });
    h.advance(999);
    expect(member(h, 'alice')?.conn).toBe('c-alice-2');
    h.advance(1);
    expect(h.closeOf('c-alice-2')).toMatchObject({ code: 4008 });
  });

  it('restores a user taken over within the grace, connected again, with lock and viewers', () => {
    const h = harness({ reconnectGraceMs: 5_000 });
    const resumeToken = setUp(h);
    h.close('c-alice', 'network');
    h.take('c-bob');
    h.advance(2_000);
    const received = takeOver(h, 'c-alice-2', { resumeToken });
    expect(types(received)).toEqual([
      'presence',
      'selection_state',
      'viewer_cameras',
      'viewer_cameras',
      'ack',
    ]);
    expect(ackOf(received).lock).toEqual(LOCK);
    const toBob = h.take('c-bob');
    expect(types(toBob)).toEqual(['presence']);
    expect(presenceOf(toBob).users[0]).toMatchObject({
      userId: 'alice',
      connected: true,
      lastSeen: T0 + 2_000,
    });
    // The closed connection gets no SESSION_REPLACED: it is gone already.
    expect(h.closes).toEqual([]);
    // The old grace deadline no longer applies.
    h.advance(10_000);
    expect(member(h, 'alice')).toMatchObject({ conn: 'c-alice-2', graceUntil: null, selection: LOCK });
  });

  it('keeps the user for the close’s graceMs override, as a cluster drain does', () => {
    const h = harness({ reconnectGraceMs: 0 });
    setUp(h);
    h.close('c-alice', 'going_away', 15_000);
    expect(presenceOf(h.take('c-bob')).users[0]).toMatchObject({ userId: 'alice', connected: false });
    h.advance(14_999);
    expect(member(h, 'alice')).toMatchObject({ conn: null, selection: LOCK });
    h.advance(1);
    expect(member(h, 'alice')).toBeUndefined();
  });
});
