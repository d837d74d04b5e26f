// /openapi.json as a generator sees it: the recommended Redocly ruleset finds
// nothing; every operation has an operationId, a security requirement that
// matches docs/protocol.md's credential table, and error responses; and every
// route's real answers — success and error, on both stores — have a status the
// document declares and a body its schema accepts (objects are closed, so a
// field the server returns but the document omits fails here). The VALIDATION_FAILED
// messages, which read the same schemas, are tested in validation-messages.test.ts.
import { createECDH, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { lintFromString, loadConfig } from '@redocly/openapi-core';
import { Value } from 'typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiPlugin } from '../../src/api/app.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { type Backend, backends } from '../support/stores.ts';

interface Operation {
  operationId?: string;
  summary?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
}
interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
}

// The lint configuration (recommended rules, and the ones turned off with a reason) is
// redocly.yaml, shared with the `redocly lint` CLI run in openapi-client.test.ts.
const LINT_CONFIG = fileURLToPath(new URL('../../redocly.yaml', import.meta.url));

/** The document's schemas with `#/components/schemas/X` refs as TypeBox context refs (`X`). */
function contextOf(doc: OpenApiDoc) {
  const rewrite = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(rewrite);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.entries(v).map(([k, x]) => [
          k,
          k === '$ref' && typeof x === 'string' ? x.replace('#/components/schemas/', '') : rewrite(x),
        ]),
      );
    }
    return v;
  };
  return { context: rewrite(doc.components.schemas) as Record<string, never>, rewrite };
}

let t: TestHerald;
let doc: OpenApiDoc;

describe('/openapi.json', () => {
  beforeAll(async () => {
    // A hidden route whose declared response lists fewer fields than it returns.
    const probe: ApiPlugin = async (app) => {
      app.get(
        '/test/undeclared',
        {
          schema: {
            hide: true,
            response: { 200: { type: 'object', properties: { a: { type: 'string' } } } },
          },
        },
        async () => ({ b: 2, a: 'one' }),
      );
    };
    t = await startTestHerald({ env: { HERALD_DEV_TOKENS: 'true' }, plugins: [probe] });
    doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
  });
  afterAll(async () => t?.close());

  it('serializes as before: a declared response schema neither drops, reorders nor coerces fields', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/test/undeclared' });
    expect(res.body).toBe('{"b":2,"a":"one"}');
  });

  it('passes the recommended Redocly ruleset without errors or warnings', async () => {
    const config = await loadConfig({ configPath: LINT_CONFIG });
    const problems = await lintFromString({
      source: JSON.stringify(doc),
      absoluteRef: 'openapi.json',
      config,
    });
    const text = problems.map((p) => `${p.severity} ${p.ruleId}: ${p.message} @ ${p.location[0]?.pointer}`);
    expect(text).toEqual([]);
  });

  it('names every operation, uniquely, and declares success and error responses with schemas', () => {
    const ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, op })),
    );
    expect(ops.length).toBeGreaterThanOrEqual(27);
    const ids = ops.map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ops.length);
    for (const { key, op } of ops) {
      expect(op.operationId, key).toMatch(/^[a-z][a-zA-Z]+$/);
      expect(op.summary, key).toBeTruthy();
      expect(op.tags?.length, key).toBe(1);
      const statuses = Object.keys(op.responses);
      expect(statuses.filter((s) => s.startsWith('2')).length, key).toBeGreaterThan(0);
      expect(statuses, key).toEqual(expect.arrayContaining(['400', '500', '503']));
      for (const [status, response] of Object.entries(op.responses)) {
        const media = Object.values(response.content ?? {});
        // 204 No Content has no body to describe.
        expect(media.length, `${key} ${status}`).toBe(status === '204' ? 0 : 1);
        if (!status.startsWith('2')) expect(media[0]?.schema).toEqual({ $ref: '#/components/schemas/Error' });
      }
    }
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining([
        'Message',
        'Conversation',
        'InboxEntry',
        'Notice',
        'TokenPair',
        'WebhookEndpoint',
        'WebhookDelivery',
        'Error',
      ]),
    );
  });

  it("states each route's credential as docs/protocol.md's table does", () => {
    const security = (method: string, path: string) => doc.paths[path]?.[method]?.security;
    const operator = [{ operatorToken: [] }];
    const apiKey = [{ apiKey: [] }];
    const user = [{ accessToken: [] }];
    expect(security('post', '/v1/tenants')).toEqual(operator);
    expect(security('post', '/v1/grants')).toEqual(operator);
    expect(security('delete', '/v1/grants')).toEqual(operator);
    expect(security('post', '/v1/tokens')).toEqual(apiKey);
    expect(security('post', '/v1/notices')).toEqual(apiKey);
    expect(security('post', '/v1/tokens/refresh')).toEqual([]);
    expect(security('post', '/v1/dev/tokens')).toEqual([]);
    const named = new Set([
      '/v1/tenants',
      '/v1/grants',
      '/v1/tokens',
      '/v1/tokens/refresh',
      '/v1/dev/tokens',
    ]);
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        if (named.has(path) || (path === '/v1/notices' && method === 'post')) continue;
        // The webhook routes are the tenant backend's, all of them; the delivery log the
        // backend's or the operator's.
        const want =
          path.startsWith('/v1/webhooks') || path.startsWith('/v1/admins')
            ? apiKey
            : path.endsWith('/delivery') || path === '/v1/audit'
              ? [...apiKey, ...operator]
              : user;
        expect(op.security, `${method} ${path}`).toEqual(want);
        expect(Object.keys(op.responses), `${method} ${path}`).toContain('401');
      }
    }
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual([
      'accessToken',
      'apiKey',
      'operatorToken',
    ]);
  });
});

