// The document form of a room (cluster mode): what applyRoom reads and writes between steps, and
// what it hands the processes holding the connections (effects, bindings, the next deadline). Each
// test keeps the room the way a store does: the document through JSON between steps.

import { type CameraState, type ClientMessage, parseClientValue } from '@exo/protocol';
import { describe, expect, it } from 'vitest';
import {
  applyRoom,
  type CameraLookup,
  type CoreConfig,
  type Effect,
  loadRoom,
  type RoomCommand,
  type RoomContext,
  type RoomDoc,
  type RoomTransition,
  resolveConfig,
  saveRoom,
} from '../index.js';

const T = 5_000_000;
const CAM: CameraState = { position: [1, 2, 3] };

type RoomMessage = Exclude<ClientMessage, { type: 'camera' }>;

/** A client message as the edge hands it over: decoded and valid. */
function msg(value: object): RoomMessage {
  const parsed = parseClientValue(JSON.parse(JSON.stringify(value)) as unknown);
  if (!parsed.ok || parsed.message.type === 'camera')
    throw new Error(`not a room message: ${JSON.stringify(value)}`);
  return parsed.message;
}

/** Effects as the wire carries them. */
const wire = (effects: readonly Effect[]): Effect[] => JSON.parse(JSON.stringify(effects)) as Effect[];

/** One room kept as a store keeps it: a JSON document, replaced by each step's document. */
class Room {
  doc: RoomDoc | null = null;
  private tokens = 0;

  constructor(
    readonly config: CoreConfig = resolveConfig({}),
    readonly roomId = 'room',
  ) {}

  apply(command: RoomCommand, context: Partial<RoomContext> = {}): RoomTransition {
    const transition = applyRoom(
      { config: this.config, roomId: this.roomId, doc: this.doc, ...context },
      command,
    );
    this.doc = JSON.parse(JSON.stringify(transition.doc)) as RoomDoc;
    return transition;
  }

  send(conn: string, at: number, value: object, context: Partial<RoomContext> = {}): RoomTransition {
    const message = msg(value);
    const command: RoomCommand =
      message.type === 'join'
        ? { type: 'message', conn, at, message, token: `token-${++this.tokens}` }
        : { type: 'message', conn, at, message };
    return this.apply(command, context);
  }

  join(conn: string, userId: string, at: number, extra: object = {}): RoomTransition {
    return this.send(conn, at, { type: 'join', roomId: this.roomId, user: { userId }, ...extra });
  }

  member(userId: string) {
    return this.doc?.members.find((m) => m.userId === userId);
  }
}

/** A camera store keyed by viewing, as relays would fill it. */
function cameraStore(): { lookup: CameraLookup; put(userId: string, planetId: string, vid: number): void } {
  const stored = new Map<string, CameraState>();
  return {
    lookup: (userId, planetId, vid) => stored.get(`${userId}/${planetId}/${vid}`) ?? null,
    put: (userId, planetId, vid) => stored.set(`${userId}/${planetId}/${vid}`, CAM),
  };
}

