// Forged, expired and wrong-algorithm tokens, on every way in: the HTTP API,
// the SSE stream and the WebSocket handshake (header and first-frame auth).
// test/api/auth.test.ts already covers these on HTTP for Herald's tokens
// (missing, malformed, forged secret, alg:none, tampered payload, expired);
// here the same tokens meet SSE and WebSocket too, plus algorithm confusion:
// HS512 with the right secret, an RS256 token of the attacker's own key, and
// the host's RSA public key used as an HMAC secret (RS256 → HS256 confusion).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Client, until } from '../gateway/harness.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { openSse, securityBackend, settleWs, wsUrl } from './support.ts';

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

/** What each way in answers for one token. */
async function attempt(t: TestHerald, token: string) {
  const http = await t.call({ method: 'GET', url: '/v1/inbox', headers: t.bearer(token) });
  const sse = await openSse(t, {}, t.bearer(token));
  sse.close();
  const ws = await settleWs(t, token);
  const wsClose = (await ws.waitClosed()).code;
  const viaFrame = await frameAuth(t, token);
  return {
    http: http.status,
    httpCode: (http.body as { error?: { code: string } }).error?.code,
    sse: sse.status,
    sseCode: sse.events[0]?.data?.error?.code,
    ws: wsClose,
    wsCode: ws.of('error')[0]?.code,
    frame: viaFrame,
  };
}

/** The first-frame auth path of browsers: no header, the token in an `auth` frame. */
async function frameAuth(t: TestHerald, token: string): Promise<number> {
  const c = new Client(new WebSocket(wsUrl(t)));
  await until(() => c.opened || c.closed, 'open');
  c.send({ type: 'auth', token });
  return (await c.waitClosed()).code;
}

const refusedEverywhere = (code: 'UNAUTHENTICATED' | 'TOKEN_EXPIRED') => ({
  http: 401,
  httpCode: code,
  sse: 401,
  sseCode: code,
  ws: code === 'TOKEN_EXPIRED' ? 4100 : 4101,
  wsCode: code,
  frame: code === 'TOKEN_EXPIRED' ? 4100 : 4101,
});

describe("Herald's own tokens", () => {
  let t: TestHerald;
  let tenant: string;
  let good: string;
  const secret = 'herald-signing-secret-for-the-token-suite-0123456789';
  beforeAll(async () => {
    t = await startTestHerald({
      backend: securityBackend(),
      listen: true,
      env: { HERALD_JWT_SECRET: secret },
    });
    tenant = (await t.createTenant()).tenant_id;
    good = (await t.mintUser(tenant, 'u')).access_token;
  });
  afterAll(async () => t?.close());

  const claims = () => ({ tid: tenant, tenants: [tenant] });
  const signed = (alg: string, key: Uint8Array | CryptoKey, exp: string | number = '10m') =>
    new SignJWT(claims())
      .setProtectedHeader({ alg })
      .setSubject('u')
      .setIssuer('herald')
      .setAudience('herald')
      .setExpirationTime(exp)
      .sign(key);

  it('a genuine token passes every way in (the baseline the attacks are measured against)', async () => {
    expect((await t.call({ method: 'GET', url: '/v1/inbox', headers: t.bearer(good) })).status).toBe(200);
    const ws = await settleWs(t, good);
    expect(ws.of('welcome')).toHaveLength(1);
    ws.close();
  });

  it('alg:none is refused everywhere', async () => {
    const [, payload] = good.split('.');
    expect(await attempt(t, `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`)).toEqual(
      refusedEverywhere('UNAUTHENTICATED'),
    );
  });

  it('HS512 with the right secret is refused (the algorithm is pinned to HS256)', async () => {
    const token = await signed('HS512', new TextEncoder().encode(secret));
    expect(await attempt(t, token)).toEqual(refusedEverywhere('UNAUTHENTICATED'));
  });

  it("an RS256 token of the attacker's own key is refused", async () => {
    const { privateKey } = await generateKeyPair('RS256');
    expect(await attempt(t, await signed('RS256', privateKey))).toEqual(refusedEverywhere('UNAUTHENTICATED'));
  });

  it('a token signed with another secret is refused', async () => {
    const token = await signed(
      'HS256',
      new TextEncoder().encode('another-secret-that-is-long-enough-0123456789'),
    );
    expect(await attempt(t, token)).toEqual(refusedEverywhere('UNAUTHENTICATED'));
  });

  it('a tampered payload (another user, another tenant list) is refused', async () => {
    const [h, p, s] = good.split('.');
    const body = JSON.parse(Buffer.from(p, 'base64url').toString());
    expect(await attempt(t, `${h}.${b64({ ...body, sub: 'admin' })}.${s}`)).toEqual(
      refusedEverywhere('UNAUTHENTICATED'),
    );
  });

  it('an expired token is refused with TOKEN_EXPIRED (the client refreshes)', async () => {
    const token = await signed('HS256', new TextEncoder().encode(secret), Math.floor(Date.now() / 1000) - 60);
    expect(await attempt(t, token)).toEqual(refusedEverywhere('TOKEN_EXPIRED'));
  });

  it('a token without exp, or of another issuer or audience, is refused', async () => {
    const key = new TextEncoder().encode(secret);
    const noExp = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('u')
      .setIssuer('herald')
      .setAudience('herald')
      .sign(key);
    const otherAudience = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('u')
      .setIssuer('herald')
      .setAudience('someone-else')
      .setExpirationTime('10m')
      .sign(key);
    for (const token of [noExp, otherAudience]) {
      const res = await t.call({ method: 'GET', url: '/v1/inbox', headers: t.bearer(token) });
      expect(res.status).toBe(401);
    }
  });
});

