// The inspection endpoints' credential: `Authorization: Bearer <ADMIN_TOKEN>`. Rules: the token is
// compared in constant time (both sides hashed to SHA-256 first, so neither the length nor the
// first differing byte shows in the timing); the scheme is case-insensitive, as RFC 9110 says.

import { createHash, timingSafeEqual } from 'node:crypto';

const BEARER = /^Bearer +(\S+) *$/i;

export function bearerToken(authorization: string | undefined): string | null {
  return BEARER.exec(authorization ?? '')?.[1] ?? null;
}

export function tokenMatches(given: string | null, expected: string): boolean {
  if (given === null) return false;
  return timingSafeEqual(digest(given), digest(expected));
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
