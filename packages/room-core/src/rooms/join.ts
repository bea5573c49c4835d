// `join` (CONTRACT §4). An unbound connection joins a room as a user: creating the room if
// needed (LIMIT_EXCEEDED past maxRooms), refused with ROOM_FULL past maxRoomUsers distinct users.
// Joining as a user another connection holds is a takeover, allowed with that user's current
// resumeToken or a credential for that user (else FORBIDDEN): the user moves with its lock and
// viewers, the old connection gets SESSION_REPLACED and is closed with 4001. On a bound
// connection, a join to the same room as the same user replaces the profile whole; the others
// hear of it only if it changed. Every successful join answers like a first join: presence,
// selection_state, a viewer_cameras per viewed planet, then the ack with the resumeToken.

import type { JoinMessage } from '@exo/protocol';
import { ack, fail } from '../answers.js';
import { armPresence } from '../deadline.js';
import { CLOSE_CODES } from '../effects.js';
import { grantExtras } from '../locks/selection.js';
import { compareIds } from '../order.js';
import type { Out } from '../out.js';
import { type Conn, type CoreState, type Member, NOT_ARMED } from '../state.js';
import { sameToken } from '../tokens.js';
import { addMember, findOrCreateRoom, sameProfile } from './membership.js';

export function join(
  state: CoreState,
  conn: Conn,
  msg: JoinMessage,
  token: string | undefined,
  out: Out,
): void {
  const { roomId, user } = msg;
  const bound = conn.member;
  if (bound !== null) {
    if (bound.room.id !== roomId) {
      const text = `already joined room ${bound.room.id}; send leave first`;
      return out.reply(conn, fail('join', 'ALREADY_JOINED', text, msg.rid));
    }
    if (bound.userId !== user.userId) {
      const text = `this connection speaks for ${bound.userId}, not ${user.userId}`;
      return out.reply(conn, fail('join', 'USER_MISMATCH', text, msg.rid));
    }
    bound.lastSeen = state.now;
    if (!sameProfile(bound.profile, user)) {
      bound.profile = user;
      out.touch(bound.room);
      out.presenceTo(bound.room, 'all');
    }
    return welcome(bound, msg, out);
  }
  if (conn.authUserId !== null && conn.authUserId !== user.userId) {
    const text = `the credential is for ${conn.authUserId}, not ${user.userId}`;
    return out.reply(conn, fail('join', 'FORBIDDEN', text, msg.rid));
  }
  const fresh = requireToken(token);
  const existing = state.rooms.get(roomId)?.members.get(user.userId);
  if (existing !== undefined) {
    const entitled =
      (msg.resumeToken !== undefined && sameToken(msg.resumeToken, existing.resumeToken)) ||
      conn.authUserId === user.userId;
    if (!entitled) {
      const text = `${user.userId} is already in room ${roomId}; join with its resumeToken to take over`;
      return out.reply(conn, fail('join', 'FORBIDDEN', text, msg.rid));
    }
    takeOver(state, existing, conn, msg, fresh, out);
    return welcome(existing, msg, out);
  }
  const room = state.rooms.get(roomId);
  if (room === undefined && state.rooms.size + state.otherRooms >= state.config.maxRooms) {
    const text = `the server holds its maximum of ${state.config.maxRooms} rooms`;
    return out.reply(conn, fail('join', 'LIMIT_EXCEEDED', text, msg.rid));
  }
  if (room !== undefined && room.members.size >= state.config.maxRoomUsers) {
    const text = `room ${roomId} is full (${state.config.maxRoomUsers} users)`;
    return out.reply(conn, fail('join', 'ROOM_FULL', text, msg.rid));
  }
  const member = addMember(state, findOrCreateRoom(state, roomId), conn, user, fresh, out);
  welcome(member, msg, out);
}

function takeOver(
  state: CoreState,
  member: Member,
  conn: Conn,
  msg: JoinMessage,
  token: string,
  out: Out,
): void {
  const old = member.conn;
  if (old !== null) {
    old.member = null;
    state.conns.delete(old.id);
    out.send(
      [old.id],
      fail(undefined, 'SESSION_REPLACED', `${member.userId} joined from another connection`, undefined),
    );
    out.close(old.id, CLOSE_CODES.replaced, 'session replaced');
  }
  member.conn = conn;
  conn.member = member;
  member.graceUntil = null;
  member.graceArmedAt = NOT_ARMED;
  member.lastSeen = state.now;
  member.profile = msg.user;
  member.resumeToken = token;
  armPresence(state, member);
  out.touch(member.room);
  out.presenceTo(member.room, 'all');
}

function welcome(member: Member, msg: JoinMessage, out: Out): void {
  const conn = member.conn!;
  const { room } = member;
  out.presenceTo(room, conn);
  out.selectionTo(room, conn);
  for (const planetId of member.viewing.keys()) out.snapshotTo(room, planetId, conn);
  const selection = member.selection;
  out.reply(
    conn,
    ack('join', msg.rid, {
      resumeToken: member.resumeToken,
      viewing: [...member.viewing.keys()].sort(compareIds),
      ...(selection === null ? {} : { lock: { planetId: selection.planetId, ...grantExtras(selection) } }),
    }),
  );
}

function requireToken(token: string | undefined): string {
  if (token === undefined || token.length === 0) {
    throw new Error('invariant: a join frame must carry a fresh resume token (FrameCommand.token)');
  }
  return token;
}
