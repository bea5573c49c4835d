// Core configuration. Every limit and duration of CONTRACT.md that the domain needs, in
// milliseconds or counts, with the contract's defaults. The daemon maps environment variables
// onto these names; embedders pass a partial object.

export type SelectionMode = 'exclusive' | 'shared';

export interface CoreConfig {
  readonly maxRoomUsers: number;
  readonly maxRooms: number;
  readonly selectionMode: SelectionMode;
  readonly lockTtlMs: number;
  readonly presenceTimeoutMs: number;
  readonly reconnectGraceMs: number;
  readonly maxViewedPlanets: number;
  readonly cameraMinIntervalMs: number;
  readonly rateLimitWindowMs: number;
  readonly rateLimitMax: number;
  readonly cameraRateMax: number;
  readonly joinTimeoutMs: number;
}

export const DEFAULT_CONFIG: CoreConfig = Object.freeze({
  maxRoomUsers: 20,
  maxRooms: 10_000,
  selectionMode: 'exclusive',
  lockTtlMs: 300_000,
  presenceTimeoutMs: 90_000,
  reconnectGraceMs: 0,
  maxViewedPlanets: 4,
  cameraMinIntervalMs: 50,
  rateLimitWindowMs: 10_000,
  rateLimitMax: 60,
  cameraRateMax: 30,
  joinTimeoutMs: 10_000,
});

/** The smallest value each numeric setting accepts; all are whole numbers. */
export const CONFIG_MINIMUMS: { readonly [K in keyof CoreConfig]?: number } = Object.freeze({
  maxRoomUsers: 1,
  maxRooms: 1,
  lockTtlMs: 1000,
  presenceTimeoutMs: 1,
  reconnectGraceMs: 0,
  maxViewedPlanets: 1,
  cameraMinIntervalMs: 0,
  rateLimitWindowMs: 1,
  rateLimitMax: 1,
  cameraRateMax: 1,
  joinTimeoutMs: 1,
});

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Fills in defaults and refuses values outside the contract's ranges. */
export function resolveConfig(partial: Partial<CoreConfig> = {}): CoreConfig {
  const config: CoreConfig = { ...DEFAULT_CONFIG, ...partial };
  for (const [key, min] of Object.entries(CONFIG_MINIMUMS) as [keyof CoreConfig, number][]) {
    const value = config[key];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
      throw new ConfigError(`${key} must be a whole number ≥ ${min}, got ${String(value)}`);
    }
  }
  if (config.selectionMode !== 'exclusive' && config.selectionMode !== 'shared') {
    throw new ConfigError(
      `selectionMode must be 'exclusive' or 'shared', got ${String(config.selectionMode)}`,
    );
  }
  return Object.freeze(config);
}
