// Valid examples of every client message, as plain JSON-ready objects, and small helpers to parse
// a variant of one.
import { expect } from 'vitest';
import { type ParseResult, type ProtocolError, parseClientMessage } from '../src/parse.js';

export const VALID = {
  join: {
    type: 'join',
    roomId: 'room-1',
    user: { userId: 'u1', name: 'Ada', color: '#A0B1C2', avatarUrl: 'https://example.com/a.png' },
    resumeToken: 'tok',
    rid: 1,
  },
  leave: { type: 'leave', userId: 'u1', rid: 'r-1' },
  select: { type: 'select', planetId: 'kepler-22b', userId: 'u1' },
  unselect: { type: 'unselect', planetId: 'kepler-22b', userId: 'u1' },
  join_viewer: { type: 'join_viewer', planetId: 'kepler-22b', userId: 'u1' },
  leave_viewer: { type: 'leave_viewer', planetId: 'kepler-22b', userId: 'u1' },
  camera: {
    type: 'camera',
    planetId: 'kepler-22b',
    userId: 'u1',
    camera: {
      position: [1, 2, 3],
      target: [0, 0, 0],
      up: [0, 1, 0],
      quaternion: [0, 0, 0, 1],
      fov: 60,
      zoom: 1.5,
    },
  },
  heartbeat: { type: 'heartbeat', userId: 'u1', ts: 1700000000000 },
} as const;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** JSON text of a fixture with top-level keys replaced; a key set to undefined is left out. */
export function variantOf(type: keyof typeof VALID, patch: Record<string, Json | undefined>): string {
  return JSON.stringify({ ...VALID[type], ...patch });
}

export function parseOk(text: string) {
  const result = parseClientMessage(text);
  if (!result.ok) expect.fail(`expected ok, got ${JSON.stringify(result.error)}`);
  return result.message;
}

export function parseError(text: string): ProtocolError {
  const result: ParseResult = parseClientMessage(text);
  if (result.ok) expect.fail(`expected an error, got ${JSON.stringify(result.message)}`);
  return result.error;
}

/** Asserts a BAD_MESSAGE whose path is `path` and whose message starts by naming it. */
export function expectRejectedAt(text: string, path: string): ProtocolError {
  const error = parseError(text);
  expect(error).toMatchObject({ code: 'BAD_MESSAGE', path });
  expect(error.message.startsWith(`${path}: `)).toBe(true);
  return error;
}

/** Asserts a BAD_MESSAGE for the unknown key `key` inside `parent` ('' for the top level). */
export function expectUnknownKey(text: string, key: string, parent: string): ProtocolError {
  const error = parseError(text);
  const where = parent === '' ? '' : ` at ${parent}`;
  expect(error).toMatchObject({ code: 'BAD_MESSAGE', message: `unknown key '${key}'${where}` });
  return error;
}
