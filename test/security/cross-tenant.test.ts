// Cross-tenant access by id, everywhere: with the same user ids in two
// tenants (acme's alice is also a member of globex's group), acme's alice
// names globex's conversation, message, notice and user ids on every HTTP
// route, every WebSocket frame and every SSE parameter. Nothing of globex is
// read or written. The routes are enumerated from the app itself and the
// frames from the protocol's frame type, so a new route or frame without a
// case here fails this test (or the typecheck).
import { createECDH, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenPair } from '../../src/auth/service.ts';
import type { ClientFrameType } from '../../src/protocol/frames.ts';
import { type Client, published, until } from '../gateway/harness.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { openSse, securityBackend, settleWs } from './support.ts';

/** Every table of a tenant's data, fingerprinted: any write under the tenant changes it. */
const TABLES = [
  'users',
  'conversations',
  'members',
  'messages',
  'events',
  'inbox_entries',
  'thread_entries',
  'notices',
  'notice_entries',
  'outbox',
  'refresh_tokens',
  'tenant_grants',
  'webhook_endpoints',
  'webhook_deliveries',
  'push_devices',
  'push_pending',
  'push_state',
  'push_thread_state',
  'push_deliveries',
  'tenant_admins',
  'audit_log',
];

async function fingerprint(t: TestHerald, tenant: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const table of TABLES) {
    const { rows } = await t.db.query<{ h: string }>(
      `SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM ${table} x WHERE tenant_id = $1`,
      [tenant],
    );
    out[table] = rows[0].h;
  }
  return out;
}

/** `METHOD /path` of every route the app serves (HEAD mirrors GET), from the router itself. */
function appRoutes(t: TestHerald): string[] {
  const out: string[] = [];
  const stack: string[] = [];
  for (const line of t.app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│├└─\s]*)(\S.*?) \(([A-Z, ]+)\)$/.exec(line);
    if (!m) continue;
    const depth = m[1].length / 4;
    stack.length = depth;
    stack.push(m[2]);
    const path = stack.join('');
    for (const method of m[3].split(', ')) if (method !== 'HEAD') out.push(`${method} ${path}`);
  }
  return out.sort();
}

const SECRET = 'globex-secret';

