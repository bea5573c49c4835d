// Effects are what the core asks the shell to do: deliver one message to some connections (the
// shell serializes it once for all of them), or close a connection with a code. The order of the
// effects a step returns is the order the messages must be delivered in.

import type { ServerMessage } from '@exo/protocol';
import type { ConnId } from './commands.js';

export interface SendEffect {
  readonly type: 'send';
  readonly to: readonly ConnId[];
  readonly message: ServerMessage;
}

export interface CloseEffect {
  readonly type: 'close';
  readonly conn: ConnId;
  readonly code: CloseCode;
  readonly reason: string;
}

export type Effect = SendEffect | CloseEffect;

/** The close codes the core itself decides (CONTRACT §1). */
export const CLOSE_CODES = Object.freeze({
  /** Cluster mode: the process holding the connection was taken for dead; reconnect elsewhere. */
  goingAway: 1001,
  flooding: 1008,
  replaced: 4001,
  joinTimeout: 4002,
  presenceExpired: 4008,
  authExpired: 4401,
} as const);

export type CloseCode = (typeof CLOSE_CODES)[keyof typeof CLOSE_CODES];
