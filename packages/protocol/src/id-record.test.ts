import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { CameraStateSchema } from './camera.js';
import { idRecord } from './id-record.js';
import { formatPath } from './issue-path.js';

const Cameras = idRecord(CameraStateSchema);

describe('id-keyed records', () => {
  it('keeps every valid id as a key, prototype names included, in a prototype-free object', () => {
    const input = JSON.parse(
      '{"__proto__":{"position":[1,2,3]},"constructor":{"position":[0,0,0]},"u1":{"position":[4,5,6]}}',
    );
    const output = v.parse(Cameras, input);
    expect(Object.keys(output)).toEqual(['__proto__', 'constructor', 'u1']);
    expect(Object.getPrototypeOf(output)).toBeNull();
    expect(output.u1).toEqual({ position: [4, 5, 6] });
    expect(output.toString).toBeUndefined();
  });

  it('accepts an empty record', () => {
    expect(Object.keys(v.parse(Cameras, {}))).toEqual([]);
  });

  it.each([
    ['an array', []],
    ['null', null],
    ['a string', 'u1'],
  ])('rejects %s', (_, input) => {
    expect(v.safeParse(Cameras, input).success).toBe(false);
  });

  it('rejects a key that is not an id and names it', () => {
    const result = v.safeParse(Cameras, { 'not an id': { position: [0, 0, 0] } });
    expect(result.success).toBe(false);
    expect(formatPath(result.issues?.[0]?.path ?? [])).toBe('["not an id"]');
  });

  it('reports a bad value at its full path', () => {
    const result = v.safeParse(Cameras, { u1: { position: [0, 0, 0] }, u2: { position: [0, 'x', 0] } });
    expect(result.success).toBe(false);
    expect(formatPath(result.issues?.[0]?.path ?? [])).toBe('u2.position[1]');
    expect(result.issues?.[0]?.message).toBe('expected a finite number');
  });

  it('shares no object with its input', () => {
    const input = { u1: { position: [1, 2, 3] } };
    const output = v.parse(Cameras, input);
    expect(output.u1).not.toBe(input.u1);
  });
});