describe('cross-tenant access by id (same user ids in two tenants)', () => {
  let t: TestHerald;
  let acme: { tenant_id: string; api_key: string };
  let globex: { tenant_id: string; api_key: string };
  let alice: TokenPair; // acme's alice: the attacker
  let victim: {
    group: string;
    channel: string;
    direct: string;
    message: string;
    notice: string;
    seq: number;
    webhook: string;
    delivery: string;
    device: string;
    subscription: { endpoint: string; keys: { p256dh: string; auth: string } };
  };
  let globexBob: TokenPair;

  beforeAll(async () => {
    t = await startTestHerald({
      backend: securityBackend(),
      listen: true,
      env: { HERALD_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' },
    });
    // The victim's webhook deliveries stay pending: no dispatcher attempt changes them between
    // a case's before and after fingerprints.
    await t.herald.webhooks.stop();
    await t.herald.push.dispatcher.stop();
    acme = await t.createTenant();
    globex = await t.createTenant();
    alice = await t.mintUser(acme.tenant_id, 'alice');
    await t.mintUser(acme.tenant_id, 'bob');
    for (const u of ['alice', 'carol']) await t.mintUser(globex.tenant_id, u);
    globexBob = await t.mintUser(globex.tenant_id, 'bob');
    const as = (who: TokenPair) => t.bearer(who);
    const post = async (url: string, payload: object, who = globexBob) => {
      const res = await t.call<Record<string, { id: string; seq?: number }>>({
        method: 'POST',
        url,
        headers: as(who),
        payload,
      });
      expect(res.status, url).toBeLessThan(300);
      return res.body;
    };
    // globex's alice is a member of the group: the id alone must not let acme's alice in.
    const group = (
      await post('/v1/conversations', {
        kind: 'group',
        title: `${SECRET}-group`,
        members: ['alice', 'carol'],
      })
    ).conversation.id;
    const channel = (await post('/v1/conversations', { kind: 'channel', title: `${SECRET}-channel` }))
      .conversation.id;
    const msg = (await post(`/v1/conversations/${group}/messages`, { body: `${SECRET}-message` })).message;
    const direct = await t.call<{ conversation: { id: string } }>({
      method: 'PUT',
      url: '/v1/direct/alice',
      headers: as(globexBob),
    });
    await post(`/v1/conversations/${direct.body.conversation.id}/messages`, { body: `${SECRET}-direct` });
    const notice = await t.call<{ notices?: { id: string }[]; id?: string }>({
      method: 'POST',
      url: '/v1/notices',
      headers: t.bearer(globex.api_key),
      payload: { to: ['alice'], title: `${SECRET}-notice`, body: `${SECRET}-notice-body` },
    });
    expect(notice.status).toBe(201);
    const hook = await t.call<{ webhook: { id: string } }>({
      method: 'POST',
      url: '/v1/webhooks',
      headers: t.bearer(globex.api_key),
      payload: { url: `http://127.0.0.1:9/${SECRET}-hook`, events: ['message.created'] },
    });
    expect(hook.status).toBe(201);
    // globex's admin (and its audit entry): acme's backend must neither see nor change them.
    const admin = await t.call({ method: 'PUT', url: '/v1/admins/carol', headers: t.bearer(globex.api_key) });
    expect(admin.status).toBe(200);
    await post(`/v1/conversations/${group}/messages`, { body: `${SECRET}-hooked` });
    const { rows: deliveries } = await t.db.query<{ id: string }>(
      'SELECT id::text AS id FROM webhook_deliveries WHERE tenant_id = $1 LIMIT 1',
      [globex.tenant_id],
    );
    expect(deliveries).toHaveLength(1);
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const subscription = {
      endpoint: 'http://127.0.0.1:9/victim-push',
      keys: {
        p256dh: ecdh.getPublicKey().toString('base64url'),
        auth: randomBytes(16).toString('base64url'),
      },
    };
    const device = (await post('/v1/devices', { platform: 'webpush', subscription })).device.id;
    const { rows } = await t.db.query<{ id: string }>('SELECT id FROM notices WHERE tenant_id = $1', [
      globex.tenant_id,
    ]);
    victim = {
      group,
      channel,
      direct: direct.body.conversation.id,
      message: msg.id,
      notice: rows[0].id,
      seq: msg.seq ?? 1,
      webhook: hook.body.webhook.id,
      delivery: deliveries[0].id,
      device,
      subscription,
    };
    // Fingerprints compare table contents: let the relay finish marking the setup's rows.
    await published(t.db, globex.tenant_id);
    await published(t.db, acme.tenant_id);
  });
  afterAll(async () => t?.close());

  type Case = {
    url: () => string;
    payload?: () => unknown;
    /** The credential acme's attacker uses (default: alice's access token). */
    auth?: () => string;
    /** Expected status, or a check of the response. */
    expect: number | ((status: number, body: string) => void);
  };
  const conv = () => victim.group;
  const notFound = 404;
  const cases: Record<string, Case> = {
    'GET /healthz': { url: () => '/healthz', expect: 200 },
    'GET /readyz': { url: () => '/readyz', expect: 200 },
    'GET /metrics': { url: () => '/metrics', expect: 200 },
    'GET /openapi.json': { url: () => '/openapi.json', expect: 200 },
    'POST /v1/tenants': {
      url: () => '/v1/tenants',
      payload: () => ({ tenant_id: globex.tenant_id }),
      expect: 401,
    },
    'POST /v1/grants': {
      url: () => '/v1/grants',
      payload: () => ({ tenant_id: acme.tenant_id, user_id: 'alice', granted_tenant: globex.tenant_id }),
      expect: 401,
    },
    'DELETE /v1/grants': {
      url: () => '/v1/grants',
      payload: () => ({ tenant_id: globex.tenant_id, user_id: 'alice', granted_tenant: acme.tenant_id }),
      expect: 401,
    },
    // acme's own API key mints acme's alice, never globex's.
    'POST /v1/tokens': {
      url: () => '/v1/tokens',
      auth: () => acme.api_key,
      payload: () => ({ user_id: 'alice' }),
      expect: (status, body) => {
        expect(status).toBe(200);
        expect(JSON.parse(body)).toMatchObject({ tenant_id: acme.tenant_id, tenants: [acme.tenant_id] });
      },
    },
    'POST /v1/tokens/refresh': {
      url: () => '/v1/tokens/refresh',
      payload: () => ({ refresh_token: alice.refresh_token }),
      expect: (status, body) => {
        expect(status).toBe(200);
        const pair = JSON.parse(body) as TokenPair;
        expect(pair).toMatchObject({ tenant_id: acme.tenant_id, tenants: [acme.tenant_id] });
        alice = pair;
      },
    },
    'POST /v1/tokens/switch': {
      url: () => '/v1/tokens/switch',
      payload: () => ({ tenant_id: globex.tenant_id }),
      expect: 403,
    },
    // Creating in acme with a member who exists only in globex fails: users are per tenant.
    'POST /v1/conversations': {
      url: () => '/v1/conversations',
      payload: () => ({ kind: 'group', title: 'x', members: ['carol'] }),
      expect: notFound,
    },
    'GET /v1/conversations/:id': { url: () => `/v1/conversations/${conv()}`, expect: notFound },
    'GET /v1/conversations/:id/members': {
      url: () => `/v1/conversations/${conv()}/members`,
      expect: notFound,
    },
    'POST /v1/conversations/:id/members': {
      url: () => `/v1/conversations/${conv()}/members`,
      payload: () => ({ user_ids: ['bob'] }),
      expect: notFound,
    },
    'DELETE /v1/conversations/:id/members/:user_id': {
      url: () => `/v1/conversations/${conv()}/members/carol`,
      expect: notFound,
    },
    'POST /v1/conversations/:id/join': {
      url: () => `/v1/conversations/${victim.channel}/join`,
      expect: notFound,
    },
    'GET /v1/conversations/:id/messages': {
      url: () => `/v1/conversations/${conv()}/messages`,
      expect: notFound,
    },
    'POST /v1/conversations/:id/messages': {
      url: () => `/v1/conversations/${conv()}/messages`,
      payload: () => ({ body: 'injected' }),
      expect: notFound,
    },
    'PATCH /v1/conversations/:id/messages/:message_id': {
      url: () => `/v1/conversations/${conv()}/messages/${victim.message}`,
      payload: () => ({ body: 'edited' }),
      expect: notFound,
    },
    'DELETE /v1/conversations/:id/messages/:message_id': {
      url: () => `/v1/conversations/${conv()}/messages/${victim.message}`,
      expect: notFound,
    },
    'POST /v1/conversations/:id/messages/:message_id/reactions': {
      url: () => `/v1/conversations/${conv()}/messages/${victim.message}/reactions`,
      payload: () => ({ emoji: '👍' }),
      expect: notFound,
    },
    'POST /v1/conversations/:id/messages/:message_id/votes': {
      url: () => `/v1/conversations/${conv()}/messages/${victim.message}/votes`,
      payload: () => ({ option: 0 }),
      expect: notFound,
    },
    'POST /v1/conversations/:id/messages/:message_id/close': {
      url: () => `/v1/conversations/${conv()}/messages/${victim.message}/close`,
      expect: notFound,
    },
    'DELETE /v1/conversations/:id/messages/:message_id/reactions/:emoji': {
      url: () =>
        `/v1/conversations/${conv()}/messages/${victim.message}/reactions/${encodeURIComponent('👍')}`,
      expect: notFound,
    },
    'GET /v1/conversations/:id/events': { url: () => `/v1/conversations/${conv()}/events`, expect: notFound },
    'POST /v1/conversations/:id/read': {
      url: () => `/v1/conversations/${conv()}/read`,
      payload: () => ({ seq: victim.seq }),
      expect: notFound,
    },
    'GET /v1/conversations/:id/receipts': {
      url: () => `/v1/conversations/${conv()}/receipts`,
      expect: notFound,
    },
    'GET /v1/conversations/:id/threads/:root_id/messages': {
      url: () => `/v1/conversations/${conv()}/threads/${victim.message}/messages`,
      expect: notFound,
    },
    'GET /v1/conversations/:id/threads': {
      url: () => `/v1/conversations/${conv()}/threads`,
      expect: notFound,
    },
    'POST /v1/conversations/:id/threads/:root_id/read': {
      url: () => `/v1/conversations/${conv()}/threads/${victim.message}/read`,
      payload: () => ({ seq: victim.seq }),
      expect: notFound,
    },
    'POST /v1/conversations/:id/typing': {
      url: () => `/v1/conversations/${conv()}/typing`,
      expect: notFound,
    },
    // Admins: acme's backend naming globex's user (not a user of acme's).
    'GET /v1/admins': {
      url: () => '/v1/admins',
      auth: () => acme.api_key,
      expect: (status, body) => {
        expect(status).toBe(200);
        expect(JSON.parse(body)).toEqual({ admins: [] });
      },
    },
    'PUT /v1/admins/:user_id': { url: () => '/v1/admins/carol', auth: () => acme.api_key, expect: notFound },
    'DELETE /v1/admins/:user_id': {
      url: () => '/v1/admins/carol',
      auth: () => acme.api_key,
      expect: notFound,
    },
    // The audit log: acme's backend sees acme's entries only (its own tenant's creation).
    'GET /v1/audit': {
      url: () => '/v1/audit',
      auth: () => acme.api_key,
      expect: (status, body) => {
        expect(status).toBe(200);
        const entries = JSON.parse(body).entries as { action: string; target: { id: string } }[];
        expect(entries.length).toBeGreaterThan(0);
        for (const e of entries) expect(JSON.stringify(e)).not.toContain(globex.tenant_id);
      },
    },
    // The delivery log: acme's backend naming globex's message, or naming globex outright.
    'GET /v1/conversations/:id/messages/:message_id/delivery': {
      url: () => `/v1/conversations/${conv()}/messages/${victim.message}/delivery`,
      auth: () => acme.api_key,
      expect: notFound,
    },
    // bob exists in acme too: this is acme's direct conversation, a different one.
    'PUT /v1/direct/:user_id': {
      url: () => '/v1/direct/bob',
      expect: (status, body) => {
        expect(status).toBe(200);
        expect(JSON.parse(body).conversation.id).not.toBe(victim.direct);
      },
    },
    'GET /v1/inbox': {
      url: () => '/v1/inbox',
      expect: (status, body) => {
        expect(status).toBe(200);
        expect(body).not.toContain(victim.group);
      },
    },
    'PATCH /v1/inbox/:conversation_id': {
      url: () => `/v1/inbox/${conv()}`,
      payload: () => ({ archived: true }),
      expect: notFound,
    },
    'GET /v1/notices': {
      url: () => '/v1/notices',
      expect: (status, body) => {
        expect(status).toBe(200);
        expect(JSON.parse(body).notices).toEqual([]);
      },
    },
    // acme's backend notices acme's alice only.
    'POST /v1/notices': {
      url: () => '/v1/notices',
      auth: () => acme.api_key,
      payload: () => ({ to: 'tenant', title: 'acme', body: 'acme only' }),
      expect: 201,
    },
    'PATCH /v1/notices/:id': {
      url: () => `/v1/notices/${victim.notice}`,
      payload: () => ({ read: true }),
      expect: notFound,
    },
    // Webhooks: acme's backend (its API key) naming globex's endpoint, delivery or conversation.
    'POST /v1/webhooks': {
      url: () => '/v1/webhooks',
      auth: () => acme.api_key,
      payload: () => ({
        url: 'http://127.0.0.1:9/acme',
        events: ['message.created'],
        conversation: victim.group,
      }),
      expect: notFound,
    },
    'GET /v1/webhooks': { url: () => '/v1/webhooks', auth: () => acme.api_key, expect: 200 },
    'GET /v1/webhooks/:id': {
      url: () => `/v1/webhooks/${victim.webhook}`,
      auth: () => acme.api_key,
      expect: notFound,
    },
    'PATCH /v1/webhooks/:id': {
      url: () => `/v1/webhooks/${victim.webhook}`,
      auth: () => acme.api_key,
      payload: () => ({ enabled: false }),
      expect: notFound,
    },
    'DELETE /v1/webhooks/:id': {
      url: () => `/v1/webhooks/${victim.webhook}`,
      auth: () => acme.api_key,
      expect: notFound,
    },
    'POST /v1/webhooks/:id/rotate': {
      url: () => `/v1/webhooks/${victim.webhook}/rotate`,
      auth: () => acme.api_key,
      expect: notFound,
    },
    'GET /v1/webhooks/:id/deliveries': {
      url: () => `/v1/webhooks/${victim.webhook}/deliveries`,
      auth: () => acme.api_key,
      expect: notFound,
    },
    'POST /v1/webhooks/:id/deliveries/:delivery_id/retry': {
      url: () => `/v1/webhooks/${victim.webhook}/deliveries/${victim.delivery}/retry`,
      auth: () => acme.api_key,
      expect: notFound,
    },
    'POST /v1/webhooks/:id/replay': {
      url: () => `/v1/webhooks/${victim.webhook}/replay`,
      auth: () => acme.api_key,
      payload: () => ({ since: '2000-01-01T00:00:00Z' }),
      expect: notFound,
    },
    // Push devices: globex's device id, and its very subscription (registered anew in acme).
    'POST /v1/devices': {
      url: () => '/v1/devices',
      payload: () => ({ platform: 'webpush', subscription: victim.subscription }),
      expect: (status, body) => {
        expect(status).toBe(201);
        expect(JSON.parse(body).device.id).not.toBe(victim.device);
      },
    },
    'GET /v1/devices': {
      url: () => '/v1/devices',
      expect: (status, body) => {
        expect(status).toBe(200);
        expect(body).not.toContain(victim.device);
      },
    },
    'GET /v1/devices/:id': { url: () => `/v1/devices/${victim.device}`, expect: notFound },
    'DELETE /v1/devices/:id': { url: () => `/v1/devices/${victim.device}`, expect: notFound },
    'GET /v1/devices/:id/deliveries': {
      url: () => `/v1/devices/${victim.device}/deliveries`,
      expect: notFound,
    },
    'POST /v1/devices/:id/test': { url: () => `/v1/devices/${victim.device}/test`, expect: notFound },
    'GET /v1/push/vapid-key': { url: () => '/v1/push/vapid-key', expect: 200 },
    // The SSE route has its own test below (its parameters); here: naming the group.
    'GET /v1/sse': {
      url: () => `/v1/sse?conversations=${conv()}`,
      expect: 200,
    },
  };

  it('covers every route of the app', () => {
    expect(appRoutes(t)).toEqual(Object.keys(cases).sort());
  });

  it.each(Object.keys(cases))('%s never reaches the other tenant', async (route) => {
    if (route === 'GET /v1/sse') return; // streamed: see the SSE test
    const c = cases[route];
    const [method] = route.split(' ');
    const before = await fingerprint(t, globex.tenant_id);
    const res = await t.app.inject({
      method: method as 'GET',
      url: c.url(),
      headers: { authorization: `Bearer ${c.auth?.() ?? alice.access_token}` },
      ...(c.payload ? { payload: c.payload() as object } : {}),
    });
    if (typeof c.expect === 'number') expect(res.statusCode, res.body).toBe(c.expect);
    else c.expect(res.statusCode, res.body);
    expect(res.body).not.toContain(SECRET);
    if (res.statusCode >= 400) expect(res.json()).toMatchObject({ error: { code: expect.any(String) } });
    expect(await fingerprint(t, globex.tenant_id)).toEqual(before);
  });

  it('backend routes: an API key naming the other tenant in tenant_id is FORBIDDEN', async () => {
    const before = await fingerprint(t, globex.tenant_id);
    for (const url of [`/v1/conversations/${conv()}/messages/${victim.message}/delivery`, '/v1/audit']) {
      const res = await t.app.inject({
        method: 'GET',
        url: `${url}?tenant_id=${globex.tenant_id}`,
        headers: { authorization: `Bearer ${acme.api_key}` },
      });
      expect(res.statusCode, url).toBe(403);
      expect(res.json()).toMatchObject({ error: { code: 'FORBIDDEN' } });
      expect(res.body).not.toContain(SECRET);
    }
    expect(await fingerprint(t, globex.tenant_id)).toEqual(before);
  });

  it('every WebSocket frame naming the other tenant’s conversation is refused or inert', async () => {
    // globex's bob watches the group: nothing acme's alice does may reach him.
    const watcher = await settleWs(t, globexBob.access_token);
    watcher.send({ type: 'subscribe', conversation: victim.group });
    await watcher.next('subscribed');
    const carolToken = (await t.mintUser(globex.tenant_id, 'carol')).access_token;
    const before = await fingerprint(t, globex.tenant_id);
    const ws = await settleWs(t, alice.access_token);
    const g = victim.group;
    const frames: Record<ClientFrameType, { frame: object; error?: string }> = {
      auth: { frame: { type: 'auth', token: globexBob.access_token }, error: 'FORBIDDEN' },
      subscribe: {
        frame: { type: 'subscribe', conversation: g, since_seq: 0 },
        error: 'CONVERSATION_NOT_FOUND',
      },
      unsubscribe: { frame: { type: 'unsubscribe', conversation: g } },
      send: {
        frame: { type: 'send', conversation: g, client_id: 'x-1', body: 'injected' },
        error: 'CONVERSATION_NOT_FOUND',
      },
      read: { frame: { type: 'read', conversation: g, seq: victim.seq }, error: 'CONVERSATION_NOT_FOUND' },
      thread_read: {
        frame: { type: 'thread_read', conversation: g, root_id: victim.message, seq: victim.seq },
        error: 'CONVERSATION_NOT_FOUND',
      },
      delivered: {
        frame: { type: 'delivered', conversation: g, seq: victim.seq },
        error: 'CONVERSATION_NOT_FOUND',
      },
      view: { frame: { type: 'view', conversation: g } },
      typing: { frame: { type: 'typing', conversation: g } },
      heartbeat: { frame: { type: 'heartbeat', status: 'active', resource: g } },
      ping: { frame: { type: 'ping' } },
      react: {
        frame: { type: 'react', conversation: g, message_id: 'm-1', emoji: '👍' },
        error: 'CONVERSATION_NOT_FOUND',
      },
      vote: {
        frame: { type: 'vote', conversation: g, message_id: 'm-1', option: 0 },
        error: 'CONVERSATION_NOT_FOUND',
      },
    };
    for (const [type, c] of Object.entries(frames)) {
      ws.send(c.frame);
      if (c.error) {
        const err = await ws.next('error', (f) => f.code === c.error, 10_000).catch(() => null);
        expect(err, `${type} → ${c.error}`).not.toBeNull();
      }
    }
    // A frame that must come back after all of the above, then globex's own typing as a marker.
    ws.send({ type: 'ping' });
    await ws.next('pong');
    const carol = await settleWs(t, carolToken);
    carol.send({ type: 'subscribe', conversation: g });
    await carol.next('subscribed');
    carol.send({ type: 'typing', conversation: g });
    await watcher.next('typing', (f) => f.user_id === 'carol');
    const fromAlice = watcher.frames.filter(
      (f) => JSON.stringify(f).includes('injected') || f.user_id === 'alice',
    );
    expect(fromAlice).toEqual([]);
    expect(JSON.stringify(ws.frames)).not.toContain(SECRET);
    expect(ws.frames.filter((f) => f.type === 'event')).toEqual([]);
    // carol's subscribe wrote nothing; acme's frames wrote nothing in globex either.
    expect(await fingerprint(t, globex.tenant_id)).toEqual(before);
    for (const c of [watcher, ws, carol]) c.close();
  });

  it('every SSE parameter naming the other tenant’s conversation is refused or inert', async () => {
    const g = victim.group;
    const cursor = `${encodeURIComponent(g)}:0`;
    const sse = await openSse(
      t,
      { conversations: `${g},${victim.direct}`, since_seq: cursor, device_id: 'dev-1' },
      { ...t.bearer(alice), 'last-event-id': cursor },
    );
    expect(sse.status).toBe(200);
    await until(
      () => sse.events.filter((e) => e.data.type === 'error').length >= 2,
      'both conversations refused',
    );
    const errors = sse.events.filter((e) => e.data.type === 'error').map((e) => e.data);
    expect(errors).toEqual([
      expect.objectContaining({ code: 'CONVERSATION_NOT_FOUND' }),
      expect.objectContaining({ code: 'CONVERSATION_NOT_FOUND' }),
    ]);
    // New activity in globex's group is not streamed to acme's alice.
    const posted = await t.call({
      method: 'POST',
      url: `/v1/conversations/${g}/messages`,
      headers: t.bearer(globexBob),
      payload: { body: `${SECRET}-later` },
    });
    expect(posted.status).toBe(201);
    // The stream's own personal room still works: a notice to acme's alice arrives; nothing else did.
    await t.call({
      method: 'POST',
      url: '/v1/notices',
      headers: t.bearer(acme.api_key),
      payload: { to: ['alice'], title: 'marker', body: 'marker' },
    });
    await until(() => JSON.stringify(sse.events).includes('marker'), 'the marker notice');
    expect(JSON.stringify(sse.events)).not.toContain(SECRET);
    expect(sse.events.filter((e) => e.data.type === 'event' && e.data.conversation === g)).toEqual([]);
    sse.close();
  });

  it('a socket cannot change tenant or user by re-authenticating', async () => {
    const ws: Client = await settleWs(t, alice.access_token);
    ws.send({ type: 'auth', token: globexBob.access_token });
    expect(await ws.next('error')).toMatchObject({ code: 'FORBIDDEN' });
    ws.send({ type: 'subscribe', conversation: victim.group });
    expect(await ws.next('error', (f) => f.code !== 'FORBIDDEN')).toMatchObject({
      code: 'CONVERSATION_NOT_FOUND',
    });
    ws.close();
  });
});