describe('the room document', () => {
  it('loads and saves a live room to the same bytes', () => {
    const room = new Room(resolveConfig({ reconnectGraceMs: 5000 }));
    room.join('p1:a', 'alice', T, { user: { userId: 'alice', name: 'Alice', color: '#ABC' } });
    room.join('p2:b', 'bob', T + 1);
    room.join('p1:c', 'carol', T + 2);
    room.send('p1:a', T + 3, { type: 'select', planetId: 'p', userId: 'alice' });
    room.send('p2:b', T + 4, { type: 'join_viewer', planetId: 'q', userId: 'bob' });
    room.send('p2:b', T + 5, { type: 'join_viewer', planetId: 'p', userId: 'bob' });
    room.send('p1:a', T + 6, { type: 'join_viewer', planetId: 'q', userId: 'alice' });
    room.apply({ type: 'close', conn: 'p1:c', at: T + 7, kind: 'network' });
    const doc = room.doc!;
    expect(doc.members.map((m) => [m.userId, m.conn, m.graceUntil])).toEqual([
      ['alice', 'p1:a', null],
      ['bob', 'p2:b', null],
      ['carol', null, T + 7 + 5000],
    ]);

    const { state, vids } = loadRoom(room.config, 'room', doc);
    const saved = saveRoom(state, 'room', vids, 12345);

    expect(JSON.stringify(saved)).toBe(JSON.stringify(doc));
  });

  it('leaves a tombstone on the last leave that keeps seq and fence, so a re-created room counts upward', () => {
    const room = new Room();
    room.join('p1:a', 'alice', T);
    const granted = room.send('p1:a', T, { type: 'select', planetId: 'p', userId: 'alice' });
    expect(wire(granted.effects)).toContainEqual({
      type: 'send',
      to: ['p1:a'],
      message: { type: 'ack', op: 'select', ok: true, expiresAt: T + 300_000, fence: T * 1000 },
    });
    const liveSeq = room.doc!.seq;

    const left = room.send('p1:a', T, { type: 'leave', userId: 'alice' });

    expect(left.changed).toBe(true);
    expect(left.nextDeadline).toBeNull();
    expect(room.doc).toEqual({
      id: 'room',
      live: false,
      now: T,
      seq: liveSeq + 1,
      members: [],
      selected: [],
      viewers: [],
      lastFence: [['p', T * 1000]],
    });

    // Re-created in the same millisecond: seq above the removed room's, and the fence above its last.
    const rejoined = room.join('p2:b', 'bob', T);
    expect(wire(rejoined.effects)).toContainEqual({
      type: 'send',
      to: ['p2:b'],
      message: {
        type: 'presence',
        users: [{ userId: 'bob', joinedAt: T, lastSeen: T, connected: true }],
        seq: liveSeq + 2,
      },
    });
    const regranted = room.send('p2:b', T, { type: 'select', planetId: 'p', userId: 'bob' });
    expect(wire(regranted.effects).at(-1)).toEqual({
      type: 'send',
      to: ['p2:b'],
      message: { type: 'ack', op: 'select', ok: true, expiresAt: T + 300_000, fence: T * 1000 + 1 },
    });
  });
});

