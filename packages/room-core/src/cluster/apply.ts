// One room step for cluster mode: a document in, a document and effects out. The shell of each
// process admits frames for its own connections (rate budgets, decoding, see `admit`), keeps each
// connection's binding and throttles its cameras; everything a room decides runs here, on the
// room loaded from its document, through the same code as one process (`applyMessage`,
// `closeConn`, the deadline handlers). The result is the new document, the effects (addressed by
// connection id, whichever process holds the connection) and the bindings that changed, which the
// processes holding those connections apply. Pure and deterministic, like `step`.

import type { ClientMessage } from '@exo/protocol';
import type { CloseKind, ConnId } from '../commands.js';
import type { CoreConfig } from '../config.js';
import { closeConn } from '../connections.js';
import { applyDue, unreachable } from '../deadline.js';
import { CLOSE_CODES, type Effect } from '../effects.js';
import { applyMessage } from '../frame.js';
import { Out } from '../out.js';
import { type Conn, type CoreState, createConn } from '../state.js';
import { onDue } from '../step.js';
import { type CameraLookup, loadRoom, NO_CAMERAS, type RoomDoc, roomDeadline, saveRoom } from './doc.js';

/** What a connection is bound to, as far as a room step knows. */
export interface RoomBinding {
  readonly roomId: string;
  readonly userId: string;
}

export type RoomCommand =
  /** A frame that passed admission (never a camera), from `conn`. Joins carry a fresh token. */
  | {
      readonly type: 'message';
      readonly conn: ConnId;
      readonly at: number;
      readonly message: Exclude<ClientMessage, { type: 'camera' }>;
      readonly token?: string;
      /** The connection's verified subject, when auth is on. */
      readonly authUserId?: string | null;
    }
  /**
   * The connection's member was seen at `seenAt` (default: the step's time) by a frame its edge
   * handled alone (a camera that passed the binding check). lastSeen never moves back.
   */
  | { readonly type: 'seen'; readonly conn: ConnId; readonly at: number; readonly seenAt?: number }
  /** The connection closed (see CloseCommand). A server-decided close is kind 'other'. */
  | {
      readonly type: 'close';
      readonly conn: ConnId;
      readonly at: number;
      readonly kind: CloseKind;
      readonly graceMs?: number;
    }
  /**
   * Every member whose connection id starts with `prefix` (a dead process's) leaves at once, and
   * those connections are closed with 1001 in case the process is alive after all.
   */
  | { readonly type: 'evict'; readonly prefix: string; readonly at: number }
  /** Time passed: apply what is due. */
  | { readonly type: 'tick'; readonly at: number };

export interface RoomTransition {
  readonly doc: RoomDoc;
  /** Whether the document (apart from its clock) changed or the step had effects: else no write. */
  readonly changed: boolean;
  readonly effects: Effect[];
  /** Connections whose binding changed: to a member, or to nothing (unbound or gone). */
  readonly bindings: ReadonlyMap<ConnId, RoomBinding | null>;
  /** When the room next needs a tick, or null. */
  readonly nextDeadline: number | null;
}

export interface RoomContext {
  readonly config: CoreConfig;
  readonly roomId: string;
  readonly doc: RoomDoc | null;
  readonly cameras?: CameraLookup;
  /** Live rooms other than this one, cluster-wide: MAX_ROOMS counts them. */
  readonly otherRooms?: number;
}

export function applyRoom(context: RoomContext, command: RoomCommand): RoomTransition {
  const { config, roomId, doc } = context;
  const { state, vids } = loadRoom(config, roomId, doc, context.cameras ?? NO_CAMERAS);
  state.otherRooms = context.otherRooms ?? 0;
  const before = bindingsOf(state, roomId);
  const effects: Effect[] = [];
  applyDue(state, Math.max(Math.floor(command.at), state.now), onDue, effects);
  const out = new Out();
  switch (command.type) {
    case 'message': {
      if (doc?.closed?.includes(command.conn) === true) break;
      const conn = connFor(state, command.conn, command.authUserId ?? null);
      applyMessage(state, conn, command.message, command.token, 0, out);
      break;
    }
    case 'seen': {
      const member = state.conns.get(command.conn)?.member;
      const seenAt = Math.min(Math.floor(command.seenAt ?? state.now), state.now);
      if (member != null && seenAt > member.lastSeen) member.lastSeen = seenAt;
      break;
    }
    case 'close':
      closeConn(state, command, out);
      break;
    case 'evict':
      // Closed too: if the process was only slow, not dead, its clients reconnect and join again
      // rather than linger unbound.
      for (const id of [...state.conns.keys()]) {
        if (!id.startsWith(command.prefix)) continue;
        closeConn(state, { type: 'close', conn: id, at: state.now, kind: 'other' }, out);
        out.close(id, CLOSE_CODES.goingAway, 'process presumed dead; reconnect');
      }
      break;
    case 'tick':
      break;
    default:
      unreachable(command);
  }
  out.flush(state, effects);
  const room = state.rooms.get(roomId);
  const saved = saveRoom(state, roomId, vids, room?.seq ?? state.seqFloor);
  const closed = closedConns(doc?.closed ?? [], effects);
  const next: RoomDoc = closed.length === 0 ? saved : { ...saved, closed };
  const after = bindingsOf(state, roomId);
  const bindings = new Map<ConnId, RoomBinding | null>();
  for (const [id, binding] of after) if (before.get(id)?.userId !== binding.userId) bindings.set(id, binding);
  for (const id of before.keys()) if (!after.has(id)) bindings.set(id, null);
  return {
    doc: next,
    changed: effects.length > 0 || (doc === null ? next.live : !sameBody(doc, next)),
    effects,
    bindings,
    nextDeadline: roomDeadline(config, next),
  };
}

const CLOSED_KEPT = 16;

/** The room's closed connections after this step's closes: the last CLOSED_KEPT, newest last. */
function closedConns(before: readonly ConnId[], effects: readonly Effect[]): ConnId[] {
  const closed = [...before];
  for (const effect of effects)
    if (effect.type === 'close' && !closed.includes(effect.conn)) closed.push(effect.conn);
  return closed.slice(-CLOSED_KEPT);
}

/** The loaded connection with this id, or a fresh unbound one for a connection new to the room. */
function connFor(state: CoreState, id: ConnId, authUserId: string | null): Conn {
  const known = state.conns.get(id);
  if (known !== undefined) return known;
  const conn = createConn(
    state.config,
    id,
    state.now,
    authUserId === null ? undefined : { userId: authUserId },
  );
  state.conns.set(id, conn);
  return conn;
}

function bindingsOf(state: CoreState, roomId: string): Map<ConnId, RoomBinding> {
  const bindings = new Map<ConnId, RoomBinding>();
  const room = state.rooms.get(roomId);
  if (room === undefined) return bindings;
  for (const member of room.members.values()) {
    if (member.conn !== null) bindings.set(member.conn.id, { roomId, userId: member.userId });
  }
  return bindings;
}

function sameBody(a: RoomDoc, b: RoomDoc): boolean {
  return JSON.stringify({ ...a, now: 0 }) === JSON.stringify({ ...b, now: 0 });
}
