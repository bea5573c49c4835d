import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { serializeServerMessage } from './serialize.js';
import { type ServerMessage, ServerMessageSchema } from './server-messages.js';

const camera = { position: [1, 2, 3], fov: 50 };

const VALID: Record<string, ServerMessage> = {
  presence: {
    type: 'presence',
    users: [
      { userId: 'u1', name: 'Ada', color: '#abc', joinedAt: 1, lastSeen: 2, connected: true },
      { userId: 'u2', joinedAt: 3, lastSeen: 3, connected: false },
    ],
    seq: 4,
  },
  selection_state: { type: 'selection_state', selected: { 'kepler-22b': ['u1'] }, seq: 5 },
  viewer_cameras: { type: 'viewer_cameras', planetId: 'p', cameras: { u2: { position: [0, 0, 0] } }, seq: 6 },
  camera: { type: 'camera', planetId: 'p', camera: { position: [1, 2, 3], fov: 50 }, userId: 'u2' },
  conflict: { type: 'conflict', planetId: 'p', lockedBy: 'u2', reason: 'locked', expiresAt: 1000, rid: 'r' },
  ack: {
    type: 'ack',
    op: 'join',
    ok: true,
    rid: 3,
    resumeToken: 'tok',
    lock: { planetId: 'p', expiresAt: 10, fence: 1700000000000000 },
    viewing: ['p', 'q'],
  },
  error: {
    type: 'error',
    op: 'select',
    ok: false,
    code: 'RATE_LIMITED',
    message: 'slow down',
    retryAfterMs: 250,
  },
};

const INVALID: [string, unknown][] = [
  [
    'a presence user without connected',
    { type: 'presence', users: [{ userId: 'u', joinedAt: 1, lastSeen: 1 }], seq: 1 },
  ],
  ['a presence without seq', { type: 'presence', users: [] }],
  [
    'a selection with a bad planet id as key',
    { type: 'selection_state', selected: { 'bad id': ['u'] }, seq: 1 },
  ],
  ['a selection with a bad user id', { type: 'selection_state', selected: { p: [''] }, seq: 1 }],
  [
    'viewer cameras with a bad camera',
    { type: 'viewer_cameras', planetId: 'p', cameras: { u: { position: [0] } }, seq: 1 },
  ],
  ['a camera relay with a rid', { type: 'camera', planetId: 'p', camera, userId: 'u', rid: 1 }],
  [
    'a conflict with another reason',
    { type: 'conflict', planetId: 'p', lockedBy: 'u', reason: 'busy', expiresAt: 1 },
  ],
  ['an ack with ok false', { type: 'ack', op: 'join', ok: false }],
  ['an ack for an unknown op', { type: 'ack', op: 'chat', ok: true }],
  ['an ack with an unknown key', { type: 'ack', op: 'join', ok: true, extra: 1 }],
  ['an error with an unknown code', { type: 'error', ok: false, code: 'OOPS', message: 'x' }],
  ['an error without message', { type: 'error', ok: false, code: 'INTERNAL' }],
  [
    'an error with a negative retryAfterMs',
    { type: 'error', ok: false, code: 'RATE_LIMITED', message: 'x', retryAfterMs: -1 },
  ],
  ['an unknown type', { type: 'welcome' }],
  ['a client message', { type: 'leave', userId: 'u' }],
];

describe('server messages', () => {
  it.each(Object.entries(VALID))('accepts a valid %s', (_, message) => {
    expect(v.parse(ServerMessageSchema, message)).toEqual(message);
  });

  it.each(INVALID)('rejects %s', (_, message) => {
    expect(v.safeParse(ServerMessageSchema, message).success).toBe(false);
  });

  it('keeps ids like __proto__ and constructor as record keys, in prototype-free records', () => {
    const text = '{"type":"selection_state","selected":{"__proto__":["u1"],"constructor":["u2"]},"seq":1}';
    const parsed = v.parse(ServerMessageSchema, JSON.parse(text));
    if (parsed.type !== 'selection_state') return expect.fail('expected selection_state');
    expect(Object.keys(parsed.selected)).toEqual(['__proto__', 'constructor']);
    expect(Object.getOwnPropertyDescriptor(parsed.selected, '__proto__')?.value).toEqual(['u1']);
    expect(Object.getPrototypeOf(parsed.selected)).toBeNull();
    expect(parsed.selected.toString).toBeUndefined();
    expect(serializeServerMessage(parsed)).toBe(text);
  });

  it('serializes a message as plain JSON', () => {
    const ack = VALID.ack as ServerMessage;
    expect(JSON.parse(serializeServerMessage(ack))).toEqual(ack);
  });
});
