// The core's one entry point: step(state, command) → effects. It first applies every deadline
// due at or before the command's time (each due time its own step), then the command. The core
// never goes back in time: a command stamped before the latest time seen counts as happening now.
// Given the same state and the same commands, it returns the same effects; it changes `state` in
// place and does no I/O.

import type { Command } from './commands.js';
import { closeByServer, closeConn, joinDue, openConn } from './connections.js';
import { applyDue, type Deadline, unreachable } from './deadline.js';
import { CLOSE_CODES, type Effect } from './effects.js';
import { onFrame } from './frame.js';
import { lockDue } from './locks/selection.js';
import { Out } from './out.js';
import { presenceDue } from './presence/expiry.js';
import { removeMember } from './rooms/membership.js';
import type { CoreState } from './state.js';
import { cameraDue } from './viewers/viewers.js';

export function step(state: CoreState, command: Command): Effect[] {
  const effects: Effect[] = [];
  // Whole milliseconds: timestamps and fences on the wire are integers, whatever the clock returns.
  applyDue(state, Math.max(Math.floor(command.at), state.now), onDue, effects);
  const out = new Out();
  switch (command.type) {
    case 'open':
      openConn(state, command);
      break;
    case 'frame': {
      const conn = state.conns.get(command.conn);
      if (conn !== undefined) onFrame(state, conn, command.input, command.token, out);
      break;
    }
    case 'close':
      closeConn(state, command, out);
      break;
    case 'tick':
      break;
    default:
      unreachable(command);
  }
  out.flush(state, effects);
  return effects;
}

/** What each kind of deadline does when it comes due (also used by the cluster's room step). */
export function onDue(state: CoreState, d: Deadline, out: Out): void {
  switch (d.kind) {
    case 'camera':
      return cameraDue(state, d.member, d.view, out);
    case 'lock':
      return lockDue(state, d.member, d.selection, out);
    case 'grace':
      return removeMember(state, d.member, out);
    case 'presence':
      return presenceDue(state, d.member, out);
    case 'join':
      return joinDue(state, d.conn, out);
    case 'auth':
      return closeByServer(state, d.conn, CLOSE_CODES.authExpired, 'credential expired', out);
    default:
      return unreachable(d);
  }
}
