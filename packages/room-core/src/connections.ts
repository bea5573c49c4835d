// Connections (CONTRACT §1, §4, §8). A connection is open from `open` to `close` or until the
// core closes it: after joinTimeoutMs unbound (4002), at its credential's expiry (4401), on a
// flood (1008), when presence expires (4008) or when its user is taken over (4001). A server-side
// close makes its user leave at once. A socket closing by itself (network, or 1001 going away)
// keeps the user for the reconnect grace, if one is set, shown as connected: false.

import type { CloseCommand, OpenCommand } from './commands.js';
import { armAuthExpiry, armGrace, armJoinTimeout } from './deadline.js';
import { CLOSE_CODES, type CloseCode } from './effects.js';
import type { Out } from './out.js';
import { removeMember } from './rooms/membership.js';
import { type Conn, type CoreState, createConn } from './state.js';

export function openConn(state: CoreState, cmd: OpenCommand): void {
  if (state.conns.has(cmd.conn)) throw new Error(`invariant: connection ${cmd.conn} is already open`);
  const conn = createConn(state.config, cmd.conn, state.now, cmd.auth);
  state.conns.set(conn.id, conn);
  armJoinTimeout(state, conn);
  if (conn.authExpiresAt !== null) armAuthExpiry(state, conn, conn.authExpiresAt);
}

export function closeConn(state: CoreState, cmd: CloseCommand, out: Out): void {
  const conn = state.conns.get(cmd.conn);
  if (conn === undefined) return;
  state.conns.delete(conn.id);
  const member = conn.member;
  if (member === null) return;
  const grace = cmd.graceMs ?? state.config.reconnectGraceMs;
  if (grace > 0 && cmd.kind !== 'other') {
    conn.member = null;
    member.conn = null;
    member.graceUntil = state.now + grace;
    armGrace(state, member, member.graceUntil);
    out.touch(member.room);
    out.presenceTo(member.room, 'all');
  } else {
    removeMember(state, member, out);
  }
}

/** The core ends a connection: its user, if any, leaves at once. */
export function closeByServer(state: CoreState, conn: Conn, code: CloseCode, reason: string, out: Out): void {
  state.conns.delete(conn.id);
  if (conn.member !== null) removeMember(state, conn.member, out);
  out.close(conn.id, code, reason);
}

/** The join timeout came due: close the connection, or re-arm if it was bound meanwhile. */
export function joinDue(state: CoreState, conn: Conn, out: Out): void {
  if (conn.unboundSince + state.config.joinTimeoutMs > state.now) armJoinTimeout(state, conn);
  else closeByServer(state, conn, CLOSE_CODES.joinTimeout, 'no join in time', out);
}
