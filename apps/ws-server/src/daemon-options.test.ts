import type { IncomingMessage } from 'node:http';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { configFromEnv } from './config.js';
import { authenticatorFor, serverOptions } from './daemon-options.js';
import { silentLogger } from './log.js';
import { noopObserver } from './observer.js';

/** Every variable set to a value other than its default. */
const ENV = {
  HOST: '127.0.0.2',
  WS_PORT: '9001',
  MAX_MESSAGE_BYTES: '2048',
  WS_COMPRESSION: '1',
  PING_INTERVAL_MS: '1234',
  JOIN_TIMEOUT_MS: '2345',
  MAX_ROOM_USERS: '7',
  MAX_ROOMS: '8',
  RECONNECT_GRACE_MS: '345',
  SELECTION_MODE: 'shared',
  LOCK_TTL_MS: '4567',
  MAX_VIEWED_PLANETS: '2',
  CAMERA_MIN_INTERVAL_MS: '33',
  PRESENCE_TIMEOUT_MS: '5678',
  RATE_LIMIT_WINDOW_MS: '6789',
  RATE_LIMIT_MAX: '11',
  CAMERA_RATE_MAX: '12',
  SEND_SOFT_LIMIT_BYTES: '1000',
  SEND_HARD_LIMIT_BYTES: '2000',
  ALLOWED_ORIGINS: 'https://a.example,https://b.example:8443',
  MAX_CONNECTIONS: '13',
  MAX_CONNECTIONS_PER_IP: '14',
  TRUST_PROXY: '2',
};

const wiring = { logger: silentLogger, observer: noopObserver, authenticate: null };
const nowS = () => Math.floor(Date.now() / 1000);
const request = (token: string) => ({ url: `/?token=${token}`, headers: {} }) as IncomingMessage;
const sign = (claims: Record<string, unknown>, secret: string) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));

describe('serverOptions', () => {
  it('hands every setting of the environment to the server', () => {
    expect(serverOptions(configFromEnv(ENV), wiring)).toEqual({
      core: {
        maxRoomUsers: 7,
        maxRooms: 8,
        selectionMode: 'shared',
        lockTtlMs: 4567,
        presenceTimeoutMs: 5678,
        reconnectGraceMs: 345,
        maxViewedPlanets: 2,
        cameraMinIntervalMs: 33,
        rateLimitWindowMs: 6789,
        rateLimitMax: 11,
        cameraRateMax: 12,
        joinTimeoutMs: 2345,
      },
      port: 9001,
      host: '127.0.0.2',
      maxMessageBytes: 2048,
      compression: true,
      pingIntervalMs: 1234,
      sendSoftLimitBytes: 1000,
      sendHardLimitBytes: 2000,
      allowedOrigins: ['https://a.example', 'https://b.example:8443'],
      maxConnections: 13,
      maxConnectionsPerIp: 14,
      trustProxy: 2,
      logger: silentLogger,
      observer: noopObserver,
    });
  });

  it('passes the authenticator when there is one', () => {
    const authenticate = async () => null;
    expect(serverOptions(configFromEnv({}), { ...wiring, authenticate }).authenticate).toBe(authenticate);
  });
});

describe('authenticatorFor', () => {
  it('is null when no JWT setting is present (auth off)', () => {
    expect(authenticatorFor(configFromEnv({}))).toBeNull();
  });

  it('verifies with the secret, issuer and audience of the environment', async () => {
    const secret = 'a-secret-of-at-least-thirty-two-bytes!';
    const auth = authenticatorFor(
      configFromEnv({ AUTH_JWT_SECRET: secret, AUTH_JWT_ISSUER: 'archive', AUTH_JWT_AUDIENCE: 'exo' }),
    )!;
    const good = { sub: 'ana', iss: 'archive', aud: 'exo', exp: nowS() + 60 };
    expect(await auth(request(await sign(good, secret)))).toEqual({
      userId: 'ana',
      expiresAt: good.exp * 1000,
    });
    expect(await auth(request(await sign({ ...good, aud: 'other' }, secret)))).toBeNull();
    expect(await auth(request(await sign({ ...good, iss: 'other' }, secret)))).toBeNull();
    expect(await auth(request(await sign(good, `${secret}x`)))).toBeNull();
  });

  it('uses the secret’s UTF-8 bytes as the HMAC key', async () => {
    const secret = 'ключ-к-экзопланетам-kepler-22b';
    const auth = authenticatorFor(configFromEnv({ AUTH_JWT_SECRET: secret }))!;
    const token = await sign({ sub: 'ana', exp: nowS() + 60 }, secret);
    expect(await auth(request(token))).toMatchObject({ userId: 'ana' });
  });

  it('refuses an unusable public key with a message naming the variable', () => {
    expect(() => authenticatorFor(configFromEnv({ AUTH_JWT_PUBLIC_KEY: 'not a pem' }))).toThrow(
      /^AUTH_JWT_PUBLIC_KEY is invalid: it accepts a PEM RSA, P-256 EC or Ed25519 public key/,
    );
  });
});
