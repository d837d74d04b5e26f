// Non-members and removed members, on every way in: HTTP, WebSocket frames
// and SSE. A removed member's live subscriptions end after the `left` event:
// nothing written after it reaches them — and every later attempt is refused.
// Also the Origin allow-list, on WebSocket and SSE of the real host wiring.
// (test/gateway/bad-input.test.ts covers the non-member subscribe and the
// WebSocket Origin on a bare gateway; test/api/conversations.test.ts the
// non-member reads over HTTP.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenPair } from '../../src/auth/service.ts';
import { published, until } from '../gateway/harness.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { openSse, securityBackend, settleWs } from './support.ts';

describe('non-members and removed members', () => {
  let t: TestHerald;
  let tenant: string;
  const who: Record<string, TokenPair> = {};
  let group: string;

  beforeAll(async () => {
    t = await startTestHerald({ backend: securityBackend(), listen: true });
    tenant = (await t.createTenant()).tenant_id;
    for (const u of ['alice', 'bob', 'dave', 'mallory']) who[u] = await t.mintUser(tenant, u);
    const res = await t.call<{ conversation: { id: string } }>({
      method: 'POST',
      url: '/v1/conversations',
      headers: t.bearer(who.alice),
      payload: { kind: 'group', title: 'members only', members: ['bob', 'dave'] },
    });
    group = res.body.conversation.id;
    await post('alice', 'before');
    await published(t.db, tenant);
  });
  afterAll(async () => t?.close());

  const post = (u: string, body: string) =>
    t.call({
      method: 'POST',
      url: `/v1/conversations/${group}/messages`,
      headers: t.bearer(who[u]),
      payload: { body },
    });

  /** Every conversation-scoped HTTP call a member could make. */
  const httpCalls = () =>
    [
      ['GET', `/v1/conversations/${group}`, undefined],
      ['GET', `/v1/conversations/${group}/messages`, undefined],
      ['GET', `/v1/conversations/${group}/events`, undefined],
      ['GET', `/v1/conversations/${group}/members`, undefined],
      ['GET', `/v1/conversations/${group}/receipts`, undefined],
      ['POST', `/v1/conversations/${group}/messages`, { body: 'x' }],
      ['POST', `/v1/conversations/${group}/read`, { seq: 1 }],
      ['POST', `/v1/conversations/${group}/members`, { user_ids: ['mallory'] }],
      ['PATCH', `/v1/inbox/${group}`, { archived: true }],
    ] as const;

  async function refusedEverywhere(u: string): Promise<void> {
    for (const [method, url, payload] of httpCalls()) {
      const res = await t.call({ method, url, headers: t.bearer(who[u]), payload });
      expect(res.status, `${method} ${url}`).toBeGreaterThanOrEqual(403);
      expect(res.status, `${method} ${url}`).toBeLessThanOrEqual(404);
      expect(JSON.stringify(res.body)).not.toContain('before');
    }
    const ws = await settleWs(t, who[u].access_token);
    for (const frame of [
      { type: 'subscribe', conversation: group, since_seq: 0 },
      { type: 'send', conversation: group, client_id: `${u}-1`, body: 'x' },
      { type: 'read', conversation: group, seq: 1 },
    ]) {
      const n = ws.of('error').length;
      ws.send(frame);
      await until(() => ws.of('error').length > n, `${frame.type} refused`);
    }
    expect(ws.of('error').map((f) => f.code)).toEqual(['NOT_A_MEMBER', 'NOT_A_MEMBER', 'NOT_A_MEMBER']);
    expect(ws.of('event')).toEqual([]);
    ws.close();
    const sse = await openSse(t, { conversations: group, since_seq: '0' }, t.bearer(who[u]));
    await until(() => sse.events.some((e) => e.data.type === 'error'), 'the SSE refusal');
    expect(sse.events.find((e) => e.data.type === 'error')?.data).toMatchObject({ code: 'NOT_A_MEMBER' });
    expect(sse.events.filter((e) => e.data.type === 'event')).toEqual([]);
    sse.close();
  }

  it('a user of the tenant who is not a member is refused on HTTP, WebSocket and SSE', async () => {
    await refusedEverywhere('mallory');
  });

  it("a removed member's live socket and stream are unsubscribed; nothing after it arrives; then refused", async () => {
    const ws = await settleWs(t, who.dave.access_token);
    ws.send({ type: 'subscribe', conversation: group });
    await ws.next('subscribed');
    const sse = await openSse(t, { conversations: group }, t.bearer(who.dave));
    await until(() => sse.events.some((e) => e.data.type === 'subscribed'), 'SSE subscribed');
    const bob = await settleWs(t, who.bob.access_token);
    bob.send({ type: 'subscribe', conversation: group });
    await bob.next('subscribed');

    const removed = await t.call({
      method: 'DELETE',
      url: `/v1/conversations/${group}/members/dave`,
      headers: t.bearer(who.alice),
    });
    expect(removed.status).toBeLessThan(300);
    // The system `left` event arrives, then `unsubscribed` with NOT_A_MEMBER ends the subscription.
    const ended = (f: Record<string, unknown>) =>
      f.type === 'unsubscribed' && f.conversation === group && f.code === 'NOT_A_MEMBER';
    await ws.next('unsubscribed', ended);
    await until(() => sse.events.some((e) => ended(e.data)), 'SSE unsubscribed');
    expect((await post('alice', 'after removal')).status).toBe(201);
    // bob (still a member) gets it: once he has, dave would have too if he were still subscribed.
    await bob.next('event', (f) => JSON.stringify(f).includes('after removal'));
    await published(t.db, tenant);
    expect(JSON.stringify(ws.frames)).not.toContain('after removal');
    expect(JSON.stringify(sse.events)).not.toContain('after removal');
    for (const c of [ws, bob]) c.close();
    sse.close();

    await refusedEverywhere('dave');
  });
});

describe('Origin allow-list on the real host (WebSocket and SSE)', () => {
  let t: TestHerald;
  let token: string;
  beforeAll(async () => {
    t = await startTestHerald({ backend: securityBackend(), listen: true });
    const { tenant_id } = await t.createTenant();
    await t.db.query('UPDATE tenants SET allowed_origins = $2 WHERE id = $1', [
      tenant_id,
      ['https://app.example'],
    ]);
    token = (await t.mintUser(tenant_id, 'u')).access_token;
  });
  afterAll(async () => t?.close());

  it('refuses a page of another origin with 4400 / 403 ORIGIN_NOT_ALLOWED, admits the listed one', async () => {
    const evil = await settleWs(t, token, { origin: 'https://evil.example' });
    expect((await evil.waitClosed()).code).toBe(4400);
    expect(evil.of('error')[0]).toMatchObject({ code: 'ORIGIN_NOT_ALLOWED' });
    const sse = await openSse(t, {}, { ...t.bearer(token), origin: 'https://evil.example' });
    expect(sse.status).toBe(403);
    expect(sse.events[0].data).toMatchObject({ error: { code: 'ORIGIN_NOT_ALLOWED' } });
    // A look-alike of the listed origin is another origin.
    const lookalike = await settleWs(t, token, { origin: 'https://app.example.evil.example' });
    expect((await lookalike.waitClosed()).code).toBe(4400);

    const good = await settleWs(t, token, { origin: 'https://app.example' });
    expect(good.of('welcome')).toHaveLength(1);
    good.close();
    const goodSse = await openSse(t, {}, { ...t.bearer(token), origin: 'https://app.example' });
    expect(goodSse.status).toBe(200);
    goodSse.close();
  });
});
