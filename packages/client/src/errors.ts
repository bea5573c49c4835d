// The client's one error type. Server refusals keep the server's code, message and retryAfterMs;
// the client adds its own codes for what the server cannot say: the connection dropped before an
// answer (DISCONNECTED: the command may or may not have been applied), the client is closed (CLOSED),
// and the terminal closes of CONTRACT §1 and §8.

import type { ErrorCode, ErrorMessage } from '@exo/protocol';

export type ClientErrorCode =
  | ErrorCode
  | 'DISCONNECTED'
  | 'CLOSED'
  | 'UNAUTHORIZED'
  | 'UPGRADE_REFUSED'
  | 'TOKEN_EXPIRED'
  | 'FRAME_TOO_LARGE'
  | 'PROTOCOL';

export class ExoError extends Error {
  override readonly name = 'ExoError';
  readonly op: string | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(
    readonly code: ClientErrorCode,
    message: string,
    extra: { readonly op?: string | undefined; readonly retryAfterMs?: number | undefined } = {},
  ) {
    super(message);
    this.op = extra.op;
    this.retryAfterMs = extra.retryAfterMs;
  }

  static fromMessage(message: ErrorMessage): ExoError {
    return new ExoError(message.code, message.message, {
      op: message.op,
      retryAfterMs: message.retryAfterMs,
    });
  }
}
