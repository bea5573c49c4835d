// Resume tokens are secrets: compare them in time that does not depend on where they first differ,
// so a client cannot learn a token byte by byte from answer times. Pure JavaScript: the core uses
// no Node APIs. Lengths may differ in time (tokens have a fixed length; the length is no secret).

export function sameToken(given: string, expected: string): boolean {
  if (given.length !== expected.length) return false;
  let diff = 0;
  for (let i = 0; i < given.length; i++) diff |= given.charCodeAt(i) ^ expected.charCodeAt(i);
  return diff === 0;
}
