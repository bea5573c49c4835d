// `presence`: the room's users ordered by joinedAt, then userId, with the profile the user
// joined with plus joinedAt, lastSeen and connected (false only during a reconnect grace).

import type { PresenceMessage, PresenceUser } from '@exo/protocol';
import { compareIds } from '../order.js';
import type { Member, Room } from '../state.js';

export function presenceMessage(room: Room): PresenceMessage {
  const members = [...room.members.values()].sort(
    (a, b) => a.joinedAt - b.joinedAt || compareIds(a.userId, b.userId),
  );
  return { type: 'presence', users: members.map(presenceUser), seq: room.seq };
}

function presenceUser(member: Member): PresenceUser {
  const { profile } = member;
  const user: PresenceUser = {
    userId: member.userId,
    joinedAt: member.joinedAt,
    lastSeen: member.lastSeen,
    connected: member.conn !== null,
  };
  if (profile.name !== undefined) user.name = profile.name;
  if (profile.color !== undefined) user.color = profile.color;
  if (profile.avatarUrl !== undefined) user.avatarUrl = profile.avatarUrl;
  return user;
}
