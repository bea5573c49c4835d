// Checks that hold after every step whatever the commands were: invariants of the state
// (CONTRACT §4–§7) read from inspect(), and rules about the messages one step delivers (§3).
// They know nothing of the model; the driver runs them and adds the model's predictions.

import { isDeepStrictEqual } from 'node:util';
import type { CameraState, ServerMessage } from '@exo/protocol';
import { expect } from 'vitest';
import type { CoreConfig, CoreSnapshot, Effect, MemberSnapshot, RoomSnapshot } from '../../src/index.js';

export type Inbox = Map<string, ServerMessage[]>;

// Thousands of steps are checked per test, so plain comparisons come first; vitest's expect runs
// only to report a failure with its diff.
export function must(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

export function same(actual: unknown, expected: unknown, message: string): void {
  if (!isDeepStrictEqual(actual, expected)) expect(actual, message).toEqual(expected);
}

export const ANSWER_TYPES: ReadonlySet<string> = new Set(['ack', 'conflict', 'error']);
const STATE_TYPES: ReadonlySet<string> = new Set(['presence', 'selection_state', 'viewer_cameras']);

export function isAnswer(message: ServerMessage): boolean {
  return ANSWER_TYPES.has(message.type) && !(message.type === 'error' && message.code === 'SESSION_REPLACED');
}

export function isStateMessage(message: ServerMessage): message is Extract<ServerMessage, { seq: number }> {
  return STATE_TYPES.has(message.type);
}

/**
 * Splits a step's effects into what each connection received, as the wire would deliver it (a
 * JSON copy). Messages go only to connections that were open, or opened by this step, and never
 * after the core closed them; no connection is named twice in one effect.
 */
export function deliver(effects: readonly Effect[], open: ReadonlySet<string>): Inbox {
  const inbox: Inbox = new Map();
  const closed = new Set<string>();
  for (const effect of effects) {
    if (effect.type === 'close') {
      must(open.has(effect.conn), `close of ${effect.conn}, which is not open`);
      must(!closed.has(effect.conn), `second close of ${effect.conn}`);
      closed.add(effect.conn);
      continue;
    }
    must(new Set(effect.to).size === effect.to.length, `a recipient named twice: ${effect.to.join()}`);
    const wire = JSON.stringify(effect.message);
    for (const to of effect.to) {
      must(open.has(to) && !closed.has(to), `${effect.message.type} sent to ${to}, which is not open`);
      const list = inbox.get(to) ?? [];
      inbox.set(to, list);
      list.push(JSON.parse(wire) as ServerMessage);
    }
  }
  return inbox;
}

export function bindingOf(snapshot: CoreSnapshot, conn: string): { room: string; user: string } | null {
  const entry = snapshot.conns.find((c) => c.conn === conn);
  if (entry === undefined || entry.roomId === null || entry.userId === null) return null;
  return { room: entry.roomId, user: entry.userId };
}

export function roomOf(snapshot: CoreSnapshot, roomId: string): RoomSnapshot | undefined {
  return snapshot.rooms.find((r) => r.roomId === roomId);
}

export function memberOf(snapshot: CoreSnapshot, roomId: string, userId: string): MemberSnapshot | undefined {
  return roomOf(snapshot, roomId)?.members.find((m) => m.userId === userId);
}

export function viewOf(member: MemberSnapshot | undefined, planetId: string) {
  return member?.viewing.find((v) => v.planetId === planetId);
}

/** Invariants of any state the core can be in between steps. */
export function checkInvariants(s: CoreSnapshot, config: CoreConfig): void {
  for (const room of s.rooms) {
    const where = `room ${room.roomId}:`;
    must(room.members.length > 0, `${where} an empty room survives`);
    must(room.members.length <= config.maxRoomUsers, `${where} more users than maxRoomUsers`);
    const memberIds = new Set(room.members.map((m) => m.userId));
    for (const [planetId, users] of room.selected) {
      must(users.length > 0, `${where} ${planetId} listed with no selector`);
      if (config.selectionMode === 'exclusive') {
        must(users.length === 1, `${where} two lock holders of ${planetId}: ${users.join()}`);
      }
      for (const user of users) must(memberIds.has(user), `${where} non-member ${user} selects ${planetId}`);
    }
    for (const [planetId, users] of room.viewers) {
      must(users.length > 0, `${where} ${planetId} listed with no viewer`);
      for (const user of users) must(memberIds.has(user), `${where} non-member ${user} views ${planetId}`);
    }
    for (const member of room.members) checkMember(s, room, member, config);
  }
  for (const conn of s.conns) {
    if (conn.roomId === null) {
      must(conn.userId === null, `unbound ${conn.conn} names a user`);
      must(conn.unboundSince + config.joinTimeoutMs > s.now, `${conn.conn} outlived its join timeout`);
    } else {
      must(memberOf(s, conn.roomId, conn.userId!)?.conn === conn.conn, `${conn.conn} is bound to no member`);
    }
  }
}

function checkMember(s: CoreSnapshot, room: RoomSnapshot, m: MemberSnapshot, config: CoreConfig): void {
  const who = `room ${room.roomId}, ${m.userId}:`;
  const selected = room.selected.filter(([, users]) => users.includes(m.userId)).map(([p]) => p);
  same(
    selected,
    m.selection === null ? [] : [m.selection.planetId],
    `${who} selections listed against its own`,
  );
  if (m.selection !== null) {
    must(m.selection.expiresAt > s.now, `${who} an expired lock survives`);
    must(
      (m.selection.fence === null) === (config.selectionMode === 'shared'),
      `${who} fence against the mode`,
    );
  }
  const viewing = m.viewing.map((v) => v.planetId);
  const listedAsViewer = room.viewers.filter(([, users]) => users.includes(m.userId)).map(([p]) => p);
  same(listedAsViewer, viewing, `${who} viewer lists against its views`);
  must(viewing.length <= config.maxViewedPlanets, `${who} more views than maxViewedPlanets`);
  for (const view of m.viewing) {
    if (view.pending !== null) same(view.camera, view.pending, `${who} the pending camera is not the last`);
  }
  if (m.conn !== null) {
    must(m.graceUntil === null, `${who} connected but in grace`);
    must(m.lastSeen + config.presenceTimeoutMs > s.now, `${who} presence expired but kept`);
    same(
      bindingOf(s, m.conn),
      { room: room.roomId, user: m.userId },
      `${who} its connection is not bound to it`,
    );
  } else {
    must(m.graceUntil !== null, `${who} disconnected with no grace`);
    must(m.graceUntil! > s.now, `${who} grace over but kept`);
  }
}

/** The state a rejected command must leave as it was, all but the sender's lastSeen and the time. */
export function withoutSenderLastSeen(s: CoreSnapshot, conn: string): CoreSnapshot {
  return {
    ...s,
    now: 0,
    rooms: s.rooms.map((room) => ({
      ...room,
      members: room.members.map((m) => (m.conn === conn ? { ...m, lastSeen: 0 } : m)),
    })),
  };
}

/** What every client sees of a room's shared state: a step that changes it raises the seq. */
export function sharedState(room: RoomSnapshot | undefined): string {
  if (room === undefined) return '';
  return JSON.stringify([
    room.members.map((m) => [m.userId, m.profile, m.conn]),
    room.selected,
    room.viewers,
  ]);
}

/** The part of `presence` that must match the final state whichever sub-step sent it. */
export function presenceUsers(room: RoomSnapshot, withLastSeen: boolean): unknown[] {
  return [...room.members]
    .sort((a, b) => a.joinedAt - b.joinedAt || (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0))
    .map((m) => ({
      userId: m.userId,
      ...(m.profile.name === undefined ? {} : { name: m.profile.name }),
      ...(m.profile.color === undefined ? {} : { color: m.profile.color }),
      ...(m.profile.avatarUrl === undefined ? {} : { avatarUrl: m.profile.avatarUrl }),
      joinedAt: m.joinedAt,
      ...(withLastSeen ? { lastSeen: m.lastSeen } : {}),
      connected: m.conn !== null,
    }));
}

export function selectedRecord(room: RoomSnapshot): Record<string, string[]> {
  return Object.fromEntries(room.selected);
}

/** The cameras a viewer of `planetId` must know: every other viewer's last camera, if it sent one. */
export function othersCameras(
  room: RoomSnapshot,
  planetId: string,
  userId: string,
): Record<string, CameraState> {
  return Object.fromEntries(
    room.members.flatMap((m) => {
      const camera = viewOf(m, planetId)?.camera;
      return m.userId !== userId && camera != null ? [[m.userId, camera]] : [];
    }),
  );
}

/**
 * CONTRACT §3, for a step of a single due time: per recipient at most one presence and one
 * selection_state, presence first, then viewer_cameras in planetId order (one per planet).
 */
export function checkOrdering(conn: string, messages: readonly ServerMessage[]): void {
  const types: string[] = messages.map((m) => m.type);
  const count = (type: string) => types.filter((t) => t === type).length;
  must(count('presence') < 2, `${conn}: presence twice in one step`);
  must(count('selection_state') < 2, `${conn}: selection_state twice in one step`);
  const presence = types.indexOf('presence');
  const selection = types.indexOf('selection_state');
  if (presence >= 0 && selection >= 0) must(presence < selection, `${conn}: selection_state before presence`);
  const planets: string[] = [];
  messages.forEach((m, i) => {
    if (m.type !== 'viewer_cameras') return;
    must(i > presence && i > selection, `${conn}: viewer_cameras before presence or selection_state`);
    planets.push(m.planetId);
  });
  same(planets, [...new Set(planets)].sort(), `${conn}: viewer_cameras out of planetId order`);
}
