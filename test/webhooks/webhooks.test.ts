// Webhooks end to end, on both stores: a local receiver (127.0.0.1 only) that is down and
// comes back, a dispatcher that dies mid-retry, replay, dead-letter and disable, the delivery
// log, bad input, URL refusals and tenant isolation. The address policy itself: ssrf.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenPair } from '../../src/auth/service.ts';
import { AddressPolicy } from '../../src/webhooks/address-policy.ts';
import type { Delivery } from '../../src/webhooks/deliveries.ts';
import { WebhookDispatcher } from '../../src/webhooks/dispatcher.ts';
import type { WebhookEndpoint } from '../../src/webhooks/endpoints.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { type Backend, backends } from '../support/stores.ts';
import { eventually, type Received, type Receiver, startReceiver } from './receiver.ts';

const ENV = {
  HERALD_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
  HERALD_WEBHOOK_POLL_MS: '50',
  HERALD_WEBHOOK_RETRY_BASE_MS: '20',
  HERALD_WEBHOOK_RETRY_MAX_MS: '80',
  HERALD_WEBHOOK_TIMEOUT_MS: '400',
  HERALD_WEBHOOK_RETRY_WINDOW_SEC: '600',
};

const ALL = [
  'message.created',
  'message.edited',
  'message.deleted',
  'member.joined',
  'member.left',
  'conversation.created',
  'conversation.read',
  'notice.sent',
];

/** Every event once per webhook-id, and per conversation in strictly increasing seq. */
function checkOrder(received: Received[]): Map<string, number[]> {
  const seen = new Set<string>();
  const perConv = new Map<string, number[]>();
  for (const r of received) {
    expect(r.verified).toBe(true);
    if (seen.has(r.id)) continue;
    seen.add(r.id);
    if (r.seq === null || r.conversation === null) continue;
    const list = perConv.get(r.conversation) ?? [];
    list.push(r.seq);
    perConv.set(r.conversation, list);
  }
  for (const seqs of perConv.values()) expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  return perConv;
}