describe('viewing ids (vid)', () => {
  it('gives a new viewing the step’s seq as its vid and lets an existing viewing keep its own', () => {
    const room = new Room();
    room.join('p1:a', 'alice', T);

    const first = room.send('p1:a', T + 1, { type: 'join_viewer', planetId: 'p', userId: 'alice' });
    const vidP = first.doc.seq;
    expect(room.member('alice')!.viewing).toEqual([['p', vidP]]);
    expect(wire(first.effects)).toContainEqual({
      type: 'send',
      to: ['p1:a'],
      message: { type: 'viewer_cameras', planetId: 'p', cameras: {}, seq: vidP },
    });

    const second = room.send('p1:a', T + 2, { type: 'join_viewer', planetId: 'q', userId: 'alice' });
    expect(second.doc.seq).toBeGreaterThan(vidP);
    expect(room.member('alice')!.viewing).toEqual([
      ['p', vidP],
      ['q', second.doc.seq],
    ]);

    room.send('p1:a', T + 3, { type: 'join_viewer', planetId: 'p', userId: 'alice' });
    room.join('p1:a', 'alice', T + 4, { user: { userId: 'alice', name: 'Alice' } });
    expect(room.member('alice')!.viewing).toEqual([
      ['p', vidP],
      ['q', second.doc.seq],
    ]);
  });

  it('shows a camera in viewer_cameras only when it was stored under the viewing’s current vid', () => {
    const cameras = cameraStore();
    const room = new Room();
    room.join('p1:a', 'alice', T);
    room.join('p2:b', 'bob', T);
    room.send('p2:b', T, { type: 'join_viewer', planetId: 'p', userId: 'bob' });
    const old = room.send('p1:a', T + 1, { type: 'join_viewer', planetId: 'p', userId: 'alice' });
    cameras.put('alice', 'p', old.doc.seq); // a camera of alice's first viewing of p
    room.send('p1:a', T + 2, { type: 'leave_viewer', planetId: 'p', userId: 'alice' });
    const again = room.send('p1:a', T + 3, { type: 'join_viewer', planetId: 'p', userId: 'alice' });
    expect(again.doc.seq).not.toBe(old.doc.seq);

    const stale = room.send(
      'p2:b',
      T + 4,
      { type: 'join_viewer', planetId: 'p', userId: 'bob' },
      { cameras: cameras.lookup },
    );
    expect(wire(stale.effects)).toEqual([
      {
        type: 'send',
        to: ['p2:b'],
        message: { type: 'viewer_cameras', planetId: 'p', cameras: {}, seq: again.doc.seq },
      },
      { type: 'send', to: ['p2:b'], message: { type: 'ack', op: 'join_viewer', ok: true } },
    ]);

    cameras.put('alice', 'p', again.doc.seq);
    const current = room.send(
      'p2:b',
      T + 5,
      { type: 'join_viewer', planetId: 'p', userId: 'bob' },
      { cameras: cameras.lookup },
    );
    expect(wire(current.effects)).toEqual([
      {
        type: 'send',
        to: ['p2:b'],
        message: { type: 'viewer_cameras', planetId: 'p', cameras: { alice: CAM }, seq: again.doc.seq },
      },
      { type: 'send', to: ['p2:b'], message: { type: 'ack', op: 'join_viewer', ok: true } },
    ]);
  });
});

