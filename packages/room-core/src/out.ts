// What one step produces, collected and then released in the order CONTRACT §3 demands: each
// recipient gets at most one `presence` and one `selection_state` (built from the final state),
// then at most one `viewer_cameras` per affected planet in planetId order, then the sender's
// answer; closes come last. Camera relays and SESSION_REPLACED, whose order the contract leaves
// free, go first. A room changed by the step gets its `seq` raised once, so every state message
// of the step carries the same seq. The collections are made on first use: a camera step, the
// hot path, needs only its relay.

import type { ServerMessage } from '@exo/protocol';
import { getOrCreate } from './collections.js';
import type { ConnId } from './commands.js';
import type { CloseCode, Effect } from './effects.js';
import { selectionMessage } from './locks/messages.js';
import { compareIds } from './order.js';
import { presenceMessage } from './presence/messages.js';
import type { Conn, CoreState, Member, Room } from './state.js';
import { viewerCamerasMessage } from './viewers/messages.js';

/** Recipients of a room message: every connected member, or only some connections. */
type Audience = 'all' | Set<Conn>;

export class Out {
  private changed: Set<Room> | null = null;
  private presence: Map<Room, Audience> | null = null;
  private selection: Map<Room, Audience> | null = null;
  private snapshots: Map<Room, Map<string, Set<Conn>>> | null = null;
  private direct: Effect[] | null = null;
  private answer: { conn: Conn; message: ServerMessage } | null = null;
  private closes: Effect[] | null = null;

  /** The room's shared state changed: its seq rises once at the end of the step. */
  touch(room: Room): void {
    this.changed ??= new Set();
    this.changed.add(room);
  }

  presenceTo(room: Room, who: Conn | 'all'): void {
    this.presence ??= new Map();
    add(this.presence, room, who);
  }

  selectionTo(room: Room, who: Conn | 'all'): void {
    this.selection ??= new Map();
    add(this.selection, room, who);
  }

  snapshotTo(room: Room, planetId: string, conn: Conn): void {
    this.snapshots ??= new Map();
    const planets = getOrCreate(this.snapshots, room, () => new Map<string, Set<Conn>>());
    getOrCreate(planets, planetId, () => new Set<Conn>()).add(conn);
  }

  send(to: readonly ConnId[], message: ServerMessage): void {
    if (to.length === 0) return;
    this.direct ??= [];
    this.direct.push({ type: 'send', to, message });
  }

  reply(conn: Conn, message: ServerMessage): void {
    this.answer = { conn, message };
  }

  close(conn: ConnId, code: CloseCode, reason: string): void {
    this.closes ??= [];
    this.closes.push({ type: 'close', conn, code, reason });
  }

  get isEmpty(): boolean {
    return (
      this.changed === null &&
      this.presence === null &&
      this.selection === null &&
      this.snapshots === null &&
      this.direct === null &&
      this.answer === null &&
      this.closes === null
    );
  }

  flush(state: CoreState, effects: Effect[]): void {
    if (this.changed !== null) for (const room of this.changed) room.seq++;
    // Relays first: a relay decided in this step (a coalesced camera coming due) never arrives
    // after the state message that removes its sender.
    if (this.direct !== null) for (const effect of this.direct) effects.push(effect);
    if (this.presence !== null) {
      for (const [room, audience] of this.presence) {
        emit(effects, state, room, audience, () => presenceMessage(room));
      }
    }
    if (this.selection !== null) {
      for (const [room, audience] of this.selection) {
        emit(effects, state, room, audience, () => selectionMessage(room));
      }
    }
    if (this.snapshots !== null) this.flushSnapshots(state, effects);
    if (this.answer !== null) {
      effects.push({ type: 'send', to: [this.answer.conn.id], message: this.answer.message });
    }
    if (this.closes !== null) for (const effect of this.closes) effects.push(effect);
  }

  private flushSnapshots(state: CoreState, effects: Effect[]): void {
    for (const [room, planets] of this.snapshots!) {
      if (state.rooms.get(room.id) !== room) continue;
      for (const planetId of [...planets.keys()].sort(compareIds)) {
        for (const conn of planets.get(planetId)!) {
          const member = conn.member;
          if (member === null || member.room !== room || !member.viewing.has(planetId)) continue;
          effects.push({
            type: 'send',
            to: [conn.id],
            message: viewerCamerasMessage(room, planetId, member),
          });
        }
      }
    }
  }
}

function add(map: Map<Room, Audience>, room: Room, who: Conn | 'all'): void {
  const current = map.get(room);
  if (who === 'all' || current === 'all') {
    map.set(room, 'all');
  } else if (current === undefined) {
    map.set(room, new Set([who]));
  } else {
    current.add(who);
  }
}

function emit(
  effects: Effect[],
  state: CoreState,
  room: Room,
  audience: Audience,
  build: () => ServerMessage,
): void {
  if (state.rooms.get(room.id) !== room) return;
  const to: ConnId[] = [];
  if (audience === 'all') {
    for (const member of room.members.values()) if (member.conn !== null) to.push(member.conn.id);
  } else {
    for (const conn of audience) if (conn.member?.room === room) to.push(conn.id);
  }
  if (to.length > 0) effects.push({ type: 'send', to, message: build() });
}

/** Connection ids of a room's members other than `except`, skipping those in reconnect grace. */
export function connsOf(members: Iterable<Member>, except: Member | null): ConnId[] {
  const to: ConnId[] = [];
  for (const member of members) if (member !== except && member.conn !== null) to.push(member.conn.id);
  return to;
}
