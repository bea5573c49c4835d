// The server's hot path: one text frame in, a typed message or a ProtocolError out; it never throws.
// Checks run in contract §1's order and the first failure answers:
//   1. not JSON                                   → BAD_JSON      (no `type`, no `rid`)
//   2. not a plain object, or no string `type`    → BAD_MESSAGE   (no `type`)
//   3. a `type` that is not a client message type → UNKNOWN_TYPE  (with `type`)
//   4. the shape of that type                     → BAD_MESSAGE   (with `type`, `path` of the first issue)
// `type` lets the server charge the right rate budget (camera frames have their own); `rid` is set
// whenever the object carried a valid one, so every error can echo it. The message returned is built
// by valibot, so it never shares an object or a prototype with the input. Only the first issue is
// wanted, so validation aborts at it.
import * as v from 'valibot';
import {
  CameraMessageSchema,
  type ClientMessage,
  HeartbeatMessageSchema,
  JoinMessageSchema,
  JoinViewerMessageSchema,
  LeaveMessageSchema,
  LeaveViewerMessageSchema,
  SelectMessageSchema,
  UnselectMessageSchema,
} from './client-messages.js';
import type { ClientMessageType } from './codes.js';
import { type Rid, RidSchema } from './ids.js';
import { describeIssue, displayText } from './issue-path.js';

export interface ProtocolError {
  code: 'BAD_JSON' | 'BAD_MESSAGE' | 'UNKNOWN_TYPE';
  message: string;
  path: string;
  type?: string;
  rid?: Rid;
}

export type ParseResult = { ok: true; message: ClientMessage } | { ok: false; error: ProtocolError };

// A Map, not an object literal: a `type` of "constructor" or "__proto__" must find nothing.
const SCHEMAS: ReadonlyMap<string, v.GenericSchema<unknown, ClientMessage>> = new Map<
  ClientMessageType,
  v.GenericSchema<unknown, ClientMessage>
>([
  ['join', JoinMessageSchema],
  ['leave', LeaveMessageSchema],
  ['select', SelectMessageSchema],
  ['unselect', UnselectMessageSchema],
  ['join_viewer', JoinViewerMessageSchema],
  ['leave_viewer', LeaveViewerMessageSchema],
  ['camera', CameraMessageSchema],
  ['heartbeat', HeartbeatMessageSchema],
]);

const FIRST_ISSUE_ONLY = { abortEarly: true } as const;
const MAX_REASON_CHARS = 200;

function failure(
  code: ProtocolError['code'],
  message: string,
  path: string,
  type?: string,
  rid?: Rid,
): { ok: false; error: ProtocolError } {
  const error: ProtocolError = { code, message, path };
  if (type !== undefined) error.type = type;
  if (rid !== undefined) error.rid = rid;
  return { ok: false, error };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function classify(value: unknown): ParseResult {
  if (!isPlainObject(value)) return failure('BAD_MESSAGE', 'expected a JSON object', '');
  const rid = v.is(RidSchema, value.rid) ? value.rid : undefined;
  const type = value.type;
  if (typeof type !== 'string') {
    return failure('BAD_MESSAGE', 'type: expected a string naming the message type', 'type', undefined, rid);
  }
  const schema = SCHEMAS.get(type);
  if (schema === undefined) {
    return failure('UNKNOWN_TYPE', `unknown message type '${displayText(type)}'`, 'type', type, rid);
  }
  const result = v.safeParse(schema, value, FIRST_ISSUE_ONLY);
  if (result.success) return { ok: true, message: result.output };
  const { path, message } = describeIssue(result.issues[0]);
  return failure('BAD_MESSAGE', message, path, type, rid);
}

/** Validates an already-decoded value (a frame JSON.parse produced, or an object built in memory). */
export function parseClientValue(value: unknown): ParseResult {
  try {
    return classify(value);
  } catch {
    // Only a value that is not JSON data gets here (a throwing getter, a hostile Proxy): the sender's
    // fault, so it is answered like any other malformed message.
    return failure('BAD_MESSAGE', 'the value could not be read as a message', '');
  }
}

/** Decodes and validates one text frame. */
export function parseClientMessage(text: string): ParseResult {
  if (typeof text !== 'string') return failure('BAD_MESSAGE', 'expected a text frame', '');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    // SyntaxError for bad text; RangeError if an engine ever runs out of stack on deep nesting.
    const reason = error instanceof Error ? error.message.slice(0, MAX_REASON_CHARS) : 'unreadable';
    return failure('BAD_JSON', `not valid JSON: ${reason}`, '');
  }
  return parseClientValue(value);
}