describe('room commands besides frames', () => {
  it('moves lastSeen on `seen` with no effect, a changed document and the same seq', () => {
    const room = new Room(resolveConfig({ presenceTimeoutMs: 10_000 }));
    room.join('p1:a', 'alice', T);
    const seq = room.doc!.seq;

    const seen = room.apply({ type: 'seen', conn: 'p1:a', at: T + 500 });

    expect(seen.effects).toEqual([]);
    expect(seen.changed).toBe(true);
    expect(seen.doc.seq).toBe(seq);
    expect(room.member('alice')!.lastSeen).toBe(T + 500);
    expect(seen.nextDeadline).toBe(T + 500 + 10_000);
  });

  it('moves lastSeen to a seenAt in the past, never back and never past the step’s time', () => {
    const room = new Room(resolveConfig({ presenceTimeoutMs: 10_000 }));
    room.join('p1:a', 'alice', T);

    const earlier = room.apply({ type: 'seen', conn: 'p1:a', at: T + 900, seenAt: T + 400 });
    expect(earlier.changed).toBe(true);
    expect(room.member('alice')!.lastSeen).toBe(T + 400);
    expect(earlier.nextDeadline).toBe(T + 400 + 10_000);

    const older = room.apply({ type: 'seen', conn: 'p1:a', at: T + 950, seenAt: T + 100 });
    expect(older.changed).toBe(false);
    expect(room.member('alice')!.lastSeen).toBe(T + 400);

    room.apply({ type: 'seen', conn: 'p1:a', at: T + 1000, seenAt: T + 5000 });
    expect(room.member('alice')!.lastSeen).toBe(T + 1000);
  });

  it('evicts exactly the members whose connection ids start with the prefix', () => {
    const cameras = cameraStore();
    const room = new Room();
    room.join('p1:a', 'alice', T);
    room.join('p2:p1:b', 'bob', T + 1); // holds the prefix, not at its start
    room.join('p1:c', 'carol', T + 2);
    room.join('p10:d', 'dave', T + 3); // starts like the prefix, without its ':'
    room.send('p1:a', T + 4, { type: 'select', planetId: 'p', userId: 'alice' });
    const viewing = room.send('p1:a', T + 5, { type: 'join_viewer', planetId: 'q', userId: 'alice' });
    cameras.put('alice', 'q', viewing.doc.seq);
    room.send('p2:p1:b', T + 6, { type: 'join_viewer', planetId: 'q', userId: 'bob' });
    room.send('p10:d', T + 7, { type: 'join_viewer', planetId: 'q', userId: 'dave' });
    const seq = room.doc!.seq;

    const evicted = room.apply({ type: 'evict', prefix: 'p1:', at: T + 10 }, { cameras: cameras.lookup });

    const rest = ['p2:p1:b', 'p10:d'];
    const users = [
      { userId: 'bob', joinedAt: T + 1, lastSeen: T + 6, connected: true },
      { userId: 'dave', joinedAt: T + 3, lastSeen: T + 7, connected: true },
    ];
    expect(wire(evicted.effects)).toEqual([
      { type: 'send', to: rest, message: { type: 'presence', users, seq: seq + 1 } },
      { type: 'send', to: rest, message: { type: 'selection_state', selected: {}, seq: seq + 1 } },
      {
        type: 'send',
        to: ['p2:p1:b'],
        message: { type: 'viewer_cameras', planetId: 'q', cameras: {}, seq: seq + 1 },
      },
      {
        type: 'send',
        to: ['p10:d'],
        message: { type: 'viewer_cameras', planetId: 'q', cameras: {}, seq: seq + 1 },
      },
      // In case the process is alive after all: its clients reconnect instead of lingering unbound.
      { type: 'close', conn: 'p1:a', code: 1001, reason: 'process presumed dead; reconnect' },
      { type: 'close', conn: 'p1:c', code: 1001, reason: 'process presumed dead; reconnect' },
    ]);
    expect(evicted.bindings).toEqual(
      new Map([
        ['p1:a', null],
        ['p1:c', null],
      ]),
    );
    expect(room.doc!.members.map((m) => m.userId)).toEqual(['bob', 'dave']);
    expect(room.doc!.selected).toEqual([]);
    expect(room.doc!.viewers).toEqual([['q', ['bob', 'dave']]]);
  });

  it('keeps a member closed with going_away and graceMs as connected: false until the grace ends', () => {
    const room = new Room(resolveConfig({ presenceTimeoutMs: 90_000 }));
    room.join('p1:a', 'alice', T);
    room.join('p2:b', 'bob', T);
    const seq = room.doc!.seq;

    const closed = room.apply({
      type: 'close',
      conn: 'p1:a',
      at: T + 100,
      kind: 'going_away',
      graceMs: 15_000,
    });

    expect(wire(closed.effects)).toEqual([
      {
        type: 'send',
        to: ['p2:b'],
        message: {
          type: 'presence',
          users: [
            { userId: 'alice', joinedAt: T, lastSeen: T, connected: false },
            { userId: 'bob', joinedAt: T, lastSeen: T, connected: true },
          ],
          seq: seq + 1,
        },
      },
    ]);
    expect(closed.bindings).toEqual(new Map([['p1:a', null]]));
    expect(room.member('alice')).toMatchObject({ conn: null, graceUntil: T + 15_100 });
    expect(closed.nextDeadline).toBe(T + 15_100);

    const ended = room.apply({ type: 'tick', at: T + 15_100 });
    expect(wire(ended.effects)).toEqual([
      {
        type: 'send',
        to: ['p2:b'],
        message: {
          type: 'presence',
          users: [{ userId: 'bob', joinedAt: T, lastSeen: T, connected: true }],
          seq: seq + 2,
        },
      },
    ]);
  });

  it('moves a user to a new connection id on a takeover: the old one is replaced and closed with 4001', () => {
    const room = new Room();
    const first = room.join('p1:a', 'alice', T);
    const ack = first.effects.at(-1);
    const token = ack?.type === 'send' && ack.message.type === 'ack' ? ack.message.resumeToken : undefined;
    expect(token).toBe('token-1');
    room.send('p1:a', T, { type: 'select', planetId: 'p', userId: 'alice' });
    const seq = room.doc!.seq;

    const taken = room.join('p2:x', 'alice', T + 50, { resumeToken: token });

    expect(taken.bindings).toEqual(
      new Map([
        ['p2:x', { roomId: 'room', userId: 'alice' }],
        ['p1:a', null],
      ]),
    );
    expect(wire(taken.effects)).toEqual([
      {
        type: 'send',
        to: ['p1:a'],
        message: {
          type: 'error',
          ok: false,
          code: 'SESSION_REPLACED',
          message: 'alice joined from another connection',
        },
      },
      {
        type: 'send',
        to: ['p2:x'],
        message: {
          type: 'presence',
          users: [{ userId: 'alice', joinedAt: T, lastSeen: T + 50, connected: true }],
          seq: seq + 1,
        },
      },
      {
        type: 'send',
        to: ['p2:x'],
        message: { type: 'selection_state', selected: { p: ['alice'] }, seq: seq + 1 },
      },
      {
        type: 'send',
        to: ['p2:x'],
        message: {
          type: 'ack',
          op: 'join',
          ok: true,
          resumeToken: 'token-2',
          viewing: [],
          lock: { planetId: 'p', expiresAt: T + 300_000, fence: T * 1000 },
        },
      },
      { type: 'close', conn: 'p1:a', code: 4001, reason: 'session replaced' },
    ]);
    expect(room.member('alice')).toMatchObject({ conn: 'p2:x', resumeToken: 'token-2' });
  });

  it('answers a creating join with LIMIT_EXCEEDED when the other rooms already reach maxRooms', () => {
    const room = new Room(resolveConfig({ maxRooms: 3 }));

    const refused = room.send(
      'p1:a',
      T,
      { type: 'join', roomId: 'room', user: { userId: 'alice' }, rid: 1 },
      { otherRooms: 3 },
    );
    expect(wire(refused.effects)).toEqual([
      {
        type: 'send',
        to: ['p1:a'],
        message: {
          type: 'error',
          op: 'join',
          ok: false,
          code: 'LIMIT_EXCEEDED',
          message: 'the server holds its maximum of 3 rooms',
          rid: 1,
        },
      },
    ]);
    expect(refused.bindings.size).toBe(0);
    expect(room.doc!.live).toBe(false);

    const admitted = room.send(
      'p1:a',
      T,
      { type: 'join', roomId: 'room', user: { userId: 'alice' } },
      { otherRooms: 2 },
    );
    expect(admitted.bindings).toEqual(new Map([['p1:a', { roomId: 'room', userId: 'alice' }]]));
    expect(room.doc!.live).toBe(true);

    // Joining a room that exists creates nothing: other rooms do not count.
    const second = room.send(
      'p2:b',
      T,
      { type: 'join', roomId: 'room', user: { userId: 'bob' } },
      { otherRooms: 3 },
    );
    expect(second.bindings).toEqual(new Map([['p2:b', { roomId: 'room', userId: 'bob' }]]));
  });
});

