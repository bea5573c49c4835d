// configFromEnv (CONTRACT §9): the contract's defaults for every variable, each variable mapped onto
// its setting, and every bad value refused with an EnvError naming the variable and what it accepts.
// The tables are checked against ENV_VARS, so a variable added without a row here fails the suite.

import { describe, expect, it } from 'vitest';
import { configFromEnv, ENV_VARS, EnvError, type ServerConfig } from './config.js';

const CONTRACT_DEFAULTS: ServerConfig = {
  host: '0.0.0.0',
  wsPort: 8080,
  healthPort: 8081,
  maxMessageBytes: 16384,
  wsCompression: false,
  pingIntervalMs: 30000,
  sendSoftLimitBytes: 1024 * 1024,
  sendHardLimitBytes: 8 * 1024 * 1024,
  allowedOrigins: null,
  maxConnections: 20000,
  maxConnectionsPerIp: 50,
  trustProxy: 0,
  logLevel: 'info',
  redisUrl: null,
  authJwtSecret: null,
  authJwtPublicKey: null,
  authJwtIssuer: null,
  authJwtAudience: null,
  adminToken: null,
  core: {
    maxRoomUsers: 20,
    maxRooms: 10000,
    selectionMode: 'exclusive',
    lockTtlMs: 300000,
    presenceTimeoutMs: 90000,
    reconnectGraceMs: 0,
    maxViewedPlanets: 4,
    cameraMinIntervalMs: 50,
    rateLimitWindowMs: 10000,
    rateLimitMax: 60,
    cameraRateMax: 30,
    joinTimeoutMs: 10000,
  },
};

/** Whole-number variables: [min, max or null for unbounded, a valid value and the setting it lands in]. */
const INTEGERS: Record<string, [number, number | null, string, object]> = {
  WS_PORT: [0, 65535, '9000', { wsPort: 9000 }],
  HEALTH_PORT: [0, 65535, '9001', { healthPort: 9001 }],
  MAX_MESSAGE_BYTES: [64, 64 * 1024 * 1024, '65536', { maxMessageBytes: 65536 }],
  PING_INTERVAL_MS: [100, null, '15000', { pingIntervalMs: 15000 }],
  JOIN_TIMEOUT_MS: [1, null, '5000', { core: { joinTimeoutMs: 5000 } }],
  MAX_ROOM_USERS: [1, null, '8', { core: { maxRoomUsers: 8 } }],
  MAX_ROOMS: [1, null, '100', { core: { maxRooms: 100 } }],
  RECONNECT_GRACE_MS: [0, null, '3000', { core: { reconnectGraceMs: 3000 } }],
  LOCK_TTL_MS: [1000, null, '1000', { core: { lockTtlMs: 1000 } }],
  MAX_VIEWED_PLANETS: [1, null, '2', { core: { maxViewedPlanets: 2 } }],
  CAMERA_MIN_INTERVAL_MS: [0, null, '0', { core: { cameraMinIntervalMs: 0 } }],
  PRESENCE_TIMEOUT_MS: [1, null, '60000', { core: { presenceTimeoutMs: 60000 } }],
  RATE_LIMIT_WINDOW_MS: [1, null, '1000', { core: { rateLimitWindowMs: 1000 } }],
  RATE_LIMIT_MAX: [1, null, '10', { core: { rateLimitMax: 10 } }],
  CAMERA_RATE_MAX: [1, null, '15', { core: { cameraRateMax: 15 } }],
  SEND_SOFT_LIMIT_BYTES: [1, null, '4096', { sendSoftLimitBytes: 4096 }],
  SEND_HARD_LIMIT_BYTES: [1, null, '16777216', { sendHardLimitBytes: 16777216 }],
  MAX_CONNECTIONS: [1, null, '500', { maxConnections: 500 }],
  MAX_CONNECTIONS_PER_IP: [1, null, '5', { maxConnectionsPerIp: 5 }],
  TRUST_PROXY: [0, 100, '2', { trustProxy: 2 }],
};

