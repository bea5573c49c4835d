// Decoding a server frame. Rules: only text frames holding JSON that ServerMessageSchema accepts are
// messages; anything else is a failure to report (ExoError 'PROTOCOL'), never a throw: a server this
// client does not understand must not crash the app, and the strict schemas make such a server
// visible. A failure keeps the frame's `rid` when it has one, so the command it answers still settles.

import { type ServerMessage, ServerMessageSchema } from '@exo/protocol';
import * as v from 'valibot';
import { ExoError } from './errors.js';

export interface DecodeFailure {
  readonly error: ExoError;
  readonly rid: unknown;
}

export function decode(data: unknown): ServerMessage | DecodeFailure {
  if (typeof data !== 'string') return failure('the server sent a binary frame');
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    // Not JSON is the answer here, reported as such; nothing else can throw in JSON.parse.
    return failure(`the server sent a frame that is not JSON: ${data.slice(0, 80)}`);
  }
  const parsed = v.safeParse(ServerMessageSchema, value);
  if (parsed.success) return parsed.output;
  const issue = parsed.issues[0];
  const where = issue.path?.map((item) => String(item.key)).join('.') ?? '';
  const text = `the server sent a frame this client does not understand (${where || 'frame'}: ${issue.message})`;
  return failure(text, (value as { rid?: unknown } | null)?.rid);
}

export function isFailure(decoded: ServerMessage | DecodeFailure): decoded is DecodeFailure {
  return 'error' in decoded && decoded.error instanceof ExoError;
}

function failure(message: string, rid?: unknown): DecodeFailure {
  return { error: new ExoError('PROTOCOL', message), rid };
}
