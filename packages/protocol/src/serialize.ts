// The one place server messages become text, so a later change of encoding touches one function.
import type { ServerMessage } from './server-messages.js';

export function serializeServerMessage(msg: ServerMessage): string {
  return JSON.stringify(msg);
}
