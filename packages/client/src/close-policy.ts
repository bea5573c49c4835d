// What a closed connection means for the client (CONTRACT §1 close codes, §8 upgrade refusals):
// - 1001 (server restart), 4002 (no join in time), 4008 (presence expired), a network close (1006)
//   and any code not listed: reconnect with back-off and jitter;
// - 1008 (flooding) and 1013 (reading too slowly): reconnect, but back off for longer first;
// - 4001 (taken over by another connection), 1009 (frame too large), 4401 (token expired), and an
//   upgrade refused with 401 or 403: terminal. Reconnecting would not help, and after a takeover it
//   would start a loop between two tabs that keep taking the user from each other.
// Browsers hide why an upgrade failed; `ws` names the status in its error's message, read here.

import { ExoError } from './errors.js';

export const BACK_OFF_FLOOR_MS = 5000;

export type CloseAction =
  | { readonly kind: 'reconnect'; readonly floorMs: number }
  | { readonly kind: 'terminal'; readonly error: ExoError };

export function closeAction(code: number, reason: string): CloseAction {
  const detail = reason === '' ? `close ${code}` : `close ${code}: ${reason}`;
  switch (code) {
    case 4001:
      return terminal(
        new ExoError('SESSION_REPLACED', `this user joined from another connection (${detail})`),
      );
    case 1009:
      return terminal(new ExoError('FRAME_TOO_LARGE', `the server refused a frame as too large (${detail})`));
    case 4401:
      return terminal(new ExoError('TOKEN_EXPIRED', `the auth token expired; get a new one (${detail})`));
    case 1008:
    case 1013:
      return { kind: 'reconnect', floorMs: BACK_OFF_FLOOR_MS };
    default:
      return { kind: 'reconnect', floorMs: 0 };
  }
}

/** The action for an upgrade the server answered with an HTTP status instead of a WebSocket. */
export function refusalAction(status: number): CloseAction {
  if (status === 401)
    return terminal(new ExoError('UNAUTHORIZED', 'the server refused the token (HTTP 401)'));
  if (status === 403) {
    return terminal(new ExoError('UPGRADE_REFUSED', 'the server refused this origin (HTTP 403)'));
  }
  // 429 and 503 (connection caps, draining) pass with time.
  return { kind: 'reconnect', floorMs: BACK_OFF_FLOOR_MS };
}

const REFUSAL = /Unexpected server response: (\d{3})/;

/** The HTTP status of a refused upgrade, when the WebSocket implementation tells it. */
export function refusedStatus(errorEvent: unknown): number | null {
  const message = (errorEvent as { message?: unknown } | null)?.message;
  if (typeof message !== 'string') return null;
  const match = REFUSAL.exec(message);
  return match === null ? null : Number(match[1]);
}

function terminal(error: ExoError): CloseAction {
  return { kind: 'terminal', error };
}
