// Restoring a session after a reconnect (CONTRACT §4). Rules: the client joins again with its
// resumeToken, which takes the user over from the old connection if the server still holds it (the
// old socket may not be dead there yet), moving the lock and viewers along; then it selects again the
// planet it held if the ack shows no lock on it — reporting a conflict if someone took it meanwhile —
// and views again every planet missing from the ack's `viewing`. A join refusal ends the restore (the
// caller decides between giving up and retrying); a refused select or join_viewer is reported and
// the rest goes on; a dropped connection (DISCONNECTED) ends it, for the next attempt to redo.

import type { AckMessage, LockInfo, UserProfile } from '@exo/protocol';
import { ExoError } from './errors.js';
import type { RestoreReport } from './events.js';
import type { Answer, Command } from './requests.js';

export interface Session {
  readonly roomId: string;
  readonly user: UserProfile;
  readonly resumeToken: string;
}

export interface Wanted {
  readonly selection: string | null;
  readonly viewers: readonly string[];
}

type Send = (command: Command) => Promise<Answer>;

export async function restoreSession(send: Send, session: Session, want: Wanted): Promise<RestoreReport> {
  const { roomId, user, resumeToken } = session;
  const ack = (await send({ type: 'join', roomId, user, resumeToken })) as AckMessage;
  const selection = await restoreSelection(send, user.userId, want.selection, ack.lock);
  const viewing: string[] = [];
  const viewingFailed: { planetId: string; error: ExoError }[] = [];
  for (const planetId of want.viewers) {
    if (ack.viewing?.includes(planetId)) {
      viewing.push(planetId);
      continue;
    }
    try {
      await send({ type: 'join_viewer', planetId, userId: user.userId });
      viewing.push(planetId);
    } catch (err) {
      viewingFailed.push({ planetId, error: refusal(err) });
    }
  }
  return { selection, viewing, viewingFailed };
}

async function restoreSelection(
  send: Send,
  userId: string,
  wanted: string | null,
  held: LockInfo | undefined,
): Promise<RestoreReport['selection']> {
  if (held !== undefined && (wanted === null || held.planetId === wanted)) {
    return { status: 'kept', planetId: held.planetId };
  }
  if (wanted === null) return { status: 'none' };
  try {
    const answer = await send({ type: 'select', planetId: wanted, userId });
    if (answer.type === 'conflict')
      return { status: 'conflict', planetId: wanted, lockedBy: answer.lockedBy };
    return { status: 'reselected', planetId: wanted };
  } catch (err) {
    return { status: 'failed', planetId: wanted, error: refusal(err) };
  }
}

/** A server refusal to report; a dropped connection (or a bug) ends the restore instead. */
function refusal(err: unknown): ExoError {
  if (!(err instanceof ExoError) || err.code === 'DISCONNECTED') throw err;
  return err;
}
