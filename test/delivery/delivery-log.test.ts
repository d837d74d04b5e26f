// The per-message delivery log on both stores: committed, published, delivered (a real
// socket's `delivered` ack), read, webhook outcomes (a local receiver), counts only in large
// conversations, the operator's view with tenant_id, and bad input as typed errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { TokenPair } from '../../src/auth/service.ts';
import type { DeliveryLog } from '../../src/domain/delivery-log.ts';
import { Client, published, until } from '../gateway/harness.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { type Backend, backends } from '../support/stores.ts';
import { type Receiver, startReceiver } from '../webhooks/receiver.ts';

describe.each(backends())('per-message delivery log (%s)', (backend: Backend) => {
  let t: TestHerald;
  let rx: Receiver;
  const sockets: Client[] = [];
  beforeAll(async () => {
    t = await startTestHerald({
      backend,
      listen: true,
      env: {
        HERALD_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
        HERALD_WEBHOOK_POLL_MS: '50',
        HERALD_RECEIPT_DETAIL_MAX: '3',
      },
    });
    rx = await startReceiver();
  }, 60_000);
  afterAll(async () => {
    for (const s of sockets) s.close();
    await t?.close();
    await rx?.close();
  });

  const as = (who: TokenPair | string) => t.bearer(who);
  async function post<T>(url: string, who: TokenPair | string, payload: object): Promise<T> {
    const res = await t.call<T>({ method: 'POST', url, headers: as(who), payload });
    expect(res.status, `${url} ${JSON.stringify(res.body)}`).toBeLessThan(300);
    return res.body;
  }
  const log = (url: string, who: string) => t.call<DeliveryLog>({ method: 'GET', url, headers: as(who) });
  async function socket(token: string): Promise<Client> {
    const c = new Client(
      new WebSocket(`${(t.url as string).replace('http', 'ws')}/v1/ws`, { headers: as(token) }),
    );
    sockets.push(c);
    await c.next('welcome');
    return c;
  }

  async function setup(members: string[]) {
    const tenant = await t.createTenant();
    const users = Object.fromEntries(
      await Promise.all(
        ['alice', ...members].map(async (u) => [u, await t.mintUser(tenant.tenant_id, u)] as const),
      ),
    );
    const conv = (
      await post<{ conversation: { id: string } }>('/v1/conversations', users.alice, {
        kind: 'group',
        title: 'g',
        members,
      })
    ).conversation.id;
    return { tenant, users, conv };
  }

  it('shows committed, published, delivered, read and webhook outcomes', async () => {
    const { tenant, users, conv } = await setup(['bob', 'carol']);
    const hook = await post<{ webhook: { id: string }; secret: string }>('/v1/webhooks', tenant.api_key, {
      url: rx.url,
      events: ['message.created'],
    });
    rx.secret = hook.secret;
    const { message } = await post<{ message: { id: string; seq: number; created_at: string } }>(
      `/v1/conversations/${conv}/messages`,
      users.alice,
      { body: 'hello' },
    );
    const url = `/v1/conversations/${conv}/messages/${message.id}/delivery`;
    await published(t.db, tenant.tenant_id);
    await rx.until((r) => r.some((x) => x.seq === message.seq));

    // Nobody has it yet: committed and published, two recipients (not the sender).
    const first = await until(async () => {
      const res = await log(url, tenant.api_key);
      return res.body.webhooks?.delivered === 1 ? res : null;
    }, 'the webhook outcome in the log');
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      message_id: message.id,
      conversation_id: conv,
      seq: message.seq,
      sender: { type: 'user', user_id: 'alice' },
      committed_at: message.created_at,
      deleted_at: null,
      published: true,
      recipients: {
        count: 2,
        delivered: 0,
        read: 0,
        detailed: true,
        users: [
          { user_id: 'bob', delivered: false, read: false },
          { user_id: 'carol', delivered: false, read: false },
        ],
      },
      webhooks: { delivered: 1, pending: 0, dead: 0 },
      push: { sent: 0, pending: 0, failed: 0, invalid_token: 0, skipped: {} },
    });
    expect(Date.parse(first.body.published_at as string)).toBeGreaterThanOrEqual(
      Date.parse(message.created_at),
    );
    expect(first.body.webhooks.deliveries).toEqual([
      expect.objectContaining({
        endpoint_id: hook.webhook.id,
        status: 'delivered',
        attempts: 1,
        last_status_code: 204,
      }),
    ]);

    // Bob's client acknowledges over a real socket; carol reads over HTTP.
    const bob = await socket(users.bob.access_token);
    bob.send({ type: 'delivered', conversation: conv, seq: message.seq });
    await post(`/v1/conversations/${conv}/read`, users.carol, { seq: message.seq });
    const later = await until(async () => {
      const res = await log(url, tenant.api_key);
      return res.body.recipients.delivered === 2 ? res : null;
    }, 'both recipients delivered');
    expect(later.body.recipients).toEqual({
      count: 2,
      delivered: 2,
      read: 1,
      detailed: true,
      users: [
        { user_id: 'bob', delivered: true, read: false },
        { user_id: 'carol', delivered: true, read: true },
      ],
    });

    // The operator sees the same with the tenant named; the outbox row pruned leaves published.
    const op = await log(`${url}?tenant_id=${tenant.tenant_id}`, t.adminToken);
    expect(op.status).toBe(200);
    expect(op.body.recipients).toEqual(later.body.recipients);
    await t.db.query('DELETE FROM outbox WHERE tenant_id = $1', [tenant.tenant_id]);
    const pruned = await log(url, tenant.api_key);
    expect(pruned.body).toMatchObject({ published: true, published_at: null });
  });

  it('large conversations give counts only; a pending frame is not published', async () => {
    const { tenant, users, conv } = await setup(['bob', 'carol', 'dave', 'erin']);
    await t.herald.relay.stop();
    try {
      const { message } = await post<{ message: { id: string; seq: number } }>(
        `/v1/conversations/${conv}/messages`,
        users.bob,
        { body: 'to many' },
      );
      const res = await log(`/v1/conversations/${conv}/messages/${message.id}/delivery`, tenant.api_key);
      expect(res.body).toMatchObject({
        published: false,
        published_at: null,
        recipients: { count: 4, delivered: 0, read: 0, detailed: false, users: [] },
        webhooks: { delivered: 0, pending: 0, dead: 0, deliveries: [] },
      });
    } finally {
      await t.herald.relay.start();
    }
  });

  it('bad input and other tenants: typed errors', async () => {
    const { tenant, users, conv } = await setup(['bob']);
    const other = await setup(['bob']);
    const { message } = await post<{ message: { id: string } }>(
      `/v1/conversations/${conv}/messages`,
      users.alice,
      {
        body: 'x',
      },
    );
    const url = `/v1/conversations/${conv}/messages/${message.id}/delivery`;
    const code = async (u: string, who: string) => {
      const res = await t.call<{ error: { code: string } }>({ method: 'GET', url: u, headers: as(who) });
      return [res.status, res.body.error?.code];
    };
    expect(await code(url, other.tenant.api_key)).toEqual([404, 'CONVERSATION_NOT_FOUND']);
    expect(await code(`${url}?tenant_id=${tenant.tenant_id}`, other.tenant.api_key)).toEqual([
      403,
      'FORBIDDEN',
    ]);
    expect(await code(`/v1/conversations/${conv}/messages/nope/delivery`, tenant.api_key)).toEqual([
      404,
      'MESSAGE_NOT_FOUND',
    ]);
    expect(await code(url, t.adminToken)).toEqual([400, 'VALIDATION_FAILED']);
    expect(await code(`${url}?tenant_id=${other.tenant.tenant_id}`, t.adminToken)).toEqual([
      404,
      'CONVERSATION_NOT_FOUND',
    ]);
    expect(await code(url, users.alice.access_token)).toEqual([401, 'UNAUTHENTICATED']);
    expect(await code(url, 'hk_wrong')).toEqual([401, 'UNAUTHENTICATED']);
  });
});
