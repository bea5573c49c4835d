// A room as a plain document, for cluster mode: everything a room step reads or changes, with
// connections named by id, so a room can live in a shared store and be stepped by any process.
// `loadRoom` rebuilds a one-room CoreState from a document (the deadlines re-armed at their real
// times), `saveRoom` writes one back. Map insertion orders (members, selectors, viewers) are kept,
// so a step on a loaded room produces exactly what the same step produces in one process.
// A room with no members is saved as a tombstone (live: false) that keeps its seq and its
// recent fences, so a re-created room counts upward (CONTRACT §2, §5).

import type { CameraState, UserProfile } from '@exo/protocol';
import type { ConnId } from '../commands.js';
import type { CoreConfig } from '../config.js';
import { armGrace, armLock, armPresence } from '../deadline.js';
import {
  type Conn,
  type CoreState,
  createConn,
  createRoom,
  createState,
  fenceKey,
  type Member,
  NOT_ARMED,
  type Room,
  type ViewState,
} from '../state.js';

export interface DocSelection {
  readonly planetId: string;
  readonly expiresAt: number;
  readonly fence: number | null;
}

export interface DocMember {
  readonly userId: string;
  readonly profile: UserProfile;
  readonly joinedAt: number;
  readonly lastSeen: number;
  /** The connection speaking for the member (its id starts with its process's id); null in grace. */
  readonly conn: ConnId | null;
  readonly graceUntil: number | null;
  readonly resumeToken: string;
  readonly selection: DocSelection | null;
  /** Viewed planets in viewing order, each with the id of this viewing (see CameraLookup). */
  readonly viewing: readonly (readonly [planetId: string, vid: number])[];
}

export interface RoomDoc {
  readonly id: string;
  /** Whether the room exists; false for a tombstone. */
  readonly live: boolean;
  /** The latest time any step of this room has seen: the room's clock never goes back. */
  readonly now: number;
  /** Live: the room's seq. Tombstone: the seq a re-created room starts from. */
  readonly seq: number;
  readonly members: readonly DocMember[];
  /** planetId → selectors in selection order, in the room's map order. */
  readonly selected: readonly (readonly [string, readonly string[]])[];
  /** planetId → viewers in viewing order, in the room's map order. */
  readonly viewers: readonly (readonly [string, readonly string[]])[];
  /** planetId → last fence granted (tombstone: only fences a re-created room could collide with). */
  readonly lastFence: readonly (readonly [string, number])[];
  /**
   * The last connections the room closed (taken over, expired, evicted), newest last: in one
   * process a closed connection is gone, so a frame it sent before learning of its close changes
   * nothing; its process may apply such a frame before the close reaches it, so the room refuses.
   */
  readonly closed?: readonly ConnId[];
}

/**
 * The last camera a viewer stored for a viewing, or null. Cameras are not part of the document
 * (the hot path never writes it); the shell reads them from where relays store them, keyed by the
 * viewing's `vid` so a camera from an earlier viewing of the same planet is never shown.
 */
export type CameraLookup = (userId: string, planetId: string, vid: number) => CameraState | null;

export const NO_CAMERAS: CameraLookup = () => null;

/** A one-room state, plus the viewing ids of the views it was loaded with. */
export interface LoadedRoom {
  readonly state: CoreState;
  readonly vids: Map<ViewState, number>;
}

export function loadRoom(
  config: CoreConfig,
  roomId: string,
  doc: RoomDoc | null,
  cameras: CameraLookup = NO_CAMERAS,
): LoadedRoom {
  const state = createState(config, doc?.now ?? 0);
  const vids = new Map<ViewState, number>();
  if (doc === null) return { state, vids };
  if (doc.id !== roomId) throw new Error(`invariant: document of room ${doc.id} loaded as ${roomId}`);
  if (!doc.live) {
    state.seqFloor = doc.seq;
    for (const [planetId, fence] of doc.lastFence) state.retiredFences.set(fenceKey(roomId, planetId), fence);
    return { state, vids };
  }
  const room = createRoom(state, roomId);
  room.seq = doc.seq;
  state.rooms.set(roomId, room);
  for (const [planetId, fence] of doc.lastFence) room.lastFence.set(planetId, fence);
  for (const m of doc.members) {
    const member = loadMember(state, room, m, cameras, vids);
    room.members.set(member.userId, member);
  }
  for (const [planetId, userIds] of doc.selected) room.selected.set(planetId, new Set(userIds));
  for (const [planetId, userIds] of doc.viewers) {
    const viewers = new Map<string, Member>();
    for (const userId of userIds) viewers.set(userId, room.members.get(userId)!);
    room.viewers.set(planetId, viewers);
  }
  for (const member of room.members.values()) armMember(state, member);
  return { state, vids };
}

