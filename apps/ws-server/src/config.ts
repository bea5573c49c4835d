// The daemon's configuration, read from the environment (CONTRACT §9): every variable the
// contract names, with its default. A bad value is refused with a message naming the variable and
// what it accepts; the daemon then exits with code 1. Parsing is valibot, one schema per variable.

import type { CoreConfig, SelectionMode } from '@exo/room-core';
import * as v from 'valibot';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ServerConfig {
  readonly host: string;
  readonly wsPort: number;
  readonly healthPort: number;
  readonly maxMessageBytes: number;
  readonly wsCompression: boolean;
  readonly pingIntervalMs: number;
  readonly sendSoftLimitBytes: number;
  readonly sendHardLimitBytes: number;
  readonly allowedOrigins: readonly string[] | null;
  readonly maxConnections: number;
  readonly maxConnectionsPerIp: number;
  readonly trustProxy: number;
  readonly logLevel: LogLevel;
  readonly redisUrl: string | null;
  readonly authJwtSecret: string | null;
  readonly authJwtPublicKey: string | null;
  readonly authJwtIssuer: string | null;
  readonly authJwtAudience: string | null;
  /** The Bearer token of GET /rooms and /rooms/:id; null: those endpoints answer 404. */
  readonly adminToken: string | null;
  readonly core: CoreConfig;
}

export class EnvError extends Error {
  override readonly name = 'EnvError';
}

const MAX_INT = Number.MAX_SAFE_INTEGER;

function int(name: string, fallback: number, min: number, max = MAX_INT) {
  const accepts = `${name} accepts a whole number from ${min} to ${max === MAX_INT ? 'any size' : max}`;
  return v.pipe(
    v.optional(v.string(), String(fallback)),
    v.trim(),
    v.regex(/^\d+$/, accepts),
    v.transform(Number),
    v.safeInteger(accepts),
    v.minValue(min, accepts),
    v.maxValue(max, accepts),
  );
}

function oneOf<const T extends readonly string[]>(name: string, options: T, fallback: T[number]) {
  return v.pipe(
    v.optional(v.string(), fallback),
    v.trim(),
    v.toLowerCase(),
    v.picklist(options, `${name} accepts one of: ${options.join(', ')}`),
  );
}

function text(name: string) {
  return v.pipe(
    v.optional(v.string(), ''),
    v.trim(),
    v.transform((s) => (s === '' ? null : s)),
    v.check((s) => s === null || s.length <= 65536, `${name} accepts a string of at most 65536 characters`),
  );
}

const origins = v.pipe(
  v.optional(v.string(), ''),
  v.trim(),
  v.transform((s) => (s === '' ? null : s.split(',').map((o) => o.trim()))),
  v.check(
    (list) => list === null || list.every(isOrigin),
    'ALLOWED_ORIGINS accepts a comma-separated list of origins such as https://app.example.com:8443 (scheme, host and optional port, nothing else)',
  ),
);

function isOrigin(origin: string): boolean {
  if (!URL.canParse(origin)) return false;
  const url = new URL(origin);
  return url.origin === origin && (url.protocol === 'http:' || url.protocol === 'https:');
}

// Visible ASCII only: it travels in an HTTP header; 16 characters at the least, as it guards data.
const ADMIN_TOKEN = 'ADMIN_TOKEN accepts 16 to 1024 visible ASCII characters (no spaces)';
const adminToken = v.pipe(
  v.optional(v.string(), ''),
  v.trim(),
  v.transform((s) => (s === '' ? null : s)),
  v.check((s) => s === null || /^[\x21-\x7e]{16,1024}$/.test(s), ADMIN_TOKEN),
);

const redisUrl = v.pipe(
  text('REDIS_URL'),
  v.check(
    (s) => s === null || (URL.canParse(s) && ['redis:', 'rediss:'].includes(new URL(s).protocol)),
    'REDIS_URL accepts a redis:// or rediss:// URL',
  ),
);

