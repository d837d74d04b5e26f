// A node's phases as the HTTP API shows them (in process; the real SIGTERM path is
// test/deploy/shutdown.test.ts): running → draining (/readyz 503 with the reason, every
// other route still served) → closing (every request refused in the catalog's shape, with
// Connection: close, instead of Fastify's own 503 body).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHerald, type TestHerald } from '../support/herald.ts';

describe('readiness through drain and close', () => {
  let t: TestHerald;
  beforeAll(async () => {
    t = await startTestHerald();
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  it('running → draining → closing', async () => {
    const { tenant_id } = await t.createTenant();
    const alice = await t.mintUser(tenant_id, 'alice');
    expect((await t.call({ method: 'GET', url: '/readyz' })).status).toBe(200);

    t.herald.lifecycle.drain('SIGTERM', 30_000);
    const ready = await t.call<{ error: { code: string; message: string } }>({
      method: 'GET',
      url: '/readyz',
    });
    expect(ready.status).toBe(503);
    expect(ready.headers['retry-after']).toBe('1');
    expect(ready.body.error).toEqual({
      code: 'NOT_READY',
      message: 'The node is draining (SIGTERM) and stops within 30 s: send new requests to another node.',
    });
    expect((await t.call({ method: 'GET', url: '/healthz' })).status).toBe(200);
    expect((await t.call({ method: 'GET', url: '/v1/inbox', headers: t.bearer(alice) })).status).toBe(200);
    // A second signal does not restart the drain.
    t.herald.lifecycle.drain('SIGINT', 1_000);
    expect(
      (await t.call<{ error: { message: string } }>({ method: 'GET', url: '/readyz' })).body.error.message,
    ).toContain('SIGTERM');

    t.herald.lifecycle.closing();
    for (const url of ['/v1/inbox', '/healthz', '/no/such/route']) {
      const res = await t.call<{ error: { code: string } }>({ method: 'GET', url, headers: t.bearer(alice) });
      expect(res.status, url).toBe(503);
      expect(res.body.error.code).toBe('NOT_READY');
      expect(res.headers.connection).toBe('close');
      expect(res.headers['x-trace-id']).toBeTruthy();
    }
  });
});