const TOO_LONG = 'k'.repeat(65537);
/** Variables whose values an error message must not repeat. */
const SECRETS = ['AUTH_JWT_SECRET', 'AUTH_JWT_PUBLIC_KEY', 'REDIS_URL', 'ADMIN_TOKEN'];

/** Every other variable: a valid value, the setting it lands in, bad values and what the variable accepts. */
const OTHERS: Record<string, [string, object, string[], string]> = {
  HOST: [
    '127.0.0.1',
    { host: '127.0.0.1' },
    ['bad host', 'a/b'],
    'HOST accepts a host name or an IPv4 or IPv6 address',
  ],
  WS_COMPRESSION: ['1', { wsCompression: true }, ['yes', 'true', '2'], 'WS_COMPRESSION accepts one of: 0, 1'],
  SELECTION_MODE: [
    'shared',
    { core: { selectionMode: 'shared' } },
    ['both', 'exclusive-ish'],
    'SELECTION_MODE accepts one of: exclusive, shared',
  ],
  LOG_LEVEL: [
    'debug',
    { logLevel: 'debug' },
    ['verbose'],
    'LOG_LEVEL accepts one of: fatal, error, warn, info, debug, trace, silent',
  ],
  ALLOWED_ORIGINS: [
    'https://app.example.com',
    { allowedOrigins: ['https://app.example.com'] },
    ['app.example.com'],
    'ALLOWED_ORIGINS accepts a comma-separated list of origins such as https://app.example.com:8443 (scheme, host and optional port, nothing else)',
  ],
  REDIS_URL: [
    'redis://cache:6379/0',
    { redisUrl: 'redis://cache:6379/0' },
    ['http://cache:6379', 'cache:6379'],
    'REDIS_URL accepts a redis:// or rediss:// URL',
  ],
  AUTH_JWT_SECRET: [
    'a-secret-of-at-least-thirty-two-bytes',
    { authJwtSecret: 'a-secret-of-at-least-thirty-two-bytes' },
    [TOO_LONG],
    'AUTH_JWT_SECRET accepts a string of at most 65536 characters',
  ],
  AUTH_JWT_PUBLIC_KEY: [
    '-----BEGIN PUBLIC KEY-----',
    { authJwtPublicKey: '-----BEGIN PUBLIC KEY-----' },
    [TOO_LONG],
    'AUTH_JWT_PUBLIC_KEY accepts a string of at most 65536 characters',
  ],
  AUTH_JWT_ISSUER: [
    'https://id.example.com',
    { authJwtIssuer: 'https://id.example.com' },
    [TOO_LONG],
    'AUTH_JWT_ISSUER accepts a string of at most 65536 characters',
  ],
  AUTH_JWT_AUDIENCE: [
    'exo',
    { authJwtAudience: 'exo' },
    [TOO_LONG],
    'AUTH_JWT_AUDIENCE accepts a string of at most 65536 characters',
  ],
  ADMIN_TOKEN: [
    'op-token-0123456789',
    { adminToken: 'op-token-0123456789' },
    ['short-token', 'has a space inside it', 'x'.repeat(1025), 'caf\u00e9-0123456789abcdef'],
    'ADMIN_TOKEN accepts 16 to 1024 visible ASCII characters (no spaces)',
  ],
};

function integerBadValues(min: number, max: number | null): string[] {
  const values = ['abc', '1.5', '-1', '1e3', '9007199254740992'];
  if (min > 0) values.push(String(min - 1));
  if (max !== null) values.push(String(max + 1));
  return values;
}

const BAD_VALUES: [string, string, string][] = [
  ...Object.entries(INTEGERS).flatMap(([name, [min, max]]) =>
    integerBadValues(min, max).map((value): [string, string, string] => [
      name,
      value,
      `${name} accepts a whole number from ${min} to ${max ?? 'any size'}`,
    ]),
  ),
  ...Object.entries(OTHERS).flatMap(([name, [, , bad, accepts]]) =>
    bad.map((value): [string, string, string] => [name, value, accepts]),
  ),
];

