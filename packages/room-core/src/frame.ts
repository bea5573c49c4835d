// One decoded frame through the contract's checks (CONTRACT §1, §8), after the shell has done
// size and JSON decoding: first the rate budgets, then the decode error if any, then the binding
// of the connection, then the domain rule. Every non-camera frame is charged to the general
// budget, unparsable ones and joins included; past it each frame gets RATE_LIMITED with
// retryAfterMs, and more than 3 × rateLimitMax frames in one window close the connection (1008).
// Camera frames are charged to the camera budget: extra ones are coalesced without an answer,
// and more than 10 × cameraRateMax in one second close the connection.

import { CLIENT_MESSAGE_TYPES, type ClientMessage, type ParseResult } from '@exo/protocol';
import { ack, fail } from './answers.js';
import { closeByServer } from './connections.js';
import { unreachable } from './deadline.js';
import { CLOSE_CODES } from './effects.js';
import { renew, select, unselect } from './locks/selection.js';
import type { Out } from './out.js';
import { join } from './rooms/join.js';
import { removeMember } from './rooms/membership.js';
import type { Conn, CoreState } from './state.js';
import { camera, joinViewer, leaveViewer } from './viewers/viewers.js';

const KNOWN_TYPES: ReadonlySet<string> = new Set(CLIENT_MESSAGE_TYPES);

export function onFrame(
  state: CoreState,
  conn: Conn,
  input: ParseResult,
  token: string | undefined,
  out: Out,
): void {
  const { now, config } = state;
  const type = input.ok ? input.message.type : input.error.type;
  if (type === 'camera') {
    if (conn.cameraFlood.hit(now) > 10 * config.cameraRateMax) {
      return closeByServer(state, conn, CLOSE_CODES.flooding, 'camera flood', out);
    }
    const wait = conn.camera.take(now);
    if (input.ok) return bound(state, conn, input.message, token, wait, out);
    if (wait === 0) out.reply(conn, fail('camera', input.error.code, input.error.message, input.error.rid));
    return;
  }
  if (conn.generalFlood.hit(now) > 3 * config.rateLimitMax) {
    return closeByServer(state, conn, CLOSE_CODES.flooding, 'message flood', out);
  }
  const wait = conn.general.take(now);
  const op = type !== undefined && KNOWN_TYPES.has(type) ? type : undefined;
  if (!input.ok && type === undefined) {
    return out.reply(conn, fail(undefined, input.error.code, input.error.message, input.error.rid));
  }
  if (wait > 0) {
    const text = `more than ${config.rateLimitMax} messages in ${config.rateLimitWindowMs} ms; retry in ${wait} ms`;
    const rid = input.ok ? input.message.rid : input.error.rid;
    return out.reply(conn, fail(op, 'RATE_LIMITED', text, rid, wait));
  }
  if (!input.ok) return out.reply(conn, fail(op, input.error.code, input.error.message, input.error.rid));
  bound(state, conn, input.message, token, 0, out);
}

/** The binding check, then the domain rule. `rateWait` > 0 only for an out-of-rate camera. */
function bound(
  state: CoreState,
  conn: Conn,
  msg: ClientMessage,
  token: string | undefined,
  rateWait: number,
  out: Out,
): void {
  if (msg.type === 'join') return join(state, conn, msg, token, out);
  const member = conn.member;
  const silent = rateWait > 0;
  if (member === null) {
    if (!silent) out.reply(conn, fail(msg.type, 'NOT_JOINED', `send join before ${msg.type}`, msg.rid));
    return;
  }
  if (msg.userId !== member.userId) {
    const text = `this connection speaks for ${member.userId}, not ${msg.userId}`;
    if (!silent) out.reply(conn, fail(msg.type, 'USER_MISMATCH', text, msg.rid));
    return;
  }
  member.lastSeen = state.now;
  switch (msg.type) {
    case 'camera':
      return camera(state, member, msg, rateWait, out);
    case 'select':
      return select(state, member, msg, out);
    case 'unselect':
      return unselect(member, msg, out);
    case 'join_viewer':
      return joinViewer(state, member, msg, out);
    case 'leave_viewer':
      return leaveViewer(member, msg, out);
    case 'heartbeat': {
      renew(state, member);
      const expiresAt = member.selection?.expiresAt;
      const extras = { ts: msg.ts, serverTs: state.now, ...(expiresAt === undefined ? {} : { expiresAt }) };
      return out.reply(conn, ack('heartbeat', msg.rid, extras));
    }
    case 'leave':
      removeMember(state, member, out);
      return out.reply(conn, ack('leave', msg.rid));
    default:
      return unreachable(msg);
  }
}
