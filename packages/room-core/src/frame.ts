// One decoded frame through the contract's checks (CONTRACT §1, §8), after the shell has done
// size and JSON decoding: first the rate budgets, then the decode error if any, then the binding
// of the connection, then the domain rule. Every non-camera frame is charged to the general
// budget, unparsable ones and joins included; past it each frame gets RATE_LIMITED with
// retryAfterMs, and more than 3 × rateLimitMax frames in one window close the connection (1008).
// Camera frames are charged to the camera budget: extra ones are coalesced without an answer,
// and more than 10 × cameraRateMax in one second close the connection.

import { CLIENT_MESSAGE_TYPES, type ClientMessage, type ErrorMessage, type ParseResult } from '@exo/protocol';
import { ack, fail } from './answers.js';
import type { CoreConfig } from './config.js';
import { closeByServer } from './connections.js';
import { unreachable } from './deadline.js';
import { CLOSE_CODES } from './effects.js';
import { FixedWindowCounter, SlidingBudget } from './limits/budget.js';
import { renew, select, unselect } from './locks/selection.js';
import type { Out } from './out.js';
import { join } from './rooms/join.js';
import { removeMember } from './rooms/membership.js';
import type { Conn, CoreState } from './state.js';
import { camera, joinViewer, leaveViewer } from './viewers/viewers.js';

const KNOWN_TYPES: ReadonlySet<string> = new Set(CLIENT_MESSAGE_TYPES);

/** What the rate budgets and the decoder decide about a frame, before any binding check. */
export type Admission =
  /** Goes on to the binding check; `rateWait` > 0 only for an out-of-rate camera (to coalesce). */
  | { readonly kind: 'pass'; readonly message: ClientMessage; readonly rateWait: number }
  | { readonly kind: 'answer'; readonly answer: ErrorMessage }
  /** Past the flood threshold: the connection is closed with 1008. */
  | { readonly kind: 'flood'; readonly reason: string }
  /** An out-of-rate invalid camera: dropped without an answer. */
  | { readonly kind: 'drop' };

/** The per-connection budgets a frame is charged to (a Conn, or a cluster edge's connection). */
export type FrameBudgets = Pick<Conn, 'general' | 'camera' | 'generalFlood' | 'cameraFlood'>;

const DROP: Admission = { kind: 'drop' };

/** Fresh budgets for a connection, as a connection opened in one process gets them. */
export function createBudgets(config: CoreConfig): FrameBudgets {
  return {
    general: new SlidingBudget(config.rateLimitMax, config.rateLimitWindowMs),
    camera: new SlidingBudget(config.cameraRateMax, 1000),
    generalFlood: new FixedWindowCounter(config.rateLimitWindowMs),
    cameraFlood: new FixedWindowCounter(1000),
  };
}

/**
 * Charges a frame to its connection's budgets and turns decode errors into answers. Used by the
 * single-process step and, unchanged, by each process of a cluster for its own connections.
 */
export function admit(config: CoreConfig, budgets: FrameBudgets, input: ParseResult, now: number): Admission {
  const type = input.ok ? input.message.type : input.error.type;
  if (type === 'camera') {
    if (budgets.cameraFlood.hit(now) > 10 * config.cameraRateMax)
      return { kind: 'flood', reason: 'camera flood' };
    const wait = budgets.camera.take(now);
    if (input.ok) return { kind: 'pass', message: input.message, rateWait: wait };
    if (wait > 0) return DROP;
    return { kind: 'answer', answer: fail('camera', input.error.code, input.error.message, input.error.rid) };
  }
  if (budgets.generalFlood.hit(now) > 3 * config.rateLimitMax)
    return { kind: 'flood', reason: 'message flood' };
  const wait = budgets.general.take(now);
  const op = type !== undefined && KNOWN_TYPES.has(type) ? type : undefined;
  if (!input.ok && type === undefined) {
    return {
      kind: 'answer',
      answer: fail(undefined, input.error.code, input.error.message, input.error.rid),
    };
  }
  if (wait > 0) {
    const text = `more than ${config.rateLimitMax} messages in ${config.rateLimitWindowMs} ms; retry in ${wait} ms`;
    const rid = input.ok ? input.message.rid : input.error.rid;
    return { kind: 'answer', answer: fail(op, 'RATE_LIMITED', text, rid, wait) };
  }
  if (!input.ok)
    return { kind: 'answer', answer: fail(op, input.error.code, input.error.message, input.error.rid) };
  return { kind: 'pass', message: input.message, rateWait: 0 };
}

export function onFrame(
  state: CoreState,
  conn: Conn,
  input: ParseResult,
  token: string | undefined,
  out: Out,
): void {
  const admission = admit(state.config, conn, input, state.now);
  switch (admission.kind) {
    case 'pass':
      return applyMessage(state, conn, admission.message, token, admission.rateWait, out);
    case 'answer':
      return out.reply(conn, admission.answer);
    case 'flood':
      return closeByServer(state, conn, CLOSE_CODES.flooding, admission.reason, out);
    case 'drop':
      return;
    default:
      return unreachable(admission);
  }
}

/** The binding check, then the domain rule. `rateWait` > 0 only for an out-of-rate camera. */
export function applyMessage(
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