function loadMember(
  state: CoreState,
  room: Room,
  m: DocMember,
  cameras: CameraLookup,
  vids: Map<ViewState, number>,
): Member {
  const member: Member = {
    userId: m.userId,
    room,
    profile: m.profile,
    joinedAt: m.joinedAt,
    lastSeen: m.lastSeen,
    conn: null,
    graceUntil: m.graceUntil,
    resumeToken: m.resumeToken,
    selection: m.selection === null ? null : { ...m.selection, armedAt: NOT_ARMED },
    viewing: new Map(),
    presenceArmedAt: NOT_ARMED,
    graceArmedAt: NOT_ARMED,
  };
  for (const [planetId, vid] of m.viewing) {
    const camera = cameras(m.userId, planetId, vid);
    const view: ViewState = {
      planetId,
      camera,
      cameraAt: null,
      lastRelayAt: Number.NEGATIVE_INFINITY,
      pending: null,
      armedAt: NOT_ARMED,
    };
    member.viewing.set(planetId, view);
    vids.set(view, vid);
  }
  if (m.conn !== null) {
    const conn: Conn = createConn(state.config, m.conn, state.now);
    conn.member = member;
    member.conn = conn;
    state.conns.set(conn.id, conn);
  }
  return member;
}

/** Re-arms the member's deadlines at their real times (lazily re-armed entries need no history). */
function armMember(state: CoreState, member: Member): void {
  if (member.conn !== null) armPresence(state, member);
  else if (member.graceUntil !== null) armGrace(state, member, member.graceUntil);
  if (member.selection !== null) armLock(state, member, member.selection);
}

/**
 * The document of the room in `state` (a tombstone if it is gone). Views without a viewing id in
 * `vids` were created by this step and get `newVid`.
 */
export function saveRoom(
  state: CoreState,
  roomId: string,
  vids: ReadonlyMap<ViewState, number>,
  newVid: number,
): RoomDoc {
  const room = state.rooms.get(roomId);
  const retired: [string, number][] = [];
  const prefix = fenceKey(roomId, '');
  for (const [key, fence] of state.retiredFences) {
    if (key.startsWith(prefix)) retired.push([key.slice(prefix.length), fence]);
  }
  if (room === undefined) {
    return {
      id: roomId,
      live: false,
      now: state.now,
      seq: state.seqFloor,
      members: [],
      selected: [],
      viewers: [],
      lastFence: retired,
    };
  }
  return {
    id: roomId,
    live: true,
    now: state.now,
    seq: room.seq,
    members: [...room.members.values()].map((member) => saveMember(member, vids, newVid)),
    selected: [...room.selected].map(([planetId, userIds]) => [planetId, [...userIds]] as const),
    viewers: [...room.viewers].map(([planetId, viewers]) => [planetId, [...viewers.keys()]] as const),
    // A room re-created from its tombstone keeps the removed room's fences it has not superseded:
    // one process keeps them in retiredFences, which a live document has no other place for.
    lastFence: [...room.lastFence, ...retired.filter(([planetId]) => !room.lastFence.has(planetId))],
  };
}

function saveMember(member: Member, vids: ReadonlyMap<ViewState, number>, newVid: number): DocMember {
  const s = member.selection;
  return {
    userId: member.userId,
    profile: member.profile,
    joinedAt: member.joinedAt,
    lastSeen: member.lastSeen,
    conn: member.conn?.id ?? null,
    graceUntil: member.conn === null ? member.graceUntil : null,
    resumeToken: member.resumeToken,
    selection: s === null ? null : { planetId: s.planetId, expiresAt: s.expiresAt, fence: s.fence },
    viewing: [...member.viewing.values()].map((view) => [view.planetId, vids.get(view) ?? newVid] as const),
  };
}

/** When the room next needs a tick: its earliest lock expiry, presence expiry or grace end. */
export function roomDeadline(config: CoreConfig, doc: RoomDoc): number | null {
  let next = Number.POSITIVE_INFINITY;
  for (const m of doc.members) {
    if (m.selection !== null) next = Math.min(next, m.selection.expiresAt);
    if (m.conn !== null) next = Math.min(next, m.lastSeen + config.presenceTimeoutMs);
    else if (m.graceUntil !== null) next = Math.min(next, m.graceUntil);
  }
  return next === Number.POSITIVE_INFINITY ? null : next;
}