describe.each(backends())('every route answers what /openapi.json declares (%s)', (backend: Backend) => {
  let h: TestHerald;
  let spec: OpenApiDoc;
  /** operationId → statuses seen. */
  const seen = new Map<string, Set<number>>();
  const problems: string[] = [];

  /** The operation of a request: match the method and the path template. */
  function operationOf(method: string, url: string): { id: string; op: Operation } | null {
    const path = url.split('?')[0] ?? url;
    for (const [template, methods] of Object.entries(spec.paths)) {
      const re = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
      const op = methods[method.toLowerCase()];
      if (op && re.test(path)) return { id: op.operationId ?? template, op };
    }
    return null;
  }

  /** app.inject, then checks status and body against the operation's declared response. */
  async function call<T = Record<string, unknown>>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    opts: { auth?: string; payload?: unknown; headers?: Record<string, string> } = {},
  ): Promise<{ status: number; body: T }> {
    const res = await h.app.inject({
      method,
      url,
      headers: { ...(opts.auth ? { authorization: `Bearer ${opts.auth}` } : {}), ...opts.headers },
      ...(opts.payload !== undefined ? { payload: opts.payload as object } : {}),
    });
    const found = operationOf(method, url);
    if (res.statusCode === 204) {
      // No Content: an empty body, and a declared response without content.
      if (res.body !== '') problems.push(`${method} ${url}: 204 with a body: ${res.body}`);
      if (found && !found.op.responses['204']) problems.push(`${found.id}: answered 204, not declared`);
      if (found?.op.responses['204']?.content) problems.push(`${found.id}: 204 declares content`);
      if (found) seen.set(found.id, (seen.get(found.id) ?? new Set()).add(204));
      return { status: 204, body: undefined as T };
    }
    const body = res.json();
    // Exactly what JSON.stringify makes of the handler's value (no schema-driven rewriting).
    if (res.body !== JSON.stringify(body)) problems.push(`${method} ${url}: not plain JSON.stringify output`);
    if (!found) {
      problems.push(`${method} ${url}: no operation in the document`);
      return { status: res.statusCode, body };
    }
    const statuses = seen.get(found.id) ?? new Set();
    statuses.add(res.statusCode);
    seen.set(found.id, statuses);
    const declared = found.op.responses[String(res.statusCode)];
    const schema = declared?.content?.['application/json']?.schema;
    if (!schema) {
      problems.push(`${found.id}: answered ${res.statusCode}, not declared`);
    } else {
      const { context, rewrite } = contextOf(spec);
      const errors = Value.Errors(context, rewrite(schema) as never, body);
      if (errors.length > 0) {
        problems.push(`${found.id} ${res.statusCode}: ${JSON.stringify(errors.slice(0, 3))} in ${res.body}`);
      }
    }
    return { status: res.statusCode, body };
  }

  /** A port on 127.0.0.1 where nothing listens: webhook attempts fail fast, asynchronously. */
  let deadPort: number;

  beforeAll(async () => {
    h = await startTestHerald({
      backend,
      // 127.0.0.1 allowed: a webhook endpoint the walk can create (its deliveries fail, which is fine).
      env: { HERALD_DEV_TOKENS: 'true', HERALD_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' },
      listen: true,
    });
    const probe = createServer();
    await new Promise<void>((ok) => probe.listen(0, '127.0.0.1', ok));
    deadPort = (probe.address() as { port: number }).port;
    await new Promise((ok) => probe.close(ok));
    spec = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json();
  });
  afterAll(async () => h?.close());

  it('for every operation, success and errors alike', async () => {
    const admin = h.adminToken;
    // Operator: tenants (201, 409), grants.
    const acme = await call<{ tenant_id: string; api_key: string }>('POST', '/v1/tenants', {
      auth: admin,
      payload: { tenant_id: `acme-${backend}`, name: 'Acme' },
    });
    expect(acme.status).toBe(201);
    expect(
      (await call('POST', '/v1/tenants', { auth: admin, payload: { tenant_id: `acme-${backend}` } })).status,
    ).toBe(409);
    const globex = await call<{ tenant_id: string }>('POST', '/v1/tenants', { auth: admin, payload: {} });
    await call('POST', '/v1/tenants', { auth: admin, payload: { tenant_id: 'demo' } }); // for dev tokens
    const key = acme.body.api_key;
    const tenant = acme.body.tenant_id;

    // Tokens.
    type Pair = { access_token: string; refresh_token: string };
    const issue = async (user: string) =>
      (await call<Pair>('POST', '/v1/tokens', { auth: key, payload: { user_id: user, display_name: user } }))
        .body;
    const alice = await issue('alice');
    const bob = await issue('bob');
    const carol = await issue('carol');
    await issue('dave');
    expect((await call('POST', '/v1/tokens', { auth: 'hk_wrong', payload: { user_id: 'x' } })).status).toBe(
      401,
    );
    const rotated = await call<Pair>('POST', '/v1/tokens/refresh', {
      payload: { refresh_token: alice.refresh_token },
    });
    expect(rotated.status).toBe(200);
    expect(
      (await call('POST', '/v1/tokens/refresh', { payload: { refresh_token: alice.refresh_token } })).status,
    ).toBe(401);
    const grant = { tenant_id: tenant, user_id: 'carol', granted_tenant: globex.body.tenant_id };
    expect((await call('POST', '/v1/grants', { auth: admin, payload: grant })).status).toBe(200);
    const carol2 = await issue('carol');
    expect(
      (
        await call('POST', '/v1/tokens/switch', {
          auth: carol2.access_token,
          payload: { tenant_id: grant.granted_tenant },
        })
      ).status,
    ).toBe(200);
    expect(
      (await call('POST', '/v1/tokens/switch', { auth: bob.access_token, payload: { tenant_id: 'nowhere' } }))
        .status,
    ).toBe(403);
    expect((await call('DELETE', '/v1/grants', { auth: admin, payload: grant })).status).toBe(200);
    expect((await call('POST', '/v1/dev/tokens', { payload: { user_id: 'zed' } })).status).toBe(200);

    // Conversations.
    const a = rotated.body.access_token;
    const group = await call<{ conversation: { id: string } }>('POST', '/v1/conversations', {
      auth: a,
      payload: { kind: 'group', title: 'Team', members: ['bob'] },
    });
    expect(group.status).toBe(201);
    const g = group.body.conversation.id;
    const channel = await call<{ conversation: { id: string } }>('POST', '/v1/conversations', {
      auth: a,
      payload: { kind: 'channel', title: 'News' },
    });
    expect((await call('PUT', '/v1/direct/bob', { auth: a })).status).toBe(200);
    expect(
      (await call('POST', `/v1/conversations/${g}/members`, { auth: a, payload: { user_ids: ['dave'] } }))
        .status,
    ).toBe(200);
    expect((await call('GET', `/v1/conversations/${g}/members?limit=2`, { auth: a })).status).toBe(200);
    expect(
      (
        await call('POST', `/v1/conversations/${channel.body.conversation.id}/join`, {
          auth: bob.access_token,
        })
      ).status,
    ).toBe(200);
    expect((await call('GET', `/v1/conversations/${g}`, { auth: a })).status).toBe(200);
    expect((await call('GET', `/v1/conversations/${g}`, { auth: carol.access_token })).status).toBe(403);
    expect((await call('GET', '/v1/conversations/nope', { auth: a })).status).toBe(404);

    // A webhook endpoint on g, created before the messages so that their events are in its log.
    const hook = await call<{ webhook: { id: string }; secret: string }>('POST', '/v1/webhooks', {
      auth: key,
      payload: {
        url: `http://127.0.0.1:${deadPort}/hook`,
        events: ['message.created', 'message.edited', 'message.deleted'],
        conversation: g,
      },
    });
    expect(hook.status).toBe(201);
    const w = hook.body.webhook.id;

    // Messages: every field of a message filled in once.
    const first = await call<{ message: { id: string; seq: number } }>(
      'POST',
      `/v1/conversations/${g}/messages`,
      {
        auth: a,
        payload: { body: 'hello', client_id: 'c1', mentions: ['bob'] },
      },
    );
    expect(first.status).toBe(201);
    const full = {
      body: 'see',
      reply_to: first.body.message.id,
      attachments: [{ name: 'a.png', mime_type: 'image/png', size: 3, url: 'https://x.test/a.png' }],
    };
    const second = await call<{ message: { id: string; seq: number } }>(
      'POST',
      `/v1/conversations/${g}/messages`,
      {
        auth: a,
        payload: full,
        headers: { 'idempotency-key': 'k2' },
      },
    );
    expect(second.status).toBe(201);
    const replay = await call('POST', `/v1/conversations/${g}/messages`, {
      auth: a,
      payload: full,
      headers: { 'idempotency-key': 'k2' },
    });
    expect(replay.status).toBe(200);
    expect(
      (await call('POST', `/v1/conversations/${g}/messages`, { auth: a, payload: { text: 'x' } })).status,
    ).toBe(400);
    const m = second.body.message.id;
    expect(
      (await call('PATCH', `/v1/conversations/${g}/messages/${m}`, { auth: a, payload: { body: 'edited' } }))
        .status,
    ).toBe(200);
    expect(
      (
        await call('PATCH', `/v1/conversations/${g}/messages/${m}`, {
          auth: bob.access_token,
          payload: { body: 'no' },
        })
      ).status,
    ).toBe(403);
    // Reactions (a kind's actions): the reply with its summary, and the refusals.
    const reactions = `/v1/conversations/${g}/messages/${m}/reactions`;
    expect((await call('POST', reactions, { auth: a, payload: { emoji: '👍' } })).status).toBe(200);
    expect((await call('POST', reactions, { auth: a, payload: { emoji: 'no' } })).status).toBe(400);
    expect((await call('DELETE', `${reactions}/${encodeURIComponent('👍')}`, { auth: a })).status).toBe(200);
    expect((await call('DELETE', `${reactions.replace(m, 'nope')}/x`, { auth: a })).status).toBe(404);
    // A poll: a vote, a refused vote, the close by its author.
    const poll = await call<{ message: { id: string } }>('POST', `/v1/conversations/${g}/messages`, {
      auth: a,
      payload: { body: '', poll: { question: 'Q?', options: ['a', 'b'] } },
    });
    expect(poll.status).toBe(201);
    const pm = `/v1/conversations/${g}/messages/${poll.body.message.id}`;
    expect((await call('POST', `${pm}/votes`, { auth: a, payload: { option: 1 } })).status).toBe(200);
    expect((await call('POST', `${pm}/votes`, { auth: a, payload: { option: 5 } })).status).toBe(400);
    expect((await call('POST', `${pm}/close`, { auth: bob.access_token })).status).toBe(403);
    expect((await call('POST', `${pm}/close`, { auth: a })).status).toBe(200);
    expect((await call('DELETE', `/v1/conversations/${g}/messages/${m}`, { auth: a })).status).toBe(200);
    expect(
      (await call('PATCH', `/v1/conversations/${g}/messages/${m}`, { auth: a, payload: { body: 'again' } }))
        .status,
    ).toBe(409);
    expect((await call('GET', `/v1/conversations/${g}/messages`, { auth: a })).status).toBe(200);
    expect((await call('GET', `/v1/conversations/${g}/events?after_seq=0`, { auth: a })).status).toBe(200);
    expect(
      (await call('POST', `/v1/conversations/${g}/read`, { auth: bob.access_token, payload: { seq: 2 } }))
        .status,
    ).toBe(200);
    expect((await call('GET', `/v1/conversations/${g}/receipts`, { auth: a })).status).toBe(200);
    expect((await call('GET', `/v1/conversations/${g}/receipts?seq=999999`, { auth: a })).status).toBe(400);
    const delivery = `/v1/conversations/${g}/messages/${m}/delivery`;
    expect((await call('GET', delivery, { auth: key })).status).toBe(200);
    expect((await call('GET', delivery, { auth: admin })).status).toBe(400);
    expect((await call('GET', `${delivery}?tenant_id=nope`, { auth: key })).status).toBe(403);
    expect((await call('GET', `/v1/conversations/${g}/messages/nope/delivery`, { auth: key })).status).toBe(
      404,
    );

    // Inbox, a removed entry included.
    expect((await call('DELETE', `/v1/conversations/${g}/members/dave`, { auth: a })).status).toBe(200);
    const dave = await issue('dave');
    const sync = await call<{ entries: { removed?: boolean }[] }>('GET', '/v1/inbox?since=0', {
      auth: dave.access_token,
    });
    expect(sync.body.entries.some((e) => e.removed === true)).toBe(true);
    expect((await call('GET', '/v1/inbox', { auth: a })).status).toBe(200);
    expect((await call('PATCH', `/v1/inbox/${g}`, { auth: a, payload: { pinned: true } })).status).toBe(200);

    // Notices.
    expect(
      (
        await call('POST', '/v1/notices', {
          auth: key,
          payload: { to: ['bob'], title: 'T', body: 'B', data: { n: 1 } },
        })
      ).status,
    ).toBe(201);
    const notices = await call<{ notices: { id: string }[] }>('GET', '/v1/notices', {
      auth: bob.access_token,
    });
    const n = notices.body.notices[0]?.id;
    expect(
      (await call('PATCH', `/v1/notices/${n}`, { auth: bob.access_token, payload: { read: true } })).status,
    ).toBe(200);
    expect(
      (await call('PATCH', '/v1/notices/nope', { auth: bob.access_token, payload: { read: true } })).status,
    ).toBe(404);

    // Webhooks: endpoints, secret rotation, the delivery log, retry, replay, delete.
    const hookUrl = `http://127.0.0.1:${deadPort}/other`;
    const refusedUrl = { url: 'http://169.254.169.254/latest', events: ['message.created'] };
    const refused = await call<{ error: { code: string } }>('POST', '/v1/webhooks', {
      auth: key,
      payload: refusedUrl,
    });
    expect([refused.status, refused.body.error.code]).toEqual([400, 'WEBHOOK_URL_REFUSED']);
    const noConv = await call<{ error: { code: string } }>('POST', '/v1/webhooks', {
      auth: key,
      payload: { url: hookUrl, events: ['notice.sent'], conversation: 'nope' },
    });
    expect([noConv.status, noConv.body.error.code]).toEqual([404, 'CONVERSATION_NOT_FOUND']);
    const spare = await call<{ webhook: { id: string } }>('POST', '/v1/webhooks', {
      auth: key,
      payload: { url: hookUrl, events: ['notice.sent'] },
    });
    expect(spare.status).toBe(201);
    expect((await call('GET', '/v1/webhooks', { auth: key })).status).toBe(200);
    expect((await call('GET', `/v1/webhooks/${w}`, { auth: key })).status).toBe(200);
    const noHook = await call<{ error: { code: string } }>('GET', '/v1/webhooks/wh_nope', { auth: key });
    expect([noHook.status, noHook.body.error.code]).toEqual([404, 'WEBHOOK_NOT_FOUND']);
    // Disabled by hand (disabled_reason, disabled_at filled in), then re-enabled without the filter.
    const off = await call<{ webhook: { disabled_reason: string | null } }>('PATCH', `/v1/webhooks/${w}`, {
      auth: key,
      payload: { enabled: false },
    });
    expect([off.status, off.body.webhook.disabled_reason]).toEqual([200, 'manual']);
    expect(
      (
        await call('PATCH', `/v1/webhooks/${w}`, {
          auth: key,
          payload: { enabled: true, conversation: null },
        })
      ).status,
    ).toBe(200);
    expect(
      (await call('PATCH', `/v1/webhooks/${w}`, { auth: key, payload: { url: refusedUrl.url } })).status,
    ).toBe(400);
    expect(
      (await call('PATCH', '/v1/webhooks/wh_nope', { auth: key, payload: { enabled: false } })).status,
    ).toBe(404);
    expect((await call('POST', `/v1/webhooks/${w}/rotate`, { auth: key })).status).toBe(200);
    expect(
      (await call('POST', `/v1/webhooks/${w}/rotate`, { auth: key, payload: { secret: 'short' } })).status,
    ).toBe(400);
    expect((await call('POST', '/v1/webhooks/wh_nope/rotate', { auth: key })).status).toBe(404);
    // g's sends (and edit, delete) are in the log: a first page of one has a next page.
    const page = await call<{ deliveries: { id: string }[]; next_before: string | null }>(
      'GET',
      `/v1/webhooks/${w}/deliveries?limit=1`,
      { auth: key },
    );
    expect(page.status).toBe(200);
    expect(page.body.deliveries).toHaveLength(1);
    expect(page.body.next_before).not.toBeNull();
    const d = page.body.deliveries[0]?.id;
    expect(
      (
        await call('GET', `/v1/webhooks/${w}/deliveries?before=${page.body.next_before}&status=pending`, {
          auth: key,
        })
      ).status,
    ).toBe(200);
    expect((await call('GET', `/v1/webhooks/${w}/deliveries?before=x`, { auth: key })).status).toBe(404);
    expect((await call('GET', '/v1/webhooks/wh_nope/deliveries', { auth: key })).status).toBe(404);
    expect((await call('POST', `/v1/webhooks/${w}/deliveries/${d}/retry`, { auth: key })).status).toBe(202);
    const noDelivery = await call<{ error: { code: string } }>(
      'POST',
      `/v1/webhooks/${w}/deliveries/999999999/retry`,
      { auth: key },
    );
    expect([noDelivery.status, noDelivery.body.error.code]).toEqual([404, 'WEBHOOK_DELIVERY_NOT_FOUND']);
    const replayed = await call<{ replayed: number }>('POST', `/v1/webhooks/${w}/replay`, {
      auth: key,
      payload: { since: '2000-01-01T00:00:00Z' },
    });
    expect(replayed.status).toBe(202);
    expect(replayed.body.replayed).toBeGreaterThan(0);
    // The copies are in the log too (replay_of filled in).
    expect((await call('GET', `/v1/webhooks/${w}/deliveries`, { auth: key })).status).toBe(200);
    expect(
      (await call('POST', `/v1/webhooks/${w}/replay`, { auth: key, payload: { since: 'yesterday' } })).status,
    ).toBe(400);
    expect(
      (await call('POST', '/v1/webhooks/wh_nope/replay', { auth: key, payload: { since: '1' } })).status,
    ).toBe(404);
    expect((await call('DELETE', `/v1/webhooks/${spare.body.webhook.id}`, { auth: key })).status).toBe(204);

    // Tenant admins and the audit log (the actions above are in it).
    expect((await call('PUT', '/v1/admins/bob', { auth: key })).status).toBe(200);
    expect((await call('PUT', '/v1/admins/nobody', { auth: key })).status).toBe(404);
    expect((await call('GET', '/v1/admins', { auth: key })).status).toBe(200);
    expect((await call('DELETE', '/v1/admins/bob', { auth: key })).status).toBe(204);
    expect((await call('DELETE', '/v1/admins/bob', { auth: key })).status).toBe(404);
    const audit = await call<{ next_before: string | null }>('GET', '/v1/audit?action=webhook.&limit=1', {
      auth: key,
    });
    expect([audit.status, audit.body.next_before === null]).toEqual([200, false]);
    expect((await call('GET', `/v1/audit?before=${audit.body.next_before}`, { auth: key })).status).toBe(200);
    expect((await call('GET', `/v1/audit?tenant_id=${acme.body.tenant_id}`, { auth: admin })).status).toBe(
      200,
    );
    expect((await call('GET', '/v1/audit?since=yesterday', { auth: key })).status).toBe(400);
    expect((await call('GET', '/v1/audit?tenant_id=other', { auth: key })).status).toBe(403);
    expect((await call('DELETE', `/v1/webhooks/${spare.body.webhook.id}`, { auth: key })).status).toBe(404);

    // Push devices (the user's token): a Web Push subscription on the dead port, so the test
    // push is answered (pending, to be retried) without any push service.
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const subscription = {
      endpoint: `http://127.0.0.1:${deadPort}/push/1`,
      keys: {
        p256dh: ecdh.getPublicKey().toString('base64url'),
        auth: randomBytes(16).toString('base64url'),
      },
    };
    const dev = await call<{ device: { id: string } }>('POST', '/v1/devices', {
      auth: a,
      payload: { platform: 'webpush', subscription, locale: 'en' },
    });
    expect(dev.status).toBe(201);
    expect(
      (await call('POST', '/v1/devices', { auth: a, payload: { platform: 'webpush', subscription } })).status,
    ).toBe(200);
    expect(
      (await call('POST', '/v1/devices', { auth: a, payload: { platform: 'apns', token: 'ab'.repeat(32) } }))
        .status,
    ).toBe(400);
    const dv = dev.body.device.id;
    expect((await call('GET', '/v1/devices', { auth: a })).status).toBe(200);
    expect((await call('GET', `/v1/devices/${dv}`, { auth: a })).status).toBe(200);
    expect((await call('GET', '/v1/devices/dev_nope', { auth: a })).status).toBe(404);
    expect((await call('POST', `/v1/devices/${dv}/test`, { auth: a })).status).toBe(200);
    expect((await call('POST', '/v1/devices/dev_nope/test', { auth: a })).status).toBe(404);
    expect((await call('GET', `/v1/devices/${dv}/deliveries?limit=1`, { auth: a })).status).toBe(200);
    expect((await call('GET', `/v1/devices/${dv}/deliveries?before=x`, { auth: a })).status).toBe(400);
    expect((await call('GET', '/v1/devices/dev_nope/deliveries', { auth: a })).status).toBe(404);
    expect((await call('GET', '/v1/push/vapid-key', { auth: a })).status).toBe(200);
    expect((await call('DELETE', `/v1/devices/${dv}`, { auth: a })).status).toBe(204);
    expect((await call('DELETE', `/v1/devices/${dv}`, { auth: a })).status).toBe(404);

    // Threads: a reply (thread_root), its root (reply_count, last_reply_at) in the thread's page.
    const root = first.body.message.id;
    const threadUrl = `/v1/conversations/${g}/threads`;
    expect(
      (
        await call('POST', `/v1/conversations/${g}/messages`, {
          auth: a,
          payload: { body: 't', thread_root: root },
        })
      ).status,
    ).toBe(201);
    expect((await call('GET', `${threadUrl}/${root}/messages`, { auth: a })).status).toBe(200);
    expect((await call('GET', `${threadUrl}/nope/messages`, { auth: a })).status).toBe(404);
    expect((await call('GET', threadUrl, { auth: a })).status).toBe(200);
    expect((await call('POST', `${threadUrl}/${root}/read`, { auth: a, payload: { seq: 1 } })).status).toBe(
      200,
    );
    expect((await call('POST', `${threadUrl}/nope/read`, { auth: a, payload: { seq: 1 } })).status).toBe(404);

    // SSE: an error answer by inject, the stream itself over a real socket.
    expect((await call('GET', '/v1/sse')).status).toBe(401);
    const ctl = new AbortController();
    const stream = await fetch(`${h.url}/v1/sse?access_token=${a}`, { signal: ctl.signal });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(Object.keys(spec.paths['/v1/sse']?.get?.responses['200']?.content ?? {})).toEqual([
      'text/event-stream',
    ]);
    seen.get('openEventStream')?.add(200);
    ctl.abort();
    // Typing without a socket (the SDK's SSE fallback): 204; not a conversation of yours, 404.
    expect((await call('POST', `/v1/conversations/${g}/typing`, { auth: a })).status).toBe(204);
    expect((await call('POST', '/v1/conversations/nope/typing', { auth: a })).status).toBe(404);

    expect(problems).toEqual([]);
    // Every operation of the document was answered with a declared success at least once.
    const missing = Object.values(spec.paths)
      .flatMap((methods) => Object.values(methods))
      .filter((op) => ![...(seen.get(op.operationId ?? '') ?? [])].some((s) => s >= 200 && s < 300))
      .map((op) => op.operationId);
    expect(missing).toEqual([]);
  });
});