const GOOD_VALUES: [string, string, object][] = [
  ...Object.entries(INTEGERS).map(([name, [, , value, expected]]): [string, string, object] => [
    name,
    value,
    expected,
  ]),
  ...Object.entries(OTHERS).map(([name, [value, expected]]): [string, string, object] => [
    name,
    value,
    expected,
  ]),
];

/** A test title's rendering of a value: the oversized ones by their length. */
function label(value: string): string {
  return value.length > 40 ? `<${value.length} characters>` : JSON.stringify(value);
}

/** The EnvError configFromEnv throws for `env`, or a failure if it does not throw one. */
function refusal(env: Record<string, string>): EnvError {
  try {
    configFromEnv(env);
  } catch (err) {
    if (err instanceof EnvError) return err;
    throw err;
  }
  throw new Error(`configFromEnv accepted ${JSON.stringify(env).slice(0, 200)}`);
}

describe('configFromEnv defaults', () => {
  it('reads every variable the contract names, and no other', () => {
    expect([...ENV_VARS].sort()).toEqual([...Object.keys(INTEGERS), ...Object.keys(OTHERS)].sort());
    expect(ENV_VARS).toHaveLength(31);
  });

  it("gives every variable the contract's default when the environment is empty", () => {
    expect(configFromEnv({})).toEqual(CONTRACT_DEFAULTS);
  });

  it('ignores variables it does not read and variables that are undefined', () => {
    expect(configFromEnv({ PATH: '/usr/bin', WS_PORT: undefined, NODE_ENV: 'production' })).toEqual(
      CONTRACT_DEFAULTS,
    );
  });
});

describe('configFromEnv values', () => {
  it.each(GOOD_VALUES)('maps %s=%j onto its setting', (name, value, expected) => {
    expect(configFromEnv({ [name]: value })).toMatchObject(expected);
  });

  it('trims whitespace around a number', () => {
    expect(configFromEnv({ MAX_ROOM_USERS: ' 7 ' }).core.maxRoomUsers).toBe(7);
  });

  it.each(BAD_VALUES.map(([name, value, accepts]) => [name, label(value), value, accepts]))(
    'refuses %s=%s, naming the variable and what it accepts',
    (name, _, value, accepts) => {
      const shown = SECRETS.includes(name) ? '(value hidden)' : JSON.stringify(value);
      expect(refusal({ [name]: value }).message).toBe(`${name}=${shown} is invalid: ${accepts}`);
    },
  );
});

describe('LOCK_TTL_MS', () => {
  it('refuses a TTL below 1000 ms and accepts 1000', () => {
    expect(refusal({ LOCK_TTL_MS: '999' }).message).toBe(
      'LOCK_TTL_MS="999" is invalid: LOCK_TTL_MS accepts a whole number from 1000 to any size',
    );
    expect(configFromEnv({ LOCK_TTL_MS: '1000' }).core.lockTtlMs).toBe(1000);
  });
});

describe('SELECTION_MODE', () => {
  it.each([
    ['exclusive', 'exclusive'],
    ['shared', 'shared'],
    ['SHARED', 'shared'],
    [' Exclusive ', 'exclusive'],
  ])('reads %j as %s', (value, mode) => {
    expect(configFromEnv({ SELECTION_MODE: value }).core.selectionMode).toBe(mode);
  });
});

