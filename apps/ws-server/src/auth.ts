// JWT authentication for the daemon (CONTRACT §8). The token comes as `?token=` or as the
// subprotocol `exo.auth.<token>`. AUTH_JWT_SECRET (its UTF-8 bytes) verifies HS256; AUTH_JWT_PUBLIC_KEY
// (PEM) verifies RS256, ES256 or EdDSA, the algorithm fixed by the key's type so a token cannot choose
// it. Optional issuer and audience are checked. A missing, malformed, badly signed, wrong-audience or
// expired token, or one without a string `sub`, is refused (401 on the upgrade). The subject becomes the
// only user the connection may join as; the token's `exp` closes the connection with 4401.

import { createPublicKey, type KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { type JWSAlgorithm, jwtVerify } from 'jose';
import type { Authenticated } from './server.js';

export interface JwtSettings {
  readonly secret?: string | null;
  readonly publicKey?: string | null;
  readonly issuer?: string | null;
  readonly audience?: string | null;
}

export const AUTH_SUBPROTOCOL_PREFIX = 'exo.auth.';

export function jwtAuthenticator(
  settings: JwtSettings,
): (req: IncomingMessage) => Promise<Authenticated | null> {
  const { key, algorithm } = verificationKey(settings);
  const options = {
    algorithms: [algorithm],
    ...(settings.issuer ? { issuer: settings.issuer } : {}),
    ...(settings.audience ? { audience: settings.audience } : {}),
  };
  return async (req) => {
    const token = tokenOf(req);
    if (token === null) return null;
    try {
      const { payload } = await jwtVerify(token, key, options);
      if (typeof payload.sub !== 'string' || payload.sub === '') return null;
      return typeof payload.exp === 'number'
        ? { userId: payload.sub, expiresAt: payload.exp * 1000 }
        : { userId: payload.sub };
    } catch {
      return null;
    }
  };
}

function verificationKey(settings: JwtSettings): { key: KeyObject | Uint8Array; algorithm: JWSAlgorithm } {
  if (settings.secret) return { key: new TextEncoder().encode(settings.secret), algorithm: 'HS256' };
  if (!settings.publicKey) throw new Error('JWT authentication needs a secret or a public key');
  const key = createPublicKey(settings.publicKey);
  const type = key.asymmetricKeyType;
  if (type === 'rsa') return { key, algorithm: 'RS256' };
  if (type === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1')
    return { key, algorithm: 'ES256' };
  if (type === 'ed25519') return { key, algorithm: 'EdDSA' };
  throw new Error(`AUTH_JWT_PUBLIC_KEY must be an RSA, P-256 EC or Ed25519 public key, got ${type}`);
}

/** The token from `?token=`, else from an `exo.auth.<token>` subprotocol entry; null when absent. */
export function tokenOf(req: IncomingMessage): string | null {
  const query = new URL(req.url ?? '/', 'http://placeholder').searchParams.get('token');
  if (query) return query;
  const header = req.headers['sec-websocket-protocol'];
  if (header === undefined) return null;
  for (const entry of header.split(',')) {
    const protocol = entry.trim();
    if (protocol.startsWith(AUTH_SUBPROTOCOL_PREFIX) && protocol.length > AUTH_SUBPROTOCOL_PREFIX.length) {
      return protocol.slice(AUTH_SUBPROTOCOL_PREFIX.length);
    }
  }
  return null;
}
