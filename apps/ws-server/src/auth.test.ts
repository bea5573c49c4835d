import type { IncomingMessage } from 'node:http';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, startServer } from '../test/kit.js';
import { jwtAuthenticator, tokenOf } from './auth.js';

const SECRET = 'a-test-secret-of-reasonable-length-0123456789';
const nowS = () => Math.floor(Date.now() / 1000);

function hs256(claims: Record<string, unknown>, secret = SECRET) {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));
}

const request = (url: string, protocols?: string) =>
  ({
    url,
    headers: protocols === undefined ? {} : { 'sec-websocket-protocol': protocols },
  }) as IncomingMessage;

describe('tokenOf', () => {
  it('reads the token from ?token= first, then from an exo.auth.<token> subprotocol', () => {
    expect(tokenOf(request('/?token=abc'))).toBe('abc');
    expect(tokenOf(request('/', 'exo.v1, exo.auth.xyz.123'))).toBe('xyz.123');
    expect(tokenOf(request('/?other=1', 'exo.v1'))).toBeNull();
    expect(tokenOf(request('/', 'exo.auth.'))).toBeNull();
  });
});

describe('JWT authentication on the upgrade', () => {
  const servers: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  async function server(settings: Parameters<typeof jwtAuthenticator>[0]) {
    const s = await startServer({ authenticate: jwtAuthenticator(settings) });
    servers.push(s);
    return s;
  }
  const refused = (url: string, protocols?: string[]) =>
    connect(url, protocols).then(
      () => 'accepted',
      (err: Error) => err.message,
    );

  it('refuses a missing, forged, expired, wrong-audience or wrong-issuer token with 401', async () => {
    const s = await server({ secret: SECRET, audience: 'exo', issuer: 'archive' });
    const good = { sub: 'alice', aud: 'exo', iss: 'archive', exp: nowS() + 60 };
    expect(await refused(s.url)).toBe('HTTP 401');
    expect(await refused(`${s.url}?token=not-a-jwt`)).toBe('HTTP 401');
    expect(await refused(`${s.url}?token=${await hs256(good, 'another-secret-entirely-0123456789')}`)).toBe(
      'HTTP 401',
    );
    expect(await refused(`${s.url}?token=${await hs256({ ...good, exp: nowS() - 10 })}`)).toBe('HTTP 401');
    expect(await refused(`${s.url}?token=${await hs256({ ...good, aud: 'other' })}`)).toBe('HTTP 401');
    expect(await refused(`${s.url}?token=${await hs256({ ...good, iss: 'elsewhere' })}`)).toBe('HTTP 401');
    expect(await refused(`${s.url}?token=${await hs256({ aud: 'exo', iss: 'archive' })}`)).toBe('HTTP 401');
    expect(await refused(`${s.url}?token=${await hs256(good)}`)).toBe('accepted');
  });

  it('refuses an unsigned token and a token signed with the public key as an HMAC secret', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const pem = await exportSPKI(publicKey);
    const s = await server({ publicKey: pem });
    const claims = { sub: 'alice', exp: nowS() + 60 };
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;
    expect(await refused(`${s.url}?token=${unsigned}`)).toBe('HTTP 401');
    expect(await refused(`${s.url}?token=${await hs256(claims, pem)}`)).toBe('HTTP 401');
    const rs = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).sign(privateKey);
    expect(await refused(`${s.url}?token=${rs}`)).toBe('accepted');
  });

  it.each(['ES256', 'EdDSA'] as const)('verifies %s tokens with AUTH_JWT_PUBLIC_KEY', async (alg) => {
    const { publicKey, privateKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
    const s = await server({ publicKey: await exportSPKI(publicKey) });
    const token = await new SignJWT({ sub: 'alice', exp: nowS() + 60 })
      .setProtectedHeader({ alg })
      .sign(privateKey);
    expect(await refused(`${s.url}?token=${token}`)).toBe('accepted');
  });

  it('accepts the token as an exo.auth subprotocol, selecting exo.v1 and never echoing the token', async () => {
    const s = await server({ secret: SECRET });
    const token = await hs256({ sub: 'alice', exp: nowS() + 60 });
    const client = await connect(s.url, [`exo.auth.${token}`, 'exo.v1']);
    expect(client.ws.protocol).toBe('exo.v1');
  });

  it('lets the token’s subject join as itself and answers FORBIDDEN for anyone else', async () => {
    const s = await server({ secret: SECRET });
    const client = await connect(`${s.url}?token=${await hs256({ sub: 'alice', exp: nowS() + 60 })}`);
    client.send({ type: 'join', roomId: 'r', user: { userId: 'bob' }, rid: 1 });
    expect(await client.next('error')).toMatchObject({ code: 'FORBIDDEN', op: 'join', rid: 1 });
    client.send({ type: 'join', roomId: 'r', user: { userId: 'alice' }, rid: 2 });
    await client.next('presence');
    await client.next('selection_state');
    expect(await client.next('ack')).toMatchObject({ op: 'join', rid: 2 });
  });

  it('lets a second connection with a token for the same user take it over without a resume token', async () => {
    const s = await server({ secret: SECRET });
    const url = `${s.url}?token=${await hs256({ sub: 'alice', exp: nowS() + 60 })}`;
    const first = await connect(url);
    first.send({ type: 'join', roomId: 'r', user: { userId: 'alice' } });
    await first.until('ack');
    const second = await connect(url);
    second.send({ type: 'join', roomId: 'r', user: { userId: 'alice' } });
    expect(await first.next('error')).toMatchObject({ code: 'SESSION_REPLACED' });
    expect((await first.closed()).code).toBe(4001);
    expect((await second.until('ack')).at(-1)).toMatchObject({ op: 'join', ok: true });
  });

  it('closes the connection with 4401 when the token expires', async () => {
    const s = await server({ secret: SECRET });
    const client = await connect(`${s.url}?token=${await hs256({ sub: 'alice', exp: nowS() + 1 })}`);
    client.send({ type: 'join', roomId: 'r', user: { userId: 'alice' } });
    await client.until('ack');
    expect((await client.closed()).code).toBe(4401);
  });
});
