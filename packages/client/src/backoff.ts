// Reconnect back-off. Rules: the wait before attempt n (0 for the first) is
// min(maxMs, max(floorMs, initialMs) × factor^n), of which half is fixed and half random ("equal
// jitter"), in whole milliseconds: clients dropped together by a server restart spread out, and no
// attempt comes at once.
// `floorMs` raises the start for closes that ask a client to back off (flooding 1008, slow reader 1013).

export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = Object.freeze({ initialMs: 500, maxMs: 30_000, factor: 2 });

export function reconnectDelay(
  attempt: number,
  floorMs: number,
  options: BackoffOptions,
  random: () => number,
): number {
  const start = Math.max(floorMs, options.initialMs);
  const ceiling = Math.min(options.maxMs, start * options.factor ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