describe("the host's JWKS tokens (RS256)", () => {
  let t: TestHerald;
  let jwks: Server;
  let tenant: string;
  let publicPem: string;
  let sign: (alg: string, key: Uint8Array | CryptoKey) => Promise<string>;
  let good: string;
  let hostKey: CryptoKey;

  beforeAll(async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
    hostKey = privateKey;
    publicPem = await exportSPKI(publicKey);
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    jwks = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    const port = (jwks.address() as AddressInfo).port;
    t = await startTestHerald({
      backend: securityBackend(),
      listen: true,
      env: { HERALD_HOST_JWKS_URL: `http://127.0.0.1:${port}/jwks.json` },
    });
    tenant = (await t.createTenant()).tenant_id;
    sign = (alg, key) =>
      new SignJWT({ tenant_id: tenant })
        .setProtectedHeader({ alg, kid: 'k1' })
        .setSubject('host-user')
        .setExpirationTime('10m')
        .sign(key);
    good = await sign('RS256', privateKey);
  });
  afterAll(async () => {
    await t?.close();
    jwks?.close();
  });

  it('a genuine host token passes every way in', async () => {
    expect((await t.call({ method: 'GET', url: '/v1/inbox', headers: t.bearer(good) })).status).toBe(200);
    const ws = await settleWs(t, good);
    expect(ws.of('welcome')).toHaveLength(1);
    ws.close();
  });

  it("HS256 signed with the host's public key (key confusion) is refused", async () => {
    const token = await sign('HS256', new TextEncoder().encode(publicPem));
    expect(await attempt(t, token)).toEqual(refusedEverywhere('UNAUTHENTICATED'));
  });

  it('alg:none with host claims is refused', async () => {
    const [, payload] = good.split('.');
    expect(await attempt(t, `${b64({ alg: 'none', kid: 'k1' })}.${payload}.`)).toEqual(
      refusedEverywhere('UNAUTHENTICATED'),
    );
  });

  it("an RS256 token of the attacker's own key under the host's kid is refused", async () => {
    const { privateKey } = await generateKeyPair('RS256');
    expect(await attempt(t, await sign('RS256', privateKey))).toEqual(refusedEverywhere('UNAUTHENTICATED'));
  });

  it('a genuine host token whose sub or tenant is not a storable id is refused, never a 500', async () => {
    const signed = (sub: string, tenantId: string) =>
      new SignJWT({ tenant_id: tenantId })
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setSubject(sub)
        .setExpirationTime('10m')
        .sign(hostKey);
    for (const [sub, tenantId] of [
      ['a\u0000b', tenant],
      ['lone\ud800', tenant],
      ['two words', tenant],
      ['x'.repeat(129), tenant],
      ['', tenant],
      ['host-user', `${tenant}\u0000`],
    ]) {
      const res = await t.call({
        method: 'GET',
        url: '/v1/inbox',
        headers: t.bearer(await signed(sub, tenantId)),
      });
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
    }
  });
});
