// The generated JSON Schemas say what the valibot schemas say: a JSON Schema validator (ajv, strict
// mode) and valibot agree on every sample, valid or not, including the overridden parts (idRecord,
// name, color, avatarUrl, finite numbers). Samples are JSON texts, so a `__proto__` key is an own key
// as it is on the wire.
import { Ajv, type SchemaObject, type ValidateFunction } from 'ajv';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { standaloneSchema } from '../scripts/json-schema.js';
import { type Direction, MESSAGES } from '../scripts/messages.js';
import { ClientMessageSchema, ServerMessageSchema } from '../src/index.js';

const ajv = new Ajv({ strict: true, allErrors: true });

function compile(schema: v.GenericSchema, direction: Direction): ValidateFunction {
  // The converter's type marks absent keywords `undefined`; ajv's does not: same JSON either way.
  return ajv.compile(standaloneSchema(schema, direction, 'sample', 'sample') as SchemaObject);
}

/**
 * What valibot says of a sample: a client frame is valid when the server accepts it; a server frame
 * when it is exactly what the server could send, i.e. valibot accepts it and leaves it unchanged
 * (an upper-case color is accepted on input but never sent).
 */
function valibotVerdict(schema: v.GenericSchema, direction: Direction, value: unknown): boolean {
  const result = v.safeParse(schema, value);
  if (direction === 'client') return result.success;
  return result.success && canonical(result.output) === canonical(value);
}

