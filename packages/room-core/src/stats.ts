// Counts of what the core holds, for metrics, the inspection endpoint and soak checks ("nothing
// left for absent users"). Pending deadlines count only live entries: superseded heap entries
// (armed lazily) are garbage waiting to be popped, not work.

import { isLive } from './deadline.js';
import type { CoreState } from './state.js';

export interface CoreStats {
  connections: number;
  /** Connections bound to a member. */
  boundConnections: number;
  rooms: number;
  users: number;
  /** Users in a reconnect grace (connected: false). */
  usersInGrace: number;
  /** Selections held (exclusive locks, or shared selections). */
  locks: number;
  /** (user, planet) viewer pairs. */
  viewers: number;
  /** Last cameras stored. */
  cameras: number;
  /** Coalesced camera relays waiting for their interval to end. */
  pendingRelays: number;
  pendingDeadlines: number;
  /** Heap entries, live or superseded. */
  heapSize: number;
}

export function stats(state: CoreState): CoreStats {
  const s: CoreStats = {
    connections: state.conns.size,
    boundConnections: 0,
    rooms: state.rooms.size,
    users: 0,
    usersInGrace: 0,
    locks: 0,
    viewers: 0,
    cameras: 0,
    pendingRelays: 0,
    pendingDeadlines: 0,
    heapSize: state.deadlines.size,
  };
  for (const conn of state.conns.values()) if (conn.member !== null) s.boundConnections++;
  for (const room of state.rooms.values()) {
    for (const member of room.members.values()) {
      s.users++;
      if (member.conn === null) s.usersInGrace++;
      if (member.selection !== null) s.locks++;
      for (const view of member.viewing.values()) {
        s.viewers++;
        if (view.camera !== null) s.cameras++;
        if (view.pending !== null) s.pendingRelays++;
      }
    }
  }
  for (const entry of state.deadlines.entries()) if (isLive(state, entry)) s.pendingDeadlines++;
  return s;
}