describe('ALLOWED_ORIGINS', () => {
  it.each([
    ['https://app.example.com', ['https://app.example.com']],
    [
      ' https://app.example.com , http://localhost:5173 ',
      ['https://app.example.com', 'http://localhost:5173'],
    ],
    ['https://app.example.com:8443,http://[::1]:3000', ['https://app.example.com:8443', 'http://[::1]:3000']],
  ])('reads %j as %j', (value, origins) => {
    expect(configFromEnv({ ALLOWED_ORIGINS: value }).allowedOrigins).toEqual(origins);
  });

  it('reads an empty or blank value as unset: any origin', () => {
    expect(configFromEnv({ ALLOWED_ORIGINS: '' }).allowedOrigins).toBeNull();
    expect(configFromEnv({ ALLOWED_ORIGINS: '  ' }).allowedOrigins).toBeNull();
  });

  // A browser's Origin is exactly scheme://host[:port], lower case, default port omitted: an entry
  // spelled otherwise could never match, so it is refused at start-up rather than silently ignored.
  it.each([
    'https://app.example.com/',
    'https://app.example.com/app',
    'https://app.example.com:443',
    'https://App.Example.com',
    'ftp://files.example.com',
    '*',
    'https://app.example.com,example.org',
  ])('refuses %j', (value) => {
    expect(refusal({ ALLOWED_ORIGINS: value }).message).toMatch(
      /^ALLOWED_ORIGINS=.* is invalid: ALLOWED_ORIGINS accepts a comma-separated list of origins/,
    );
  });
});

describe('settings checked against each other', () => {
  it('refuses SEND_HARD_LIMIT_BYTES below SEND_SOFT_LIMIT_BYTES and accepts them equal', () => {
    const message = 'SEND_HARD_LIMIT_BYTES accepts a number of bytes at least SEND_SOFT_LIMIT_BYTES';
    expect(refusal({ SEND_SOFT_LIMIT_BYTES: '2000', SEND_HARD_LIMIT_BYTES: '1999' }).message).toBe(message);
    expect(configFromEnv({ SEND_SOFT_LIMIT_BYTES: '2000', SEND_HARD_LIMIT_BYTES: '2000' })).toMatchObject({
      sendSoftLimitBytes: 2000,
      sendHardLimitBytes: 2000,
    });
  });

  it('refuses a soft limit above the default hard limit when the hard limit is not raised', () => {
    expect(refusal({ SEND_SOFT_LIMIT_BYTES: String(16 * 1024 * 1024) }).message).toBe(
      'SEND_HARD_LIMIT_BYTES accepts a number of bytes at least SEND_SOFT_LIMIT_BYTES',
    );
  });

  it('refuses a JWT secret and a JWT public key together', () => {
    expect(refusal({ AUTH_JWT_SECRET: 'x'.repeat(32), AUTH_JWT_PUBLIC_KEY: 'k' }).message).toBe(
      'AUTH_JWT_SECRET and AUTH_JWT_PUBLIC_KEY are exclusive: set one of them',
    );
  });
});

describe('configFromEnv keeps secrets out of its messages', () => {
  it('hides the value of a bad REDIS_URL, which may carry a password', () => {
    expect(() => configFromEnv({ REDIS_URL: 'http://user:hunter2@host' })).toThrow(
      'REDIS_URL=(value hidden) is invalid: REDIS_URL accepts a redis:// or rediss:// URL',
    );
  });

  it('treats an empty or blank value as unset, as a compose file’s VAR= intends', () => {
    const config = configFromEnv({ WS_COMPRESSION: '', MAX_ROOM_USERS: '  ', AUTH_JWT_SECRET: '' });
    expect(config.wsCompression).toBe(false);
    expect(config.core.maxRoomUsers).toBe(20);
    expect(config.authJwtSecret).toBeNull();
  });
});

describe('AUTH_JWT_SECRET', () => {
  it('refuses a secret shorter than 32 bytes, which HS256 cannot make safe', () => {
    expect(() => configFromEnv({ AUTH_JWT_SECRET: 'x'.repeat(31) })).toThrow(
      'AUTH_JWT_SECRET=(value hidden) is invalid: AUTH_JWT_SECRET accepts a secret of at least 32 bytes (HS256 needs a 256-bit key)',
    );
    expect(configFromEnv({ AUTH_JWT_SECRET: 'x'.repeat(32) }).authJwtSecret).toBe('x'.repeat(32));
  });
});
