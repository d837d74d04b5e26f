// Sessions are checked server-side on every switch and refresh (issue 9,
// defect 2): a withdrawn grant, a family revoked by reuse detection or by a
// switch, and a tenant that does not exist are refused however the caller
// comes back — HTTP and the WebSocket handshake alike.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenPair } from '../../src/auth/service.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { openWs, securityBackend } from './support.ts';

describe('sessions are checked on every switch and refresh', () => {
  let t: TestHerald;
  beforeAll(async () => {
    t = await startTestHerald({ backend: securityBackend(), listen: true });
  });
  afterAll(async () => t?.close());

  const refresh = (token: string) =>
    t.call<TokenPair>({ method: 'POST', url: '/v1/tokens/refresh', payload: { refresh_token: token } });
  const switchTo = (who: TokenPair | string, tenant: string) =>
    t.call<TokenPair>({
      method: 'POST',
      url: '/v1/tokens/switch',
      headers: t.bearer(who),
      payload: { tenant_id: tenant },
    });
  const grant = (method: 'POST' | 'DELETE', tenant: string, user: string, granted: string) =>
    t.call<{ tenants?: string[]; revoked?: boolean }>({
      method,
      url: '/v1/grants',
      headers: t.bearer(t.adminToken),
      payload: { tenant_id: tenant, user_id: user, granted_tenant: granted },
    });

  it('refuses a switch into a tenant whose grant was withdrawn, with a token minted before', async () => {
    const a = await t.createTenant();
    const b = await t.createTenant();
    await t.mintUser(a.tenant_id, 'erin');
    expect((await grant('POST', a.tenant_id, 'erin', b.tenant_id)).status).toBe(200);
    const pair = await t.mintUser(a.tenant_id, 'erin');
    expect(pair.tenants).toEqual([a.tenant_id, b.tenant_id]);
    expect((await grant('DELETE', a.tenant_id, 'erin', b.tenant_id)).body).toEqual({ revoked: true });

    // The access token still lists b and is still within its lifetime.
    const res = await switchTo(pair, b.tenant_id);
    expect(res).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHENTICATED' } } });
    const { rows } = await t.db.query('SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2', [
      b.tenant_id,
      'erin',
    ]);
    expect(rows).toEqual([]);
  });

  it('refuses a switch when the grant is gone but the session is still live', async () => {
    // A session that is still live (its family was not among the revoked ones) but lost the grant.
    const a = await t.createTenant();
    const b = await t.createTenant();
    await t.mintUser(a.tenant_id, 'finn');
    await grant('POST', a.tenant_id, 'finn', b.tenant_id);
    const pair = await t.mintUser(a.tenant_id, 'finn');
    // Withdraw the grant row only (as an operator's SQL or a racing DELETE would), leaving the family live.
    await t.db.query('DELETE FROM tenant_grants WHERE tenant_id = $1 AND user_id = $2', [
      a.tenant_id,
      'finn',
    ]);
    const res = await switchTo(pair, b.tenant_id);
    expect(res).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    // Refresh drops the withdrawn tenant from the session's list, and the session goes on in a.
    const next = await refresh(pair.refresh_token);
    expect(next).toMatchObject({ status: 200, body: { tenant_id: a.tenant_id, tenants: [a.tenant_id] } });
  });

  it('ends a session that switched away from a withdrawn grant at its next refresh', async () => {
    const a = await t.createTenant();
    const b = await t.createTenant();
    await t.mintUser(a.tenant_id, 'gus');
    await grant('POST', a.tenant_id, 'gus', b.tenant_id);
    const moved = await switchTo(await t.mintUser(a.tenant_id, 'gus'), b.tenant_id);
    expect(moved.status).toBe(200);
    await t.db.query('DELETE FROM tenant_grants WHERE tenant_id = $1 AND user_id = $2', [a.tenant_id, 'gus']);
    expect(await refresh(moved.body.refresh_token)).toMatchObject({
      status: 401,
      body: { error: { code: 'UNAUTHENTICATED' } },
    });
  });

  it('refuses a switch with the access token of a family that reuse detection revoked', async () => {
    const a = await t.createTenant();
    const b = await t.createTenant();
    await t.mintUser(a.tenant_id, 'hana');
    await grant('POST', a.tenant_id, 'hana', b.tenant_id);
    const first = await t.mintUser(a.tenant_id, 'hana');
    const r1 = await refresh(first.refresh_token);
    expect(r1.status).toBe(200);
    // The consumed token comes back: the family is revoked.
    expect((await refresh(first.refresh_token)).body).toMatchObject({ error: { code: 'REFRESH_REUSED' } });
    for (const target of [b.tenant_id, a.tenant_id]) {
      for (const who of [first, r1.body]) {
        const res = await switchTo(who, target);
        expect(res, `switch to ${target}`).toMatchObject({
          status: 401,
          body: { error: { code: 'UNAUTHENTICATED' } },
        });
      }
    }
    // And it stays revoked: nothing minted from it refreshes.
    expect((await refresh(r1.body.refresh_token)).status).toBe(401);
  });

  it('refuses a second switch with the access token of the session the first switch ended', async () => {
    const a = await t.createTenant();
    const b = await t.createTenant();
    await t.mintUser(a.tenant_id, 'ivo');
    await grant('POST', a.tenant_id, 'ivo', b.tenant_id);
    const first = await t.mintUser(a.tenant_id, 'ivo');
    expect((await switchTo(first, b.tenant_id)).status).toBe(200);
    const again = await switchTo(first, b.tenant_id);
    expect(again).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHENTICATED' } } });
  });

  it('refuses a tenant that does not exist with the same code over HTTP and WebSocket', async () => {
    const ghost = 'ghost-tenant-never-created';
    const { token } = await t.herald.auth.tokens.mint({
      tenant_id: ghost,
      user_id: 'u',
      tenants: [ghost],
    });
    const http = await t.call({ method: 'GET', url: '/v1/inbox', headers: t.bearer(token) });
    expect(http).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHENTICATED' } } });
    const sse = await fetch(`${t.url}/v1/sse`, { headers: t.bearer(token) });
    expect(sse.status).toBe(401);
    expect(await sse.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
    const ws = await openWs(t, token);
    const closed = await ws.waitClosed();
    expect(closed.code).toBe(4101);
    expect(ws.of('error')[0]).toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});
