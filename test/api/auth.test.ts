// Auth and tenancy: tenants and API keys, the token exchange, refresh with
// rotation and reuse detection, switching tenants, rejected tokens, host
// JWTs, the shared signing secret, and the zero-setup demo tenant.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenPair } from '../../src/auth/service.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { type Backend, backends } from '../support/stores.ts';

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe.each(backends())('auth and tenancy (%s)', (backend: Backend) => {
  let t: TestHerald;
  beforeAll(async () => {
    t = await startTestHerald({ backend });
  });
  afterAll(async () => t?.close());

  const inbox = (token: string | undefined) =>
    t.call({
      method: 'GET',
      url: '/v1/inbox',
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });

  it('creates tenants only for the operator, and stores API keys hashed', async () => {
    const none = await t.call({ method: 'POST', url: '/v1/tenants', payload: {} });
    expect(none).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHENTICATED' } } });
    const wrong = await t.call({
      method: 'POST',
      url: '/v1/tenants',
      headers: t.bearer('nope'),
      payload: {},
    });
    expect(wrong.status).toBe(401);
    const res = await t.call<{ tenant_id: string; api_key: string }>({
      method: 'POST',
      url: '/v1/tenants',
      headers: t.bearer(t.adminToken),
      payload: { tenant_id: `acme-${backend}` },
    });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ tenant_id: `acme-${backend}`, api_key: expect.stringMatching(/^hk_/) });
    const { rows } = await t.db.query<{ key_hash: string }>(
      'SELECT key_hash FROM api_keys WHERE tenant_id = $1',
      [res.body.tenant_id],
    );
    expect(rows).toEqual([{ key_hash: createHash('sha256').update(res.body.api_key).digest('hex') }]);
    const again = await t.call({
      method: 'POST',
      url: '/v1/tenants',
      headers: t.bearer(t.adminToken),
      payload: { tenant_id: `acme-${backend}` },
    });
    expect(again).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
  });

  it('exchanges an API key for a user token pair, upserting the user', async () => {
    const { tenant_id, api_key } = await t.createTenant();
    const bad = await t.call({
      method: 'POST',
      url: '/v1/tokens',
      headers: t.bearer('hk_forged'),
      payload: { user_id: 'u1' },
    });
    expect(bad).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHENTICATED' } } });
    const res = await t.call<TokenPair>({
      method: 'POST',
      url: '/v1/tokens',
      headers: t.bearer(api_key),
      payload: { user_id: 'u1', display_name: 'User One' },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      access_token: expect.any(String),
      refresh_token: expect.stringMatching(/^hr_/),
      expires_in: 900,
      tenant_id,
      user_id: 'u1',
    });
    const { rows } = await t.db.query('SELECT display_name FROM users WHERE tenant_id = $1 AND id = $2', [
      tenant_id,
      'u1',
    ]);
    expect(rows).toEqual([{ display_name: 'User One' }]);
    expect((await inbox(res.body.access_token)).status).toBe(200);
  });

  it('rejects missing, malformed, forged, expired and alg:none tokens', async () => {
    const { tenant_id } = await t.createTenant();
    const ok = await t.mintUser(tenant_id, 'u');
    expect((await inbox(undefined)).body).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
    expect((await inbox('not-a-jwt')).status).toBe(401);

    const forged = await new SignJWT({ tid: tenant_id, tenants: [tenant_id] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('u')
      .setIssuer('herald')
      .setAudience('herald')
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode('a-different-secret-that-is-long-enough!!'));
    expect((await inbox(forged)).body).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });

    const [, payload] = ok.access_token.split('.');
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`;
    expect((await inbox(none)).body).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
    // A valid signature over a tampered payload fails too.
    const [h, , s] = ok.access_token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const tampered = `${h}.${b64({ ...claims, sub: 'someone-else' })}.${s}`;
    expect((await inbox(tampered)).status).toBe(401);

    const expired = await t.herald.auth.tokens.mint({ tenant_id, user_id: 'u', tenants: [tenant_id] }, -60);
    const res = await inbox(expired.token);
    expect(res).toMatchObject({ status: 401, body: { error: { code: 'TOKEN_EXPIRED' } } });
  });

  it("keeps tenant A's token away from tenant B's conversations", async () => {
    const a = await t.createTenant();
    const b = await t.createTenant();
    const mallory = await t.mintUser(a.tenant_id, 'mallory');
    const bob = await t.mintUser(b.tenant_id, 'bob');
    await t.mintUser(b.tenant_id, 'carol');
    const conv = await t.call<{ conversation: { id: string } }>({
      method: 'POST',
      url: '/v1/conversations',
      headers: t.bearer(bob),
      payload: { kind: 'group', title: 'secret', members: ['carol'] },
    });
    const id = conv.body.conversation.id;
    for (const [method, url, payload] of [
      ['GET', `/v1/conversations/${id}/messages`, undefined],
      ['GET', `/v1/conversations/${id}/events`, undefined],
      ['GET', `/v1/conversations/${id}/members`, undefined],
      ['POST', `/v1/conversations/${id}/messages`, { body: 'hi' }],
      ['POST', `/v1/conversations/${id}/read`, { seq: 1 }],
      ['POST', `/v1/conversations/${id}/members`, { user_ids: ['mallory'] }],
      ['PATCH', `/v1/inbox/${id}`, { archived: true }],
    ] as const) {
      const res = await t.call({ method, url, headers: t.bearer(mallory), payload });
      expect(res.status, `${method} ${url}`).toBe(404);
      expect(res.body).toMatchObject({ error: { code: 'CONVERSATION_NOT_FOUND' } });
    }
  });

  const refresh = (token: string) =>
    t.call<TokenPair>({ method: 'POST', url: '/v1/tokens/refresh', payload: { refresh_token: token } });
  const switchTo = (who: TokenPair | string, tenant: string) =>
    t.call<TokenPair>({
      method: 'POST',
      url: '/v1/tokens/switch',
      headers: t.bearer(who),
      payload: { tenant_id: tenant },
    });

  it("never lets acme's alice act as globex's alice, nor names globex in her token", async () => {
    const acme = await t.createTenant();
    const globex = await t.createTenant();
    const alice = await t.mintUser(acme.tenant_id, 'alice');
    // A different person who happens to have the same id at another customer.
    const other = await t.mintUser(globex.tenant_id, 'alice');
    expect(alice.tenants).toEqual([acme.tenant_id]);
    expect(other.tenants).toEqual([globex.tenant_id]);
    expect((await t.herald.auth.authenticate(alice.access_token)).tenants).toEqual([acme.tenant_id]);

    const res = await switchTo(alice, globex.tenant_id);
    expect(res).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    // A forged claim is no way round it either: the signature covers `tenants`.
    const [h, p, sig] = alice.access_token.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    const forged = `${h}.${b64({ ...claims, tenants: [acme.tenant_id, globex.tenant_id] })}.${sig}`;
    expect((await switchTo(forged, globex.tenant_id)).status).toBe(401);
    // The refused switch ended nothing: alice's session still refreshes, still in acme only.
    const again = await refresh(alice.refresh_token);
    expect(again.body).toMatchObject({ tenant_id: acme.tenant_id, tenants: [acme.tenant_id] });
  });

  it('switches only to operator-granted tenants; refresh keeps active tenant and grants', async () => {
    const a = await t.createTenant();
    const b = await t.createTenant();
    const c = await t.createTenant();
    await t.mintUser(a.tenant_id, 'dana');
    const grant = (method: 'POST' | 'DELETE', headers = t.bearer(t.adminToken)) =>
      t.call<{ tenants: string[] }>({
        method,
        url: '/v1/grants',
        headers,
        payload: { tenant_id: a.tenant_id, user_id: 'dana', granted_tenant: b.tenant_id },
      });
    const notOperator = await grant('POST', t.bearer(await t.mintUser(a.tenant_id, 'dana')));
    expect(notOperator.status).toBe(401);
    const granted = await grant('POST');
    expect(granted).toMatchObject({ status: 200, body: { tenants: [a.tenant_id, b.tenant_id] } });

    const first = await t.mintUser(a.tenant_id, 'dana');
    expect(first.tenants).toEqual([a.tenant_id, b.tenant_id]);
    const switched = await switchTo(first, b.tenant_id);
    expect(switched.status).toBe(200);
    expect(switched.body).toMatchObject({
      tenant_id: b.tenant_id,
      user_id: 'dana',
      tenants: [b.tenant_id, a.tenant_id],
    });
    // Acting in b: the user now exists there, and calls are scoped to b.
    expect((await inbox(switched.body.access_token)).status).toBe(200);
    const denied = await switchTo(switched.body, c.tenant_id);
    expect(denied).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });

    const r1 = await refresh(switched.body.refresh_token);
    expect(r1.status).toBe(200);
    expect(r1.body).toMatchObject({ tenant_id: b.tenant_id, tenants: [b.tenant_id, a.tenant_id] });
    const verified = await t.herald.auth.authenticate(r1.body.access_token);
    expect(verified).toMatchObject({ tenant_id: b.tenant_id, user_id: 'dana' });
    // Back to a is allowed too: it is in the grant list the refresh kept.
    const back = await switchTo(r1.body, a.tenant_id);
    expect(back.body).toMatchObject({ tenant_id: a.tenant_id, tenants: [a.tenant_id, b.tenant_id] });
    // The pre-switch session was ended by the switch.
    expect((await refresh(first.refresh_token)).status).toBe(401);

    // Withdrawing the grant ends the sessions holding it.
    expect((await grant('DELETE')).body).toEqual({ revoked: true });
    expect((await refresh(back.body.refresh_token)).status).toBe(401);
    expect((await t.mintUser(a.tenant_id, 'dana')).tenants).toEqual([a.tenant_id]);
  });

  it('rotates refresh tokens, keeping user and active tenant; reuse revokes the family', async () => {
    const a = await t.createTenant();
    const first = await t.mintUser(a.tenant_id, 'dana');
    const r1 = await refresh(first.refresh_token);
    expect(r1.status).toBe(200);
    expect(r1.body).toMatchObject({ tenant_id: a.tenant_id, user_id: 'dana', tenants: [a.tenant_id] });
    const r2 = await refresh(r1.body.refresh_token);
    expect(r2.body.tenant_id).toBe(a.tenant_id);

    // r1's token was consumed: presenting it again revokes the family, r2's token included.
    const reused = await refresh(r1.body.refresh_token);
    expect(reused).toMatchObject({ status: 401, body: { error: { code: 'REFRESH_REUSED' } } });
    const after = await refresh(r2.body.refresh_token);
    expect(after).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHENTICATED' } } });
    expect((await refresh('hr_unknown')).status).toBe(401);
  });

  it('rate-limits each API key with 429 and Retry-After, writing nothing', async () => {
    const limited = await startTestHerald({
      db: t.db,
      env: { HERALD_API_KEY_RATE_MAX: '2', HERALD_API_KEY_RATE_WINDOW_SEC: '3600' },
    });
    try {
      const { tenant_id, api_key } = await limited.createTenant();
      const call = (user: string) =>
        limited.call({
          method: 'POST',
          url: '/v1/tokens',
          headers: limited.bearer(api_key),
          payload: { user_id: user },
        });
      expect((await call('x1')).status).toBe(200);
      expect((await call('x2')).status).toBe(200);
      const res = await call('x3');
      expect(res).toMatchObject({ status: 429, body: { error: { code: 'RATE_LIMITED' } } });
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      const { rows } = await t.db.query('SELECT id FROM users WHERE tenant_id = $1 ORDER BY id', [tenant_id]);
      expect(rows.map((r) => r.id)).toEqual(['x1', 'x2']);
    } finally {
      await limited.close();
    }
  });

  it("verifies the host application's own JWTs when configured", async () => {
    const secret = 'host-application-shared-secret-0123456789';
    const host = await startTestHerald({ db: t.db, env: { HERALD_HOST_JWT_SECRET: secret } });
    try {
      const { tenant_id } = await host.createTenant();
      const key = new TextEncoder().encode(secret);
      const token = await new SignJWT({ tenant_id })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('host-user')
        .setExpirationTime('5m')
        .sign(key);
      const res = await host.call({ method: 'GET', url: '/v1/inbox', headers: host.bearer(token) });
      expect(res.status).toBe(200);
      const { rows } = await t.db.query('SELECT id FROM users WHERE tenant_id = $1', [tenant_id]);
      expect(rows).toEqual([{ id: 'host-user' }]);
      const unknownTenant = await new SignJWT({ tenant_id: 'no-such-tenant' })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('x')
        .setExpirationTime('5m')
        .sign(key);
      expect(
        (await host.call({ method: 'GET', url: '/v1/inbox', headers: host.bearer(unknownTenant) })).status,
      ).toBe(401);
      // The host is the identity authority of the tenants its token names: a switch may go
      // to those, and to no other.
      const other = await host.createTenant();
      const third = await host.createTenant();
      const multi = await new SignJWT({ tenant_id, tenants: [tenant_id, other.tenant_id] })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('host-user')
        .setExpirationTime('5m')
        .sign(key);
      const sw = (tenant: string) =>
        host.call<TokenPair>({
          method: 'POST',
          url: '/v1/tokens/switch',
          headers: host.bearer(multi),
          payload: { tenant_id: tenant },
        });
      expect((await sw(third.tenant_id)).status).toBe(403);
      const moved = await sw(other.tenant_id);
      expect(moved.body).toMatchObject({
        tenant_id: other.tenant_id,
        user_id: 'host-user',
        // Herald cannot re-check the host's `tenants` later: the new session is pinned to its home.
        tenants: [other.tenant_id],
      });
      // Herald's own tokens still work alongside.
      const own = await host.mintUser(tenant_id, 'own');
      expect((await host.call({ method: 'GET', url: '/v1/inbox', headers: host.bearer(own) })).status).toBe(
        200,
      );
    } finally {
      await host.close();
    }
  });

  it("verifies the host's asymmetric JWTs from a JWKS URL", async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const host = await startTestHerald({
      db: t.db,
      env: {
        HERALD_HOST_JWKS_URL: `http://127.0.0.1:${port}/jwks.json`,
        HERALD_HOST_JWT_ISSUER: 'https://host.example',
        HERALD_HOST_JWT_TENANT_CLAIM: 'org',
      },
    });
    try {
      const { tenant_id } = await host.createTenant();
      const sign = (claims: Record<string, unknown>, iss = 'https://host.example') =>
        new SignJWT(claims)
          .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
          .setSubject('jwks-user')
          .setIssuer(iss)
          .setExpirationTime('5m')
          .sign(privateKey);
      const ok = await host.call({
        method: 'GET',
        url: '/v1/inbox',
        headers: host.bearer(await sign({ org: tenant_id })),
      });
      expect(ok.status).toBe(200);
      const wrongIssuer = await sign({ org: tenant_id }, 'https://evil.example');
      expect(
        (await host.call({ method: 'GET', url: '/v1/inbox', headers: host.bearer(wrongIssuer) })).status,
      ).toBe(401);
      const noTenant = await sign({});
      expect(
        (await host.call({ method: 'GET', url: '/v1/inbox', headers: host.bearer(noTenant) })).status,
      ).toBe(401);
    } finally {
      await host.close();
      server.close();
    }
  });

  it('generates one signing secret in the store that every node shares', async () => {
    const n1 = await startTestHerald({ db: t.db, env: { HERALD_JWT_SECRET: '' } });
    const n2 = await startTestHerald({ db: t.db, env: { HERALD_JWT_SECRET: '' } });
    try {
      const { tenant_id } = await n1.createTenant();
      const pair = await n1.mintUser(tenant_id, 'shared');
      expect((await n2.call({ method: 'GET', url: '/v1/inbox', headers: n2.bearer(pair) })).status).toBe(200);
      // A node with its own configured secret does not accept them.
      expect((await t.call({ method: 'GET', url: '/v1/inbox', headers: t.bearer(pair) })).status).toBe(401);
    } finally {
      await n1.close();
      await n2.close();
    }
  });

  it('creates the demo tenant once and serves dev tokens only when enabled', async () => {
    expect(
      (await t.call({ method: 'POST', url: '/v1/dev/tokens', payload: { user_id: 'alice' } })).status,
    ).toBe(404);
    const env = { HERALD_DEMO: 'true', HERALD_DEV_TOKENS: 'true' };
    const first = await startTestHerald({ db: t.db, env });
    const second = await startTestHerald({ db: t.db, env });
    try {
      expect(first.herald.demo?.apiKey).toMatch(/^hk_/);
      expect(second.herald.demo).toBeNull();
      const res = await second.call<TokenPair>({
        method: 'POST',
        url: '/v1/dev/tokens',
        payload: { user_id: 'alice' },
      });
      expect(res.status).toBe(200);
      expect(res.body.tenant_id).toBe('demo');
      const list = await second.call<{ entries: { title: string; kind: string }[] }>({
        method: 'GET',
        url: '/v1/inbox',
        headers: second.bearer(res.body),
      });
      expect(list.body.entries).toEqual([expect.objectContaining({ title: 'Demo', kind: 'group' })]);
      const viaKey = await second.call({
        method: 'POST',
        url: '/v1/tokens',
        headers: second.bearer(first.herald.demo?.apiKey ?? ''),
        payload: { user_id: 'bob' },
      });
      expect(viaKey.status).toBe(200);
    } finally {
      await first.close();
      await second.close();
    }
  });
});
