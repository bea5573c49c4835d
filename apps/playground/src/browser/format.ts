// Pure helpers of the page: time left as m:ss, and the camera panel's mapping between the canvas
// (pixels, y down) and the scene's ground plane (x right, z down the screen, ±EXTENT units).

export const EXTENT = 10;

export function formatTimeLeft(ms: number): string {
  const seconds = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

/** A canvas point (0..size) to ground coordinates, rounded to 0.1 so both windows print the same. */
export function toWorld(px: number, py: number, size: number): { x: number; z: number } {
  const round = (n: number) => Math.round(Math.max(-EXTENT, Math.min(EXTENT, n)) * 10) / 10;
  return { x: round((px / size) * 2 * EXTENT - EXTENT), z: round((py / size) * 2 * EXTENT - EXTENT) };
}

export function toCanvas(x: number, z: number, size: number): { px: number; py: number } {
  return { px: ((x + EXTENT) / (2 * EXTENT)) * size, py: ((z + EXTENT) / (2 * EXTENT)) * size };
}

export function formatPosition(x: number, z: number): string {
  return `x ${x.toFixed(1)}, z ${z.toFixed(1)}`;
}
