import { describe, expect, it } from 'vitest';
import { formatPosition, formatTimeLeft, toCanvas, toWorld } from './format.js';

describe('format helpers', () => {
  it('prints time left as m:ss, rounding up and never below zero', () => {
    expect(formatTimeLeft(300_000)).toBe('5:00');
    expect(formatTimeLeft(61_001)).toBe('1:02');
    expect(formatTimeLeft(-5)).toBe('0:00');
  });

  it('maps the canvas to the ground plane and back, clamped to the map and rounded to 0.1', () => {
    expect(toWorld(270, 90, 360)).toEqual({ x: 5, z: -5 });
    expect(toWorld(-50, 400, 360)).toEqual({ x: -10, z: 10 });
    expect(toWorld(181, 180, 360)).toEqual({ x: 0.1, z: 0 });
    expect(toCanvas(5, -5, 360)).toEqual({ px: 270, py: 90 });
    expect(formatPosition(-5, 0.25)).toBe('x -5.0, z 0.3');
  });
});
