// How the daemon's configuration becomes createExoServer options: one pure mapping, so a test can
// prove every environment variable reaches the server (main.ts only reads the environment and
// wires real adapters). A JWT setting that cannot be used is an error here, not a crash later.

import { jwtAuthenticator } from './auth.js';
import type { ServerConfig } from './config.js';
import type { Logger } from './log.js';
import type { HubObserver } from './observer.js';
import type { ExoServerOptions } from './server.js';

export type Authenticator = NonNullable<ExoServerOptions['authenticate']>;

/** The JWT authenticator the configuration asks for, null when auth is off; throws on an unusable key. */
export function authenticatorFor(config: ServerConfig): Authenticator | null {
  if (config.authJwtSecret === null && config.authJwtPublicKey === null) return null;
  try {
    return jwtAuthenticator({
      secret: config.authJwtSecret,
      publicKey: config.authJwtPublicKey,
      issuer: config.authJwtIssuer,
      audience: config.authJwtAudience,
    });
  } catch (err) {
    throw new Error(
      `AUTH_JWT_PUBLIC_KEY is invalid: it accepts a PEM RSA, P-256 EC or Ed25519 public key (${String(err)})`,
    );
  }
}

export interface DaemonWiring {
  readonly logger: Logger;
  readonly observer: HubObserver;
  readonly authenticate: Authenticator | null;
}

export function serverOptions(config: ServerConfig, wiring: DaemonWiring): ExoServerOptions {
  return {
    core: config.core,
    port: config.wsPort,
    host: config.host,
    maxMessageBytes: config.maxMessageBytes,
    compression: config.wsCompression,
    pingIntervalMs: config.pingIntervalMs,
    sendSoftLimitBytes: config.sendSoftLimitBytes,
    sendHardLimitBytes: config.sendHardLimitBytes,
    allowedOrigins: config.allowedOrigins,
    maxConnections: config.maxConnections,
    maxConnectionsPerIp: config.maxConnectionsPerIp,
    trustProxy: config.trustProxy,
    ...(wiring.authenticate === null ? {} : { authenticate: wiring.authenticate }),
    logger: wiring.logger,
    observer: wiring.observer,
  };
}
