// The one answer each command gets (CONTRACT §3): an `ack`, a `conflict` or an `error`, echoing
// the command's `rid` when it carried one.

import type { AckMessage, ClientMessageType, ErrorCode, ErrorMessage, Rid } from '@exo/protocol';

type AckExtras = Omit<AckMessage, 'type' | 'op' | 'ok' | 'rid'>;

export function ack(op: ClientMessageType, rid: Rid | undefined, extras?: AckExtras): AckMessage {
  const message: AckMessage = { type: 'ack', op, ok: true, ...extras };
  if (rid !== undefined) message.rid = rid;
  return message;
}

export function fail(
  op: string | undefined,
  code: ErrorCode,
  text: string,
  rid: Rid | undefined,
  retryAfterMs?: number,
): ErrorMessage {
  const message: ErrorMessage = { type: 'error', ok: false, code, message: text };
  if (op !== undefined) message.op = op;
  if (rid !== undefined) message.rid = rid;
  if (retryAfterMs !== undefined) message.retryAfterMs = retryAfterMs;
  return message;
}
