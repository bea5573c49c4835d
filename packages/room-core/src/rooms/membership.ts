// Rooms and their members (CONTRACT §4). A room exists from its first join until its last member
// leaves, disconnects or expires; removing the last member removes the room with its locks and
// cameras, remembering its highest fence and seq so a re-created room only counts upward. A member
// removed for any reason goes the same way: its selection is released, it stops viewing (the
// remaining viewers get a snapshot without its camera), and the others get `presence`.

import type { UserProfile } from '@exo/protocol';
import { armJoinTimeout, armPresence } from '../deadline.js';
import { releaseSelection } from '../locks/selection.js';
import type { Out } from '../out.js';
import {
  type Conn,
  type CoreState,
  createRoom,
  fenceKey,
  type Member,
  NOT_ARMED,
  type Room,
} from '../state.js';
import { dropView } from '../viewers/viewers.js';

export function findOrCreateRoom(state: CoreState, roomId: string): Room {
  let room = state.rooms.get(roomId);
  if (room === undefined) {
    room = createRoom(state, roomId);
    state.rooms.set(roomId, room);
  }
  return room;
}

export function addMember(
  state: CoreState,
  room: Room,
  conn: Conn,
  profile: UserProfile,
  resumeToken: string,
  out: Out,
): Member {
  const member: Member = {
    userId: profile.userId,
    room,
    profile,
    joinedAt: state.now,
    lastSeen: state.now,
    conn,
    graceUntil: null,
    resumeToken,
    selection: null,
    viewing: new Map(),
    presenceArmedAt: NOT_ARMED,
    graceArmedAt: NOT_ARMED,
  };
  room.members.set(member.userId, member);
  conn.member = member;
  armPresence(state, member);
  out.touch(room);
  out.presenceTo(room, 'all');
  return member;
}

/** Removes a member as by `leave`; its connection, if any, is left open and unbound. */
export function removeMember(state: CoreState, member: Member, out: Out): void {
  const { room } = member;
  releaseSelection(member, out);
  for (const planetId of [...member.viewing.keys()]) dropView(member, planetId, out);
  room.members.delete(member.userId);
  if (member.conn !== null) {
    member.conn.member = null;
    member.conn.unboundSince = state.now;
    armJoinTimeout(state, member.conn);
    member.conn = null;
  }
  out.touch(room);
  out.presenceTo(room, 'all');
  if (room.members.size === 0) removeRoom(state, room);
}

function removeRoom(state: CoreState, room: Room): void {
  state.rooms.delete(room.id);
  const floor = state.now * 1000;
  for (const [key, fence] of state.retiredFences) if (fence < floor) state.retiredFences.delete(key);
  for (const [planetId, fence] of room.lastFence) {
    if (fence >= floor) state.retiredFences.set(fenceKey(room.id, planetId), fence);
  }
  if (room.seq + 1 > state.seqFloor) state.seqFloor = room.seq + 1;
}

export function sameProfile(a: UserProfile, b: UserProfile): boolean {
  return a.userId === b.userId && a.name === b.name && a.color === b.color && a.avatarUrl === b.avatarUrl;
}
