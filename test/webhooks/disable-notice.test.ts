// An endpoint disabled for failing tells the tenant's admins, on both stores: a `notice`
// frame to the admin's open socket (and their notice list), nothing to other users, an
// audit record in the same transaction; a tenant without admins still gets the record.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { TokenPair } from '../../src/auth/service.ts';
import { Client } from '../gateway/harness.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { type Backend, backends } from '../support/stores.ts';
import { eventually, type Receiver, startReceiver } from './receiver.ts';

const ENV = {
  HERALD_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
  HERALD_WEBHOOK_POLL_MS: '50',
  HERALD_WEBHOOK_RETRY_BASE_MS: '20',
  HERALD_WEBHOOK_RETRY_MAX_MS: '80',
  HERALD_WEBHOOK_TIMEOUT_MS: '400',
  HERALD_WEBHOOK_RETRY_WINDOW_SEC: '1',
};

describe.each(backends())('webhook auto-disable notice (%s)', (backend: Backend) => {
  let t: TestHerald;
  let rx: Receiver;
  const sockets: Client[] = [];
  beforeAll(async () => {
    t = await startTestHerald({ backend, env: ENV, listen: true });
    rx = await startReceiver();
    rx.mode = 'down';
  }, 60_000);
  afterAll(async () => {
    for (const s of sockets) s.close();
    await t?.close();
    await rx?.close();
  });

  const as = (who: TokenPair | string) => t.bearer(who);
  async function socket(who: TokenPair): Promise<Client> {
    const c = new Client(
      new WebSocket(`${(t.url as string).replace('http', 'ws')}/v1/ws`, { headers: as(who) }),
    );
    sockets.push(c);
    await c.next('welcome');
    return c;
  }
  async function failingEndpoint(apiKey: string, sender: TokenPair) {
    const hook = await t.call<{ webhook: { id: string } }>({
      method: 'POST',
      url: '/v1/webhooks',
      headers: as(apiKey),
      payload: { url: rx.url, events: ['message.created'] },
    });
    expect(hook.status).toBe(201);
    const conv = await t.call<{ conversation: { id: string } }>({
      method: 'POST',
      url: '/v1/conversations',
      headers: as(sender),
      payload: { kind: 'group', title: 'g' },
    });
    await t.call({
      method: 'POST',
      url: `/v1/conversations/${conv.body.conversation.id}/messages`,
      headers: as(sender),
      payload: { body: 'never arrives' },
    });
    const id = hook.body.webhook.id;
    await eventually(async () => {
      const res = await t.call<{ webhook: { enabled: boolean } }>({
        method: 'GET',
        url: `/v1/webhooks/${id}`,
        headers: as(apiKey),
      });
      return res.body.webhook.enabled === false;
    });
    return id;
  }

  it('notifies every admin, live and in their notices, and nobody else; the audit log records it', async () => {
    const { tenant_id, api_key } = await t.createTenant();
    const [alice, bob, carol] = await Promise.all(
      ['alice', 'bob', 'carol'].map((u) => t.mintUser(tenant_id, u)),
    );
    for (const u of ['alice', 'carol']) {
      const res = await t.call({ method: 'PUT', url: `/v1/admins/${u}`, headers: as(api_key) });
      expect(res.status).toBe(200);
    }
    const a = await socket(alice);
    const b = await socket(bob);
    const id = await failingEndpoint(api_key, bob);

    const frame = await a.next('notice', (f) => f.notice.data?.type === 'webhook.disabled', 20_000);
    expect(frame.notice).toMatchObject({
      title: 'Webhook endpoint disabled',
      data: { type: 'webhook.disabled', endpoint_id: id, url: rx.url, reason: 'failing' },
      read: false,
    });
    expect(frame.notice.body).toContain(`PATCH /v1/webhooks/${id}`);
    const carols = await t.call<{ notices: { id: string; data: { endpoint_id: string } }[] }>({
      method: 'GET',
      url: '/v1/notices',
      headers: as(carol),
    });
    expect(carols.body.notices.map((n) => n.data.endpoint_id)).toEqual([id]);
    const bobs = await t.call<{ notices: unknown[] }>({
      method: 'GET',
      url: '/v1/notices',
      headers: as(bob),
    });
    expect(bobs.body.notices).toEqual([]);
    expect(b.of('notice')).toEqual([]);

    const audit = await t.call<{
      entries: { action: string; actor: unknown; recipients: number; details: object }[];
    }>({
      method: 'GET',
      url: '/v1/audit?action=webhook.disabled',
      headers: as(api_key),
    });
    expect(audit.body.entries).toEqual([
      expect.objectContaining({
        action: 'webhook.disabled',
        actor: { type: 'system', id: null },
        target: { type: 'webhook', id },
        recipients: 2,
        details: expect.objectContaining({ url: rx.url, reason: 'failing', notice_id: frame.notice.id }),
      }),
    ]);
  });

  it('a tenant without admins: disabled and recorded, no notice', async () => {
    const { tenant_id, api_key } = await t.createTenant();
    const dave = await t.mintUser(tenant_id, 'dave');
    const id = await failingEndpoint(api_key, dave);
    const { rows } = await t.db.query('SELECT 1 FROM notices WHERE tenant_id = $1', [tenant_id]);
    expect(rows).toEqual([]);
    const audit = await t.call<{ entries: { target: { id: string }; recipients: number }[] }>({
      method: 'GET',
      url: '/v1/audit?action=webhook.disabled',
      headers: as(api_key),
    });
    expect(audit.body.entries.map((e) => [e.target.id, e.recipients])).toEqual([[id, 0]]);
  });

  it('admins: typed errors for unknown users and non-admins; another tenant’s user is unknown', async () => {
    const mine = await t.createTenant();
    const other = await t.createTenant();
    await t.mintUser(other.tenant_id, 'erin');
    await t.mintUser(mine.tenant_id, 'frank');
    const call = (method: 'PUT' | 'DELETE', user: string) =>
      t.call<{ error: { code: string } }>({ method, url: `/v1/admins/${user}`, headers: as(mine.api_key) });
    expect([(await call('PUT', 'erin')).status, (await call('PUT', 'erin')).body.error.code]).toEqual([
      404,
      'USER_NOT_FOUND',
    ]);
    expect((await call('DELETE', 'frank')).body.error.code).toBe('USER_NOT_FOUND');
    expect((await call('PUT', 'bad user')).status).toBe(400);
    expect((await call('PUT', 'frank')).status).toBe(200);
    expect((await call('PUT', 'frank')).status).toBe(200); // idempotent
    const list = await t.call<{ admins: { user_id: string }[] }>({
      method: 'GET',
      url: '/v1/admins',
      headers: as(mine.api_key),
    });
    expect(list.body.admins.map((a) => a.user_id)).toEqual(['frank']);
    expect((await call('DELETE', 'frank')).status).toBe(204);
    const others = await t.call<{ admins: unknown[] }>({
      method: 'GET',
      url: '/v1/admins',
      headers: as(other.api_key),
    });
    expect(others.body.admins).toEqual([]);
  });
});