const EnvSchema = v.object({
  HOST: v.pipe(
    v.optional(v.string(), '0.0.0.0'),
    v.trim(),
    v.regex(/^[A-Za-z0-9.:%-]{1,253}$/, 'HOST accepts a host name or an IPv4 or IPv6 address'),
  ),
  WS_PORT: int('WS_PORT', 8080, 0, 65535),
  HEALTH_PORT: int('HEALTH_PORT', 8081, 0, 65535),
  MAX_MESSAGE_BYTES: int('MAX_MESSAGE_BYTES', 16384, 64, 64 * 1024 * 1024),
  WS_COMPRESSION: oneOf('WS_COMPRESSION', ['0', '1'], '0'),
  PING_INTERVAL_MS: int('PING_INTERVAL_MS', 30000, 100),
  JOIN_TIMEOUT_MS: int('JOIN_TIMEOUT_MS', 10000, 1),
  MAX_ROOM_USERS: int('MAX_ROOM_USERS', 20, 1),
  MAX_ROOMS: int('MAX_ROOMS', 10000, 1),
  RECONNECT_GRACE_MS: int('RECONNECT_GRACE_MS', 0, 0),
  SELECTION_MODE: oneOf('SELECTION_MODE', ['exclusive', 'shared'], 'exclusive'),
  LOCK_TTL_MS: int('LOCK_TTL_MS', 300000, 1000),
  MAX_VIEWED_PLANETS: int('MAX_VIEWED_PLANETS', 4, 1),
  CAMERA_MIN_INTERVAL_MS: int('CAMERA_MIN_INTERVAL_MS', 50, 0),
  PRESENCE_TIMEOUT_MS: int('PRESENCE_TIMEOUT_MS', 90000, 1),
  RATE_LIMIT_WINDOW_MS: int('RATE_LIMIT_WINDOW_MS', 10000, 1),
  RATE_LIMIT_MAX: int('RATE_LIMIT_MAX', 60, 1),
  CAMERA_RATE_MAX: int('CAMERA_RATE_MAX', 30, 1),
  SEND_SOFT_LIMIT_BYTES: int('SEND_SOFT_LIMIT_BYTES', 1024 * 1024, 1),
  SEND_HARD_LIMIT_BYTES: int('SEND_HARD_LIMIT_BYTES', 8 * 1024 * 1024, 1),
  ALLOWED_ORIGINS: origins,
  MAX_CONNECTIONS: int('MAX_CONNECTIONS', 20000, 1),
  MAX_CONNECTIONS_PER_IP: int('MAX_CONNECTIONS_PER_IP', 50, 1),
  TRUST_PROXY: int('TRUST_PROXY', 0, 0, 100),
  LOG_LEVEL: oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
  REDIS_URL: redisUrl,
  AUTH_JWT_SECRET: v.pipe(
    text('AUTH_JWT_SECRET'),
    // HS256 wants a key of at least 256 bits (RFC 7518 §3.2); a short secret is guessable offline.
    v.check(
      (s) => s === null || Buffer.byteLength(s, 'utf8') >= 32,
      'AUTH_JWT_SECRET accepts a secret of at least 32 bytes (HS256 needs a 256-bit key)',
    ),
  ),
  AUTH_JWT_PUBLIC_KEY: text('AUTH_JWT_PUBLIC_KEY'),
  AUTH_JWT_ISSUER: text('AUTH_JWT_ISSUER'),
  AUTH_JWT_AUDIENCE: text('AUTH_JWT_AUDIENCE'),
  ADMIN_TOKEN: adminToken,
});

/** Variables whose values never appear in an error message or a log line. */
const SECRET_VARS: ReadonlySet<string> = new Set([
  'AUTH_JWT_SECRET',
  'AUTH_JWT_PUBLIC_KEY',
  'REDIS_URL',
  'ADMIN_TOKEN',
]);

/** Every environment variable the daemon reads. */
export const ENV_VARS: readonly string[] = Object.keys(EnvSchema.entries);

export function configFromEnv(env: Record<string, string | undefined>): ServerConfig {
  const picked: Record<string, string> = {};
  for (const name of ENV_VARS) {
    const value = env[name];
    // An empty value means unset, as `VAR=` in a compose file or a shell usually intends.
    if (value !== undefined && value.trim() !== '') picked[name] = value;
  }
  const result = v.safeParse(EnvSchema, picked);
  if (!result.success) {
    const issue = result.issues[0];
    const name = String(issue.path?.[0]?.key ?? 'environment');
    const shown = SECRET_VARS.has(name) ? '(value hidden)' : JSON.stringify(picked[name] ?? '');
    throw new EnvError(`${name}=${shown} is invalid: ${issue.message}`);
  }
  const e = result.output;
  if (e.SEND_HARD_LIMIT_BYTES < e.SEND_SOFT_LIMIT_BYTES) {
    throw new EnvError('SEND_HARD_LIMIT_BYTES accepts a number of bytes at least SEND_SOFT_LIMIT_BYTES');
  }
  if (e.AUTH_JWT_SECRET !== null && e.AUTH_JWT_PUBLIC_KEY !== null) {
    throw new EnvError('AUTH_JWT_SECRET and AUTH_JWT_PUBLIC_KEY are exclusive: set one of them');
  }
  return {
    host: e.HOST,
    wsPort: e.WS_PORT,
    healthPort: e.HEALTH_PORT,
    maxMessageBytes: e.MAX_MESSAGE_BYTES,
    wsCompression: e.WS_COMPRESSION === '1',
    pingIntervalMs: e.PING_INTERVAL_MS,
    sendSoftLimitBytes: e.SEND_SOFT_LIMIT_BYTES,
    sendHardLimitBytes: e.SEND_HARD_LIMIT_BYTES,
    allowedOrigins: e.ALLOWED_ORIGINS,
    maxConnections: e.MAX_CONNECTIONS,
    maxConnectionsPerIp: e.MAX_CONNECTIONS_PER_IP,
    trustProxy: e.TRUST_PROXY,
    logLevel: e.LOG_LEVEL,
    redisUrl: e.REDIS_URL,
    authJwtSecret: e.AUTH_JWT_SECRET,
    authJwtPublicKey: e.AUTH_JWT_PUBLIC_KEY,
    authJwtIssuer: e.AUTH_JWT_ISSUER,
    authJwtAudience: e.AUTH_JWT_AUDIENCE,
    adminToken: e.ADMIN_TOKEN,
    core: {
      maxRoomUsers: e.MAX_ROOM_USERS,
      maxRooms: e.MAX_ROOMS,
      selectionMode: e.SELECTION_MODE as SelectionMode,
      lockTtlMs: e.LOCK_TTL_MS,
      presenceTimeoutMs: e.PRESENCE_TIMEOUT_MS,
      reconnectGraceMs: e.RECONNECT_GRACE_MS,
      maxViewedPlanets: e.MAX_VIEWED_PLANETS,
      cameraMinIntervalMs: e.CAMERA_MIN_INTERVAL_MS,
      rateLimitWindowMs: e.RATE_LIMIT_WINDOW_MS,
      rateLimitMax: e.RATE_LIMIT_MAX,
      cameraRateMax: e.CAMERA_RATE_MAX,
      joinTimeoutMs: e.JOIN_TIMEOUT_MS,
    },
  };
}