describe('deadlines in the document', () => {
  it('applies what is due before the command: a select after the holder’s TTL is granted', () => {
    const room = new Room(resolveConfig({ lockTtlMs: 1000 }));
    room.join('p1:a', 'alice', T);
    room.join('p2:b', 'bob', T);
    room.send('p1:a', T, { type: 'select', planetId: 'p', userId: 'alice' });
    const seq = room.doc!.seq;

    const early = room.send('p2:b', T + 999, { type: 'select', planetId: 'p', userId: 'bob' });
    expect(wire(early.effects)).toEqual([
      {
        type: 'send',
        to: ['p2:b'],
        message: {
          type: 'conflict',
          planetId: 'p',
          lockedBy: 'alice',
          reason: 'locked',
          expiresAt: T + 1000,
        },
      },
    ]);

    const due = room.send('p2:b', T + 1000, { type: 'select', planetId: 'p', userId: 'bob' });
    expect(wire(due.effects)).toEqual([
      {
        type: 'send',
        to: ['p1:a', 'p2:b'],
        message: { type: 'selection_state', selected: {}, seq: seq + 1 },
      },
      {
        type: 'send',
        to: ['p1:a', 'p2:b'],
        message: { type: 'selection_state', selected: { p: ['bob'] }, seq: seq + 2 },
      },
      {
        type: 'send',
        to: ['p2:b'],
        message: { type: 'ack', op: 'select', ok: true, expiresAt: T + 2000, fence: (T + 1000) * 1000 },
      },
    ]);
  });

  it('reports changed: false for a tick with nothing due', () => {
    const room = new Room();
    room.join('p1:a', 'alice', T);
    const before = room.doc!;

    const tick = room.apply({ type: 'tick', at: T + 1000 });

    expect(tick.changed).toBe(false);
    expect(tick.effects).toEqual([]);
    expect({ ...tick.doc, now: 0 }).toEqual({ ...before, now: 0 });
  });

  it('reports the earliest of lock expiry, presence expiry and grace end as nextDeadline', () => {
    const room = new Room(resolveConfig({ lockTtlMs: 1000, presenceTimeoutMs: 5000 }));
    room.join('p1:a', 'alice', T);
    expect(room.join('p2:b', 'bob', T + 5).nextDeadline).toBe(T + 5000); // alice's presence
    expect(room.send('p1:a', T + 10, { type: 'select', planetId: 'p', userId: 'alice' }).nextDeadline).toBe(
      T + 1010, // the lock
    );
    expect(
      room.apply({ type: 'close', conn: 'p2:b', at: T + 20, kind: 'network', graceMs: 300 }).nextDeadline,
    ).toBe(
      T + 320, // bob's grace end
    );
    expect(room.apply({ type: 'tick', at: T + 320 }).nextDeadline).toBe(T + 1010);
    expect(room.send('p1:a', T + 900, { type: 'heartbeat', userId: 'alice', ts: 1 }).nextDeadline).toBe(
      T + 1900,
    );
    expect(
      room.send('p1:a', T + 950, { type: 'unselect', planetId: 'p', userId: 'alice' }).nextDeadline,
    ).toBe(
      T + 5950, // alice's presence, last seen at T + 950
    );
  });
});

