// The HTTP surface itself: operator endpoints, and that every malformed
// request gets a catalog error (never a stack trace or SQL) and writes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows } from '../support/fixtures.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { type Backend, backends } from '../support/stores.ts';

describe.each(backends())('HTTP surface (%s)', (backend: Backend) => {
  let t: TestHerald;
  let tenant: string;
  let alice: Awaited<ReturnType<TestHerald['mintUser']>>;
  let group: string;

  beforeAll(async () => {
    t = await startTestHerald({
      backend,
      env: { HERALD_HTTP_BODY_LIMIT: '4096', HERALD_MAX_BODY_BYTES: '1000' },
    });
    ({ tenant_id: tenant } = await t.createTenant());
    alice = await t.mintUser(tenant, 'alice');
    await t.mintUser(tenant, 'bob');
    const res = await t.call<{ conversation: { id: string } }>({
      method: 'POST',
      url: '/v1/conversations',
      headers: t.bearer(alice),
      payload: { kind: 'group', title: 'g', members: ['bob'] },
    });
    group = res.body.conversation.id;
  });
  afterAll(async () => t?.close());

  it('serves /healthz, /readyz, /metrics and /openapi.json', async () => {
    expect((await t.call({ method: 'GET', url: '/healthz' })).status).toBe(200);
    const ready = await t.call({ method: 'GET', url: '/readyz' });
    expect(ready).toMatchObject({ status: 200, body: { status: 'ready', store: backend } });
    const metrics = await t.call({ method: 'GET', url: '/metrics' });
    expect(metrics.status).toBe(200);
    expect(String(metrics.body)).toContain('herald_http_requests_total');
    const spec = await t.call<{ openapi: string; paths: Record<string, Record<string, unknown>> }>({
      method: 'GET',
      url: '/openapi.json',
    });
    expect(spec.status).toBe(200);
    expect(spec.body.openapi).toMatch(/^3\./);
    expect(Object.keys(spec.body.paths)).toEqual(
      expect.arrayContaining(['/v1/tenants', '/v1/tokens', '/v1/conversations/{id}/messages', '/v1/inbox']),
    );
    const send = spec.body.paths['/v1/conversations/{id}/messages'].post as { requestBody: unknown };
    expect(JSON.stringify(send.requestBody)).toContain('"additionalProperties":false');
  });

  it('answers an unknown route with NOT_FOUND', async () => {
    const res = await t.call({ method: 'GET', url: '/v1/nope' });
    expect(res).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
  });

  const post = (payload: string, headers: Record<string, string> = {}) =>
    t.call({
      method: 'POST',
      url: `/v1/conversations/${group}/messages`,
      headers: { ...t.bearer(alice), 'content-type': 'application/json', ...headers },
      payload,
    });

  it('rejects malformed JSON with BAD_REQUEST', async () => {
    const res = await post('{"body": "hi",');
    expect(res).toMatchObject({ status: 400, body: { error: { code: 'BAD_REQUEST' } } });
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.(js|ts)|SyntaxError|Unexpected/);
  });

  it('rejects wrong types without coercing them', async () => {
    const att = { name: 'a', mime_type: 'text/html', size: 1, url: 'javascript:alert(1)' };
    for (const payload of [
      { body: 123 },
      { body: 'x', mentions: 'bob' },
      { body: 'x', client_id: 7 },
      { body: 'x', attachments: [att] },
      [],
    ]) {
      const res = await post(JSON.stringify(payload));
      expect(res.status, JSON.stringify(payload)).toBe(400);
      expect(res.body).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
    }
    const seq = await t.call({
      method: 'POST',
      url: `/v1/conversations/${group}/read`,
      headers: t.bearer(alice),
      payload: { seq: '1' },
    });
    expect(seq).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED' } } });
  });

  it('rejects a missing body where one is required', async () => {
    const res = await t.call({
      method: 'POST',
      url: `/v1/conversations/${group}/read`,
      headers: t.bearer(alice),
    });
    expect(res).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED' } } });
  });

  it('rejects unknown fields', async () => {
    const res = await post(JSON.stringify({ body: 'hi', admin: true }));
    expect(res).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED' } } });
    const conv = await t.call({
      method: 'POST',
      url: '/v1/conversations',
      headers: t.bearer(alice),
      payload: { kind: 'group', title: 'x', owner: 'mallory' },
    });
    expect(conv).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED' } } });
  });

  it('rejects malformed query strings', async () => {
    for (const q of ['limit=abc', 'limit=0', 'after_seq=-1', 'limit=5&extra=1']) {
      const res = await t.call({
        method: 'GET',
        url: `/v1/conversations/${group}/messages?${q}`,
        headers: t.bearer(alice),
      });
      expect(res, q).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED' } } });
    }
  });

  it('rejects oversized requests and bodies, writing nothing', async () => {
    const before = await countRows(t.db, 'messages', tenant);
    const huge = await post(JSON.stringify({ body: 'x'.repeat(5000) }));
    expect(huge).toMatchObject({ status: 413, body: { error: { code: 'PAYLOAD_TOO_LARGE' } } });
    const big = await post(JSON.stringify({ body: 'x'.repeat(1500) }));
    expect(big).toMatchObject({ status: 413, body: { error: { code: 'BODY_TOO_LARGE' } } });
    expect(await countRows(t.db, 'messages', tenant)).toBe(before);
  });

  it('rejects other content types', async () => {
    const res = await post('body=hi', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(res).toMatchObject({ status: 415, body: { error: { code: 'UNSUPPORTED_MEDIA_TYPE' } } });
  });

  it('maps store errors to INTERNAL without leaking SQL', async () => {
    const res = await t.call({
      method: 'GET',
      url: '/v1/conversations/x/messages',
      headers: t.bearer(alice),
    });
    expect(res.status).toBe(404); // unknown id: a catalog error, not a crash
    expect(res.body).toEqual({ error: { code: 'CONVERSATION_NOT_FOUND', message: expect.any(String) } });
  });

  it('registers host plugins and answers their failures with INTERNAL, no stack or SQL', async () => {
    const withPlugin = await startTestHerald({
      db: t.db,
      plugins: [
        async (app) => {
          app.get('/v1/boom', async () => {
            throw new Error('relation "secret_table" does not exist: SELECT * FROM secret_table');
          });
        },
      ],
    });
    try {
      const res = await withPlugin.call({ method: 'GET', url: '/v1/boom' });
      expect(res).toEqual({
        status: 500,
        body: { error: { code: 'INTERNAL', message: 'Internal error.' } },
        headers: expect.anything(),
      });
      expect(JSON.stringify(res.body)).not.toMatch(/secret_table|SELECT|at /);
    } finally {
      await withPlugin.close();
    }
  });

  it('carries a trace id', async () => {
    const res = await t.call({ method: 'GET', url: '/healthz', headers: { 'x-trace-id': 'trace-123' } });
    expect(res.headers['x-trace-id']).toBe('trace-123');
  });
});
