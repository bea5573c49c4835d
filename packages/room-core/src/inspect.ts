// A plain, sorted, JSON-ready copy of the core's state: for tests that compare states, for the
// inspection endpoint, and for anyone debugging. Reading it changes nothing.

import type { CameraState, UserProfile } from '@exo/protocol';
import { compareIds } from './order.js';
import type { CoreState, Member, Room } from './state.js';

export interface MemberSnapshot {
  userId: string;
  profile: UserProfile;
  joinedAt: number;
  lastSeen: number;
  conn: string | null;
  graceUntil: number | null;
  selection: { planetId: string; expiresAt: number; fence: number | null } | null;
  viewing: {
    planetId: string;
    camera: CameraState | null;
    cameraAt: number | null;
    pending: CameraState | null;
    lastRelayAt: number | null;
  }[];
}

export interface RoomSnapshot {
  roomId: string;
  seq: number;
  members: MemberSnapshot[];
  selected: [string, string[]][];
  viewers: [string, string[]][];
  lastFence: [string, number][];
}

export interface CoreSnapshot {
  now: number;
  rooms: RoomSnapshot[];
  conns: { conn: string; roomId: string | null; userId: string | null; unboundSince: number }[];
  retiredFences: [string, number][];
  seqFloor: number;
}

export function inspect(state: CoreState): CoreSnapshot {
  return {
    now: state.now,
    rooms: [...state.rooms.values()].sort((a, b) => compareIds(a.id, b.id)).map(inspectRoom),
    conns: [...state.conns.values()]
      .sort((a, b) => compareIds(a.id, b.id))
      .map((c) => ({
        conn: c.id,
        roomId: c.member?.room.id ?? null,
        userId: c.member?.userId ?? null,
        unboundSince: c.unboundSince,
      })),
    retiredFences: [...state.retiredFences].sort((a, b) => compareIds(a[0], b[0])),
    seqFloor: state.seqFloor,
  };
}

export function inspectRoom(room: Room): RoomSnapshot {
  const sortedKeys = <V>(map: Map<string, V>) => [...map.keys()].sort(compareIds);
  return {
    roomId: room.id,
    seq: room.seq,
    members: sortedKeys(room.members).map((id) => inspectMember(room.members.get(id)!)),
    selected: sortedKeys(room.selected).map((p) => [p, [...room.selected.get(p)!]]),
    viewers: sortedKeys(room.viewers).map((p) => [p, sortedKeys(room.viewers.get(p)!)]),
    lastFence: sortedKeys(room.lastFence).map((p) => [p, room.lastFence.get(p)!]),
  };
}

function inspectMember(m: Member): MemberSnapshot {
  return {
    userId: m.userId,
    profile: { ...m.profile },
    joinedAt: m.joinedAt,
    lastSeen: m.lastSeen,
    conn: m.conn?.id ?? null,
    graceUntil: m.graceUntil,
    selection: m.selection && {
      planetId: m.selection.planetId,
      expiresAt: m.selection.expiresAt,
      fence: m.selection.fence,
    },
    viewing: [...m.viewing.values()]
      .sort((a, b) => compareIds(a.planetId, b.planetId))
      .map((v) => ({
        planetId: v.planetId,
        camera: v.camera,
        cameraAt: v.cameraAt,
        pending: v.pending,
        lastRelayAt: Number.isFinite(v.lastRelayAt) ? v.lastRelayAt : null,
      })),
  };
}