describe('connections the room does not hold', () => {
  it('answers NOT_JOINED to a frame other than join from a connection not in the room', () => {
    const room = new Room();
    room.join('p1:a', 'alice', T);
    const before = room.doc!;

    const stray = room.send('p9:x', T + 1, { type: 'select', planetId: 'p', userId: 'alice', rid: 'r' });

    expect(wire(stray.effects)).toEqual([
      {
        type: 'send',
        to: ['p9:x'],
        message: {
          type: 'error',
          op: 'select',
          ok: false,
          code: 'NOT_JOINED',
          message: 'send join before select',
          rid: 'r',
        },
      },
    ]);
    expect(stray.bindings.size).toBe(0);
    expect({ ...room.doc!, now: 0 }).toEqual({ ...before, now: 0 });
  });

  it('changes nothing on the close or seen of a connection the room does not hold', () => {
    const room = new Room();
    room.join('p1:a', 'alice', T);
    const before = room.doc!;

    for (const command of [
      { type: 'close', conn: 'p9:x', at: T + 1, kind: 'network' },
      { type: 'seen', conn: 'p9:x', at: T + 2 },
    ] as const) {
      const result = room.apply(command);
      expect(result.changed).toBe(false);
      expect(result.effects).toEqual([]);
    }
    expect({ ...room.doc!, now: 0 }).toEqual({ ...before, now: 0 });
  });
});
