// What GET /rooms and GET /rooms/:id answer: read-only views of engine.inspect(), shaped for an
// operator. Rules: times are ms since the epoch on the server clock, plus a relative figure
// (`lastSeenAgoMs`, `timeLeftMs`) computed against `now`; users are listed as `presence` lists them
// (joinedAt, then userId); locks by planet, then holder; viewers by planet, then user.
// Reading the state changes nothing.

import type { CoreSnapshot, MemberSnapshot, RoomSnapshot } from '@exo/room-core';

export interface RoomSummary {
  roomId: string;
  seq: number;
  users: number;
  connected: number;
  locks: number;
  viewers: number;
}

export interface RoomDetail {
  now: number;
  roomId: string;
  seq: number;
  users: {
    userId: string;
    name?: string;
    color?: string;
    joinedAt: number;
    lastSeen: number;
    lastSeenAgoMs: number;
    connected: boolean;
    /** When a user in its reconnect grace is removed; null while connected. */
    graceUntil: number | null;
  }[];
  locks: { planetId: string; holder: string; fence: number | null; expiresAt: number; timeLeftMs: number }[];
  viewers: { planetId: string; userId: string; cameraAt: number | null; relayPending: boolean }[];
}

export function roomSummaries(snapshot: CoreSnapshot, now: number): { now: number; rooms: RoomSummary[] } {
  return {
    now,
    rooms: snapshot.rooms.map((room) => ({
      roomId: room.roomId,
      seq: room.seq,
      users: room.members.length,
      connected: room.members.filter((m) => m.conn !== null).length,
      locks: room.members.filter((m) => m.selection !== null).length,
      viewers: room.members.reduce((n, m) => n + m.viewing.length, 0),
    })),
  };
}

export function roomDetail(room: RoomSnapshot, now: number): RoomDetail {
  const members = [...room.members].sort(
    (a, b) => a.joinedAt - b.joinedAt || (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0),
  );
  return {
    now,
    roomId: room.roomId,
    seq: room.seq,
    users: members.map((m) => userView(m, now)),
    locks: members
      .flatMap((m) =>
        m.selection === null
          ? []
          : [
              {
                planetId: m.selection.planetId,
                holder: m.userId,
                fence: m.selection.fence,
                expiresAt: m.selection.expiresAt,
                timeLeftMs: Math.max(0, m.selection.expiresAt - now),
              },
            ],
      )
      .sort((a, b) => compare(a.planetId, b.planetId) || compare(a.holder, b.holder)),
    viewers: members
      .flatMap((m) =>
        m.viewing.map((v) => ({
          planetId: v.planetId,
          userId: m.userId,
          cameraAt: v.cameraAt,
          relayPending: v.pending !== null,
        })),
      )
      .sort((a, b) => compare(a.planetId, b.planetId) || compare(a.userId, b.userId)),
  };
}

function userView(m: MemberSnapshot, now: number): RoomDetail['users'][number] {
  return {
    userId: m.userId,
    ...(m.profile.name === undefined ? {} : { name: m.profile.name }),
    ...(m.profile.color === undefined ? {} : { color: m.profile.color }),
    joinedAt: m.joinedAt,
    lastSeen: m.lastSeen,
    lastSeenAgoMs: Math.max(0, now - m.lastSeen),
    connected: m.conn !== null,
    graceUntil: m.graceUntil,
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
