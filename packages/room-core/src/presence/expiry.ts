// Presence expiry (CONTRACT §7): a user not seen for presenceTimeoutMs is removed as by leave and
// its connection closed with 4008. `lastSeen` moves with every frame that passes the binding
// check; the deadline re-arms lazily when it comes due and the user was seen since. During a
// reconnect grace the timeout is suspended (the grace end decides instead).

import { closeByServer } from '../connections.js';
import { armPresence } from '../deadline.js';
import { CLOSE_CODES } from '../effects.js';
import type { Out } from '../out.js';
import type { CoreState, Member } from '../state.js';

export function presenceDue(state: CoreState, member: Member, out: Out): void {
  const conn = member.conn;
  if (conn === null) return;
  if (member.lastSeen + state.config.presenceTimeoutMs > state.now) return armPresence(state, member);
  closeByServer(state, conn, CLOSE_CODES.presenceExpired, 'presence expired', out);
}
