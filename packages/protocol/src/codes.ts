// The wire's closed vocabularies: the error codes of contract §2 and the client message types of the
// seed. They are readonly tuples so the types derive from them and the picklists reuse them; adding a
// code or a type is a protocol change, so it happens here and nowhere else.
import * as v from 'valibot';

export const ERROR_CODES = [
  'BAD_JSON',
  'BAD_MESSAGE',
  'UNKNOWN_TYPE',
  'NOT_JOINED',
  'ALREADY_JOINED',
  'USER_MISMATCH',
  'ROOM_FULL',
  'NOT_SELECTED',
  'NOT_VIEWING',
  'LIMIT_EXCEEDED',
  'RATE_LIMITED',
  'FORBIDDEN',
  'SESSION_REPLACED',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const CLIENT_MESSAGE_TYPES = [
  'join',
  'leave',
  'select',
  'unselect',
  'join_viewer',
  'leave_viewer',
  'camera',
  'heartbeat',
] as const;
export type ClientMessageType = (typeof CLIENT_MESSAGE_TYPES)[number];

export const ErrorCodeSchema = v.picklist(ERROR_CODES, 'expected a known error code');
export const ClientMessageTypeSchema = v.picklist(CLIENT_MESSAGE_TYPES, 'expected a client message type');