describe.each(backends())('webhooks (%s)', (backend: Backend) => {
  let t: TestHerald;
  let rx: Receiver;
  beforeAll(async () => {
    t = await startTestHerald({ backend, env: ENV });
    rx = await startReceiver();
  });
  afterAll(async () => {
    await t?.close();
    await rx?.close();
  });

  const key = (apiKey: string) => ({ authorization: `Bearer ${apiKey}` });
  const createHook = (apiKey: string, payload: object) =>
    t.call<{ webhook: WebhookEndpoint; secret: string }>({
      method: 'POST',
      url: '/v1/webhooks',
      headers: key(apiKey),
      payload,
    });
  const deliveries = async (apiKey: string, id: string, q = '?limit=200') =>
    (
      await t.call<{ deliveries: Delivery[]; next_before: string | null }>({
        method: 'GET',
        url: `/v1/webhooks/${id}/deliveries${q}`,
        headers: key(apiKey),
      })
    ).body.deliveries;
  const group = async (who: TokenPair, members: string[]) =>
    (
      await t.call<{ conversation: { id: string } }>({
        method: 'POST',
        url: '/v1/conversations',
        headers: t.bearer(who),
        payload: { kind: 'group', title: 'g', members },
      })
    ).body.conversation.id;
  const send = async (who: TokenPair, conv: string, body: string) =>
    (
      await t.call<{ message: { id: string; seq: number } }>({
        method: 'POST',
        url: `/v1/conversations/${conv}/messages`,
        headers: t.bearer(who),
        payload: { body },
      })
    ).body.message;

  it('a receiver down for a while gets every event once per webhook-id, in order, signed', async () => {
    const { tenant_id, api_key } = await t.createTenant();
    const alice = await t.mintUser(tenant_id, 'alice');
    const bob = await t.mintUser(tenant_id, 'bob');
    await t.mintUser(tenant_id, 'carol');
    const made = await createHook(api_key, { url: rx.url, events: ALL });
    expect(made.status).toBe(201);
    expect(made.body.secret).toMatch(/^whsec_/);
    rx.secret = made.body.secret;
    const hook = made.body.webhook.id;
    // Conversation one fails first; two is delivered meanwhile: a failure blocks only its stream.
    let failing = '';
    rx.mode = (r) => {
      const conv = r.conversation ?? (r.body.data as { conversation_id?: string }).conversation_id;
      return conv === failing || failing === '*' ? 'down' : 'up';
    };
    failing = '*';
    const one = await group(alice, ['bob']);
    const two = await group(alice, ['bob']);
    failing = one;
    for (let i = 0; i < 4; i++) await send(alice, one, `one ${i}`);
    const m = await send(alice, two, 'two 0');
    await t.call({
      method: 'PATCH',
      url: `/v1/conversations/${two}/messages/${m.id}`,
      headers: t.bearer(alice),
      payload: { body: 'two 0 edited' },
    });
    await t.call({
      method: 'DELETE',
      url: `/v1/conversations/${two}/messages/${m.id}`,
      headers: t.bearer(alice),
    });
    await t.call({
      method: 'POST',
      url: `/v1/conversations/${two}/members`,
      headers: t.bearer(alice),
      payload: { user_ids: ['carol'] },
    });
    await t.call({
      method: 'POST',
      url: `/v1/conversations/${two}/read`,
      headers: t.bearer(bob),
      payload: { seq: 3 },
    });
    await t.call({
      method: 'POST',
      url: '/v1/notices',
      headers: key(api_key),
      payload: { to: ['bob'], title: 'hi', body: 'there' },
    });
    // Two's events (created, joined×… , message, edit, delete, member) get through while one is down.
    await rx.until((r) => r.some((x) => x.type === 'member.joined' && x.conversation === two));
    await eventually(async () => {
      const log = await deliveries(api_key, hook);
      const head = log.find((d) => d.conversation === one && d.status === 'pending' && d.attempts >= 2);
      return head && log.filter((d) => d.conversation === one).every((d) => d.status === 'pending');
    });
    expect(rx.received.some((r) => r.conversation === one)).toBe(false);
    failing = '';
    const log = await eventually(async () => {
      const all = await deliveries(api_key, hook);
      return all.every((d) => d.status === 'delivered') && all.length > 0 ? all : null;
    });
    const types = new Set(log.map((d) => d.type));
    for (const ty of ['conversation.created', 'message.created', 'message.edited', 'message.deleted'])
      expect(types.has(ty)).toBe(true);
    for (const ty of ['member.joined', 'conversation.read', 'notice.sent']) expect(types.has(ty)).toBe(true);
    const perConv = checkOrder(rx.received);
    expect(new Set(rx.received.map((r) => r.id))).toEqual(new Set(log.map((d) => d.webhook_id)));
    expect(perConv.get(one)).toEqual([1, 2, 3, 4, 5]);
    // The failed head shows its history: several attempts, then a 2xx.
    const head = log.find((d) => d.conversation === one && d.seq === 1) as Delivery;
    expect(head.attempts).toBeGreaterThanOrEqual(3);
    expect(head).toMatchObject({ status: 'delivered', last_status_code: 204, last_error: null });
    expect(head.last_latency_ms).toBeGreaterThanOrEqual(0);
    const reads = rx.received.filter((r) => r.type === 'conversation.read').map((r) => r.body.data);
    expect(reads).toContainEqual({ tenant_id, conversation_id: two, user_id: 'bob', seq: 3 });
    // A sender's own marker moving to their message is not a read.
    expect(reads).not.toContainEqual(expect.objectContaining({ user_id: 'alice', seq: 2 }));
    const notice = rx.received.find((r) => r.type === 'notice.sent') as Received;
    expect(notice.body.data).toMatchObject({ notice: { title: 'hi', recipients: 1 } });

    // Replay from a cursor: everything after the third delivery again, same webhook-ids.
    const ascending = [...log].reverse();
    const cursor = ascending[2].id;
    const before = rx.received.length;
    const rep = await t.call<{ replayed: number }>({
      method: 'POST',
      url: `/v1/webhooks/${hook}/replay`,
      headers: key(api_key),
      payload: { since: cursor },
    });
    expect(rep.status).toBe(202);
    expect(rep.body.replayed).toBe(ascending.length - 3);
    await rx.until((r) => r.length === before + ascending.length - 3);
    const again = rx.received.slice(before).map((r) => r.id);
    expect(new Set(again)).toEqual(new Set(ascending.slice(3).map((d) => d.webhook_id)));
    checkOrder(rx.received.slice(before));
    // The log records each copy's outcome (recorded just after the receiver answered).
    await eventually(async () => {
      const copies = await deliveries(api_key, hook, '?limit=200&status=delivered');
      return copies.filter((d) => d.replay_of !== null).length === ascending.length - 3;
    });
  });

  it('a dispatcher that dies mid-retry loses nothing: another node on the same store resumes', async () => {
    const { tenant_id, api_key } = await t.createTenant();
    const alice = await t.mintUser(tenant_id, 'alice');
    await t.mintUser(tenant_id, 'bob');
    const rx2 = await startReceiver();
    try {
      const made = await createHook(api_key, { url: rx2.url, events: ['message.created'] });
      rx2.secret = made.body.secret;
      const hook = made.body.webhook.id;
      rx2.mode = 'down';
      const conv = await group(alice, ['bob']);
      for (let i = 0; i < 3; i++) await send(alice, conv, `m${i}`);
      await eventually(async () => (await deliveries(api_key, hook)).some((d) => d.attempts >= 2));
      // The next attempt hangs: the node dies with it in flight and its lease held.
      rx2.mode = 'hang';
      await eventually(async () => {
        const { rows } = await t.db.query(
          'SELECT 1 FROM webhook_deliveries WHERE endpoint_id = $1 AND lease_until > now()',
          [hook],
        );
        return rows.length > 0;
      });
      await t.herald.webhooks.stop({ abandon: true });
      rx2.mode = 'up';
      const other = await startTestHerald({ db: t.db, env: ENV });
      try {
        await rx2.until((r) => new Set(r.map((x) => x.id)).size === 3);
        const perConv = checkOrder(rx2.received);
        expect(perConv.get(conv)).toEqual([2, 3, 4]);
        await eventually(async () =>
          (await deliveries(api_key, hook)).every((d) => d.status === 'delivered'),
        );
      } finally {
        await other.close();
        await t.herald.webhooks.start();
      }
    } finally {
      await rx2.close();
    }
  });

  it('two nodes dispatching at once keep each conversation in order and lose no event', async () => {
    const second = await startTestHerald({ db: t.db, env: ENV });
    const rx4 = await startReceiver();
    try {
      const { tenant_id, api_key } = await t.createTenant();
      const alice = await t.mintUser(tenant_id, 'alice');
      await t.mintUser(tenant_id, 'bob');
      const made = await createHook(api_key, { url: rx4.url, events: ['message.created'] });
      rx4.secret = made.body.secret;
      // Every fourth request fails once: retries interleave with fresh heads on both nodes.
      let n = 0;
      rx4.mode = () => (++n % 4 === 0 ? 'down' : 'up');
      const convs = [await group(alice, ['bob']), await group(alice, ['bob'])];
      for (let i = 0; i < 6; i++) for (const c of convs) await send(alice, c, `m${i}`);
      await rx4.until((r) => new Set(r.map((x) => x.id)).size === 12);
      // A stream has one attempt at a time, so even a repeat (a lease lost under load) comes
      // before the next event of its conversation: first arrivals are in seq order.
      const perConv = checkOrder(rx4.received);
      for (const c of convs) expect(perConv.get(c)).toEqual(Array.from({ length: 6 }, (_, i) => i + 2));
    } finally {
      await second.close();
      await rx4.close();
    }
  });

  it('dead-letters after the retry window, disables a failing endpoint, re-enables on PATCH', async () => {
    const short = await startTestHerald({ db: t.db, env: { ...ENV, HERALD_WEBHOOK_RETRY_WINDOW_SEC: '1' } });
    await t.herald.webhooks.stop();
    const rx3 = await startReceiver();
    try {
      const { tenant_id, api_key } = await t.createTenant();
      const alice = await t.mintUser(tenant_id, 'alice');
      const made = await createHook(api_key, { url: rx3.url, events: ['message.created'] });
      rx3.secret = made.body.secret;
      const hook = made.body.webhook.id;
      rx3.mode = 'down';
      const conv = await group(alice, []);
      await send(alice, conv, 'lost');
      const dead = await eventually(async () => {
        const log = await deliveries(api_key, hook, '?status=dead');
        return log.length > 0 ? log : null;
      });
      expect(dead[0]).toMatchObject({ status: 'dead', last_status_code: 503, next_attempt_at: null });
      const got = await t.call<{ webhook: WebhookEndpoint }>({
        method: 'GET',
        url: `/v1/webhooks/${hook}`,
        headers: key(api_key),
      });
      expect(got.body.webhook).toMatchObject({ enabled: false, disabled_reason: 'failing' });
      // Disabled: new events are not enqueued for it.
      await send(alice, conv, 'while disabled');
      expect((await deliveries(api_key, hook)).map((d) => d.seq)).toEqual([2]);
      rx3.mode = 'up';
      const on = await t.call<{ webhook: WebhookEndpoint }>({
        method: 'PATCH',
        url: `/v1/webhooks/${hook}`,
        headers: key(api_key),
        payload: { enabled: true },
      });
      expect(on.body.webhook).toMatchObject({ enabled: true, disabled_reason: null, failing_since: null });
      const retried = await t.call<{ delivery: Delivery }>({
        method: 'POST',
        url: `/v1/webhooks/${hook}/deliveries/${dead[0].id}/retry`,
        headers: key(api_key),
      });
      expect(retried.status).toBe(202);
      await send(alice, conv, 'after');
      await rx3.until((r) => r.length === 2);
      expect(rx3.received.map((r) => r.seq)).toEqual([2, 4]);
    } finally {
      await short.close();
      await rx3.close();
      await t.herald.webhooks.start();
    }
  });

  it('finished deliveries leave the log after the retention; pending ones stay', async () => {
    const { tenant_id, api_key } = await t.createTenant();
    const alice = await t.mintUser(tenant_id, 'alice');
    await t.herald.webhooks.stop();
    try {
      const made = await createHook(api_key, { url: rx.url, events: ['message.created'] });
      const conv = await group(alice, []);
      await send(alice, conv, 'old, delivered');
      await send(alice, conv, 'old, pending');
      await t.db.query(
        `UPDATE webhook_deliveries SET created_at = now() - interval '31 days',
                status = CASE WHEN seq = 2 THEN 'delivered' ELSE status END
          WHERE tenant_id = $1`,
        [tenant_id],
      );
      const pruner = new WebhookDispatcher({
        db: t.db,
        config: t.herald.config.webhooks,
        policy: new AddressPolicy(['127.0.0.1']),
      });
      await pruner.drain();
      const left = await deliveries(api_key, made.body.webhook.id);
      expect(left.map((d) => [d.seq, d.status])).toEqual([[3, 'pending']]);
    } finally {
      await t.herald.webhooks.start();
    }
  });

  it('create and update refuse loopback forms other than the allowed 127.0.0.1 (SSRF)', async () => {
    const { api_key } = await t.createTenant();
    for (const url of ['http://127.0.0.2:9/h', 'http://[::1]:9/h', 'http://localhost:9/h']) {
      const res = await createHook(api_key, { url, events: ['message.created'] });
      expect(res.status, url).toBe(400);
      expect((res.body as unknown as { error: { code: string } }).error.code).toBe('WEBHOOK_URL_REFUSED');
    }
    const ok = await createHook(api_key, { url: 'http://127.0.0.1:9/h', events: ['message.created'] });
    expect(ok.status).toBe(201);
    const patched = await t.call<{ error: { code: string } }>({
      method: 'PATCH',
      url: `/v1/webhooks/${ok.body.webhook.id}`,
      headers: key(api_key),
      payload: { url: 'http://[::1]:9/h' },
    });
    expect(patched.body.error.code).toBe('WEBHOOK_URL_REFUSED');
  });

  it('bad input gets catalog errors; another tenant cannot see or touch an endpoint', async () => {
    const a = await t.createTenant();
    const b = await t.createTenant();
    const bad = async (payload: object) =>
      (await createHook(a.api_key, payload)).body as unknown as { error: { code: string } };
    expect((await bad({ url: rx.url, events: [] })).error.code).toBe('VALIDATION_FAILED');
    expect((await bad({ url: rx.url, events: ['nope'] })).error.code).toBe('VALIDATION_FAILED');
    expect((await bad({ url: rx.url, events: ALL, secret: 'abc' })).error.code).toBe('VALIDATION_FAILED');
    expect((await bad({ url: rx.url, events: ALL, conversation: 'none' })).error.code).toBe(
      'CONVERSATION_NOT_FOUND',
    );
    expect((await bad({ url: 'ftp://127.0.0.1/x', events: ALL })).error.code).toBe('WEBHOOK_URL_REFUSED');
    const anon = await t.call({ method: 'GET', url: '/v1/webhooks' });
    expect(anon.status).toBe(401);
    const given = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    const made = await createHook(a.api_key, { url: rx.url, events: ['message.created'], secret: given });
    expect(made.body.secret).toBe(given);
    const id = made.body.webhook.id;
    const listed = await t.call<{ webhooks: WebhookEndpoint[] }>({
      method: 'GET',
      url: '/v1/webhooks',
      headers: key(a.api_key),
    });
    expect(listed.body.webhooks.map((w) => w.id)).toEqual([id]);
    expect(JSON.stringify(listed.body)).not.toContain(given);
    const rotated = await t.call<{ secret: string }>({
      method: 'POST',
      url: `/v1/webhooks/${id}/rotate`,
      headers: key(a.api_key),
    });
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(given);
    const codeOf = async (method: 'GET' | 'PATCH' | 'DELETE' | 'POST', url: string, payload?: object) =>
      (await t.call<{ error: { code: string } }>({ method, url, headers: key(b.api_key), payload })).body
        .error?.code;
    for (const [method, url, payload] of [
      ['GET', `/v1/webhooks/${id}`],
      ['PATCH', `/v1/webhooks/${id}`, { enabled: false }],
      ['DELETE', `/v1/webhooks/${id}`],
      ['POST', `/v1/webhooks/${id}/rotate`],
      ['GET', `/v1/webhooks/${id}/deliveries`],
      ['POST', `/v1/webhooks/${id}/replay`, { since: '1' }],
      ['POST', `/v1/webhooks/${id}/deliveries/1/retry`],
    ] as const)
      expect(await codeOf(method, url, payload)).toBe('WEBHOOK_NOT_FOUND');
    const own = (method: 'GET' | 'POST', url: string, payload?: object) =>
      t.call<{ error: { code: string } }>({ method, url, headers: key(a.api_key), payload });
    expect((await own('POST', `/v1/webhooks/${id}/deliveries/999999/retry`)).body.error.code).toBe(
      'WEBHOOK_DELIVERY_NOT_FOUND',
    );
    expect((await own('POST', `/v1/webhooks/${id}/replay`, { since: 'yesterday' })).body.error.code).toBe(
      'VALIDATION_FAILED',
    );
    expect((await own('GET', `/v1/webhooks/${id}/deliveries?before=x`)).body.error.code).toBe(
      'WEBHOOK_DELIVERY_NOT_FOUND',
    );
    const del = await t.call({ method: 'DELETE', url: `/v1/webhooks/${id}`, headers: key(a.api_key) });
    expect(del.status).toBe(204);
    expect((await own('GET', `/v1/webhooks/${id}`)).body.error.code).toBe('WEBHOOK_NOT_FOUND');
  });
});
