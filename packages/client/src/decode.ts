// Decoding a server frame. Rules: only text frames holding JSON that ServerMessageSchema accepts are
// messages; anything else is an ExoError('PROTOCOL') to report, never a throw: a server this client
// does not understand must not crash the app, and the strict schemas make such a server visible.

import { type ServerMessage, ServerMessageSchema } from '@exo/protocol';
import * as v from 'valibot';
import { ExoError } from './errors.js';

export function decode(data: unknown): ServerMessage | ExoError {
  if (typeof data !== 'string') return new ExoError('PROTOCOL', 'the server sent a binary frame');
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    // Not JSON is the answer here, reported as such; nothing else can throw in JSON.parse.
    return new ExoError('PROTOCOL', `the server sent a frame that is not JSON: ${data.slice(0, 80)}`);
  }
  const parsed = v.safeParse(ServerMessageSchema, value);
  if (parsed.success) return parsed.output;
  const issue = parsed.issues[0];
  return new ExoError(
    'PROTOCOL',
    `the server sent a frame this client does not understand: ${issue.message}`,
  );
}
