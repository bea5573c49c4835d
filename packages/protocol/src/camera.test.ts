import { describe, expect, it } from 'vitest';
import { expectRejectedAt, type Json, parseOk, variantOf } from '../test/fixtures.js';

const withCamera = (camera: Record<string, Json>) => variantOf('camera', { camera: camera });

describe('camera state', () => {
  it('needs only a position', () => {
    expect(parseOk(withCamera({ position: [0, -1.5, 2e10] }))).toEqual({
      type: 'camera',
      planetId: 'kepler-22b',
      userId: 'u1',
      camera: { position: [0, -1.5, 2e10] },
    });
  });

  it('rejects a missing position', () => {
    const error = expectRejectedAt(withCamera({ fov: 60 }), 'camera.position');
    expect(error.message).toBe('camera.position: required key is missing');
  });

  it('names the offending tuple item', () => {
    const error = expectRejectedAt(withCamera({ position: [0, 'x', 0] }), 'camera.position[1]');
    expect(error.message).toBe('camera.position[1]: expected a finite number');
  });

  it.each([
    ['a short position', { position: [0, 0] }, 'camera.position[2]'],
    ['a long position', { position: [0, 0, 0, 0] }, 'camera.position[3]'],
    ['a short target', { position: [0, 0, 0], target: [0, 0] }, 'camera.target[2]'],
    ['a long up', { position: [0, 0, 0], up: [0, 0, 0, 0] }, 'camera.up[3]'],
    ['a 3-item quaternion', { position: [0, 0, 0], quaternion: [0, 0, 1] }, 'camera.quaternion[3]'],
    ['a 5-item quaternion', { position: [0, 0, 0], quaternion: [0, 0, 0, 1, 0] }, 'camera.quaternion[4]'],
    ['an object as position', { position: { x: 0, y: 0, z: 0 } }, 'camera.position'],
  ])('rejects %s', (_, camera, path) => {
    expectRejectedAt(withCamera(camera), path);
  });

  it.each([
    ['fov 0', { fov: 0 }, 'camera.fov'],
    ['fov 180', { fov: 180 }, 'camera.fov'],
    ['a negative fov', { fov: -10 }, 'camera.fov'],
    ['zoom 0', { zoom: 0 }, 'camera.zoom'],
    ['a negative zoom', { zoom: -1 }, 'camera.zoom'],
    ['a string fov', { fov: '60' }, 'camera.fov'],
  ])('rejects %s', (_, extra, path) => {
    expectRejectedAt(withCamera({ position: [0, 0, 0], ...extra }), path);
  });

  it('accepts fov just inside (0, 180) and any positive zoom', () => {
    const camera = { position: [0, 0, 0], fov: 179.999, zoom: 1e-9 };
    expect(parseOk(withCamera(camera))).toMatchObject({ camera });
    expect(parseOk(withCamera({ position: [0, 0, 0], fov: 0.001 }))).toMatchObject({
      camera: { fov: 0.001 },
    });
  });
});