/** JSON with keys sorted: valibot's output follows the schema's key order, and its records have no prototype. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

const specs = new Map(MESSAGES.map((m) => [`${m.direction}.${m.id}`, m]));
const validators = new Map(MESSAGES.map((m) => [`${m.direction}.${m.id}`, compile(m.schema, m.direction)]));

const cam = '{"position":[0,2,10]}';
const fullCam =
  '{"position":[0,2,10],"target":[0,0,0],"up":[0,1,0],"quaternion":[0,0,0,1],"fov":50,"zoom":1}';
const astral64 = '😀'.repeat(64);

// [message, what the sample probes, JSON text]
const SAMPLES: [string, string, string][] = [
  ['client.join', 'minimal join', '{"type":"join","roomId":"kepler","user":{"userId":"ana"}}'],
  [
    'client.join',
    'full join with an upper-case color',
    '{"type":"join","roomId":"k","user":{"userId":"ana","name":"Ana","color":"#3FA","avatarUrl":"https://e.org/a.png"},"resumeToken":"t","rid":1}',
  ],
  ['client.join', 'a 5-digit color', '{"type":"join","roomId":"k","user":{"userId":"ana","color":"#12345"}}'],
  ['client.join', 'a color name', '{"type":"join","roomId":"k","user":{"userId":"ana","color":"red"}}'],
  [
    'client.join',
    '64 astral chars',
    `{"type":"join","roomId":"k","user":{"userId":"ana","name":"${astral64}"}}`,
  ],
  [
    'client.join',
    'a 65-char name',
    `{"type":"join","roomId":"k","user":{"userId":"ana","name":"${'n'.repeat(65)}"}}`,
  ],
  ['client.join', 'an empty name', '{"type":"join","roomId":"k","user":{"userId":"ana","name":""}}'],
  [
    'client.join',
    'a control char',
    '{"type":"join","roomId":"k","user":{"userId":"ana","name":"a\\u0007b"}}',
  ],
  [
    'client.join',
    'a C1 control char',
    '{"type":"join","roomId":"k","user":{"userId":"ana","name":"a\\u0085b"}}',
  ],
  [
    'client.join',
    'ftp avatar',
    '{"type":"join","roomId":"k","user":{"userId":"ana","avatarUrl":"ftp://e.org/a"}}',
  ],
  [
    'client.join',
    'upper-case scheme',
    '{"type":"join","roomId":"k","user":{"userId":"ana","avatarUrl":"HTTP://E.ORG/"}}',
  ],
  [
    'client.join',
    'newline in URL',
    '{"type":"join","roomId":"k","user":{"userId":"ana","avatarUrl":"http://e.org/\\n"}}',
  ],
  [
    'client.join',
    'a 514-char URL',
    `{"type":"join","roomId":"k","user":{"userId":"ana","avatarUrl":"https://e.org/${'a'.repeat(500)}"}}`,
  ],
  ['client.join', 'an unknown key in user', '{"type":"join","roomId":"k","user":{"userId":"ana","extra":1}}'],
  ['client.join', 'a space in an id', '{"type":"join","roomId":"a b","user":{"userId":"ana"}}'],
  ['client.join', 'a 129-char id', `{"type":"join","roomId":"${'r'.repeat(129)}","user":{"userId":"ana"}}`],
  [
    'client.join',
    'prototype-named ids',
    '{"type":"join","roomId":"__proto__","user":{"userId":"constructor"}}',
  ],
  ['client.join', 'an empty token', '{"type":"join","roomId":"k","user":{"userId":"ana"},"resumeToken":""}'],
  ['client.leave', 'leave', '{"type":"leave","userId":"ana","rid":"x"}'],
  ['client.leave', 'a 65-char rid', `{"type":"leave","userId":"ana","rid":"${'x'.repeat(65)}"}`],
  ['client.leave', 'a fractional rid', '{"type":"leave","userId":"ana","rid":1.5}'],
  ['client.leave', 'an unsafe integer rid', '{"type":"leave","userId":"ana","rid":9007199254740993}'],
  ['client.leave', 'a null rid', '{"type":"leave","userId":"ana","rid":null}'],
  ['client.select', 'select', '{"type":"select","planetId":"kepler-22b","userId":"ana"}'],
  ['client.select', 'select without userId', '{"type":"select","planetId":"kepler-22b"}'],
  ['client.unselect', 'unselect', '{"type":"unselect","planetId":"p","userId":"ana","rid":-3}'],
  ['client.join_viewer', 'join_viewer', '{"type":"join_viewer","planetId":"p","userId":"ana"}'],
  ['client.leave_viewer', 'leave_viewer', '{"type":"leave_viewer","planetId":"p","userId":"ana"}'],
  ['client.camera', 'a full camera', `{"type":"camera","planetId":"p","userId":"ana","camera":${fullCam}}`],
  [
    'client.camera',
    'a 2-item vec',
    '{"type":"camera","planetId":"p","userId":"ana","camera":{"position":[0,2]}}',
  ],
  [
    'client.camera',
    'a 4-item vec',
    '{"type":"camera","planetId":"p","userId":"ana","camera":{"position":[0,2,1,4]}}',
  ],
  [
    'client.camera',
    'a string coord',
    '{"type":"camera","planetId":"p","userId":"ana","camera":{"position":[0,"2",1]}}',
  ],
  [
    'client.camera',
    'fov 180',
    '{"type":"camera","planetId":"p","userId":"ana","camera":{"position":[0,2,1],"fov":180}}',
  ],
  [
    'client.camera',
    'zoom 0',
    '{"type":"camera","planetId":"p","userId":"ana","camera":{"position":[0,2,1],"zoom":0}}',
  ],
  [
    'client.camera',
    'no position',
    '{"type":"camera","planetId":"p","userId":"ana","camera":{"target":[0,2,1]}}',
  ],
  ['client.heartbeat', 'heartbeat', '{"type":"heartbeat","userId":"ana","ts":1764089700123.5}'],
  ['client.heartbeat', 'heartbeat without ts', '{"type":"heartbeat","userId":"ana"}'],
  [
    'server.presence',
    'presence',
    '{"type":"presence","users":[{"userId":"ana","name":"Ana","color":"#3fa","joinedAt":1,"lastSeen":2,"connected":true}],"seq":4}',
  ],
  [
    'server.presence',
    'an upper-case color sent by the server',
    '{"type":"presence","users":[{"userId":"ana","color":"#3FA","joinedAt":1,"lastSeen":2,"connected":true}],"seq":4}',
  ],
  [
    'server.presence',
    'no connected',
    '{"type":"presence","users":[{"userId":"ana","joinedAt":1,"lastSeen":2}],"seq":4}',
  ],
  ['server.presence', 'a negative seq', '{"type":"presence","users":[],"seq":-1}'],
  [
    'server.selection_state',
    'selected',
    '{"type":"selection_state","selected":{"p1":["ana"],"__proto__":["ben"]},"seq":0}',
  ],
  [
    'server.selection_state',
    'a bad planet key',
    '{"type":"selection_state","selected":{"a b":["ana"]},"seq":0}',
  ],
  ['server.selection_state', 'a bad user id', '{"type":"selection_state","selected":{"p":["a b"]},"seq":0}'],
  [
    'server.selection_state',
    'a string, not a list',
    '{"type":"selection_state","selected":{"p":"ana"},"seq":0}',
  ],
  ['server.selection_state', 'an array, not a record', '{"type":"selection_state","selected":[],"seq":0}'],
  [
    'server.viewer_cameras',
    'cameras',
    `{"type":"viewer_cameras","planetId":"p","cameras":{"ben":${cam},"constructor":${fullCam}},"seq":3}`,
  ],
  [
    'server.viewer_cameras',
    'a bad camera',
    '{"type":"viewer_cameras","planetId":"p","cameras":{"ben":{"position":[1]}},"seq":3}',
  ],
  [
    'server.viewer_cameras',
    'an empty key',
    `{"type":"viewer_cameras","planetId":"p","cameras":{"":${cam}},"seq":3}`,
  ],
  ['server.camera_relay', 'relay', `{"type":"camera","planetId":"p","userId":"ben","camera":${cam}}`],
  [
    'server.camera_relay',
    'relay with rid',
    `{"type":"camera","planetId":"p","userId":"ben","camera":${cam},"rid":1}`,
  ],
  [
    'server.conflict',
    'conflict',
    '{"type":"conflict","planetId":"p","lockedBy":"ana","reason":"locked","expiresAt":1764090000000,"rid":"b7"}',
  ],
  [
    'server.conflict',
    'a reason',
    '{"type":"conflict","planetId":"p","lockedBy":"ana","reason":"busy","expiresAt":1}',
  ],
  [
    'server.ack',
    'a join ack',
    '{"type":"ack","op":"join","ok":true,"rid":1,"resumeToken":"kq3","viewing":[],"lock":{"planetId":"p","expiresAt":2,"fence":3}}',
  ],
  [
    'server.ack',
    'a heartbeat ack',
    '{"type":"ack","op":"heartbeat","ok":true,"ts":1,"serverTs":2,"expiresAt":3}',
  ],
  ['server.ack', 'an unknown op', '{"type":"ack","op":"dance","ok":true}'],
  ['server.ack', 'ok false', '{"type":"ack","op":"select","ok":false}'],
  ['server.ack', 'a fractional fence', '{"type":"ack","op":"select","ok":true,"fence":1.5}'],
  [
    'server.error',
    'error',
    '{"type":"error","ok":false,"code":"RATE_LIMITED","message":"slow","retryAfterMs":120}',
  ],
  ['server.error', 'an unknown code', '{"type":"error","ok":false,"code":"TEAPOT","message":"x"}'],
  [
    'server.error',
    'a negative wait',
    '{"type":"error","ok":false,"code":"INTERNAL","message":"x","retryAfterMs":-1}',
  ],
];

describe('the JSON Schema of each message', () => {
  it.each(SAMPLES)('%s agrees with valibot on %s', (key, _what, text) => {
    const spec = specs.get(key)!;
    const value: unknown = JSON.parse(text);
    const validate = validators.get(key)!;
    expect(validate(value)).toBe(valibotVerdict(spec.schema, spec.direction, value));
  });

  it('has a sample that passes for every message, and many that fail', () => {
    for (const key of specs.keys()) {
      const outcomes = SAMPLES.filter(([k]) => k === key).map(([, , text]) =>
        validators.get(key)!(JSON.parse(text)),
      );
      expect(outcomes, key).toContain(true);
    }
    const failing = new Set(SAMPLES.filter(([k, , t]) => !validators.get(k)!(JSON.parse(t))).map(([k]) => k));
    expect(failing.size).toBeGreaterThanOrEqual(12);
  });
});

describe('the JSON Schema of any message', () => {
  const anyClient = compile(ClientMessageSchema, 'client');
  const anyServer = compile(ServerMessageSchema, 'server');

  it.each(SAMPLES)('%s: the union agrees with valibot on %s', (key, _what, text) => {
    const value: unknown = JSON.parse(text);
    if (key.startsWith('client.'))
      expect(anyClient(value)).toBe(valibotVerdict(ClientMessageSchema, 'client', value));
    else expect(anyServer(value)).toBe(valibotVerdict(ServerMessageSchema, 'server', value));
  });

  it('refuses a client frame of an unknown type', () => {
    expect(anyClient({ type: 'dance', userId: 'ana' })).toBe(false);
  });
});
