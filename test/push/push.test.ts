// Offline push end to end, on both stores, with Web Push against a local push service that
// verifies VAPID and decrypts each payload with the subscription's own keys. The decision
// rule (delay, coalescing per conversation, connected readers, muted conversations, own
// messages, mentions first), dead tokens, retries, the delivery log, the per-message summary
// and a dispatcher that dies mid-way.

import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { TokenPair } from '../../src/auth/service.ts';
import type { PushConfig } from '../../src/config.ts';
import { markDelivered } from '../../src/domain/delivery-marker.ts';
import { type PushDelivery, pushSummaryForMessage } from '../../src/push/deliveries.ts';
import type { Device } from '../../src/push/devices.ts';
import { createPush } from '../../src/push/index.ts';
import { webPushTopic } from '../../src/push/providers/webpush.ts';
import { AddressPolicy } from '../../src/webhooks/address-policy.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { type Backend, backends } from '../support/stores.ts';
import {
  type BrowserSubscription,
  settled,
  startWebPushService,
  until,
  type WebPushService,
} from './fakes.ts';

const DELAY_MS = 600;
const SUBJECT = 'mailto:ops@example.com';
const ENV = {
  HERALD_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
  HERALD_PUSH_DELAY_MS: String(DELAY_MS),
  HERALD_PUSH_POLL_MS: '50',
  HERALD_PUSH_TIMEOUT_MS: '1000',
  HERALD_PUSH_RETRY_BASE_MS: '20',
  HERALD_PUSH_RETRY_MAX_MS: '60',
  HERALD_VAPID_SUBJECT: SUBJECT,
};

describe.each(backends())('offline push over Web Push (%s)', (backend: Backend) => {
  let t: TestHerald;
  let svc: WebPushService;
  beforeAll(async () => {
    svc = await startWebPushService({ subject: SUBJECT });
    t = await startTestHerald({ backend, env: ENV, listen: true });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await svc?.close();
  });

  const call = <T>(who: TokenPair, method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) =>
    t.call<T>({ method, url, headers: t.bearer(who), ...(payload ? { payload } : {}) });
  const group = async (who: TokenPair, title: string, members: string[]) =>
    (
      await call<{ conversation: { id: string } }>(who, 'POST', '/v1/conversations', {
        kind: 'group',
        title,
        members,
      })
    ).body.conversation.id;
  const send = async (who: TokenPair, conv: string, body: string, mentions?: string[]) => {
    const res = await call<{ message: { id: string; seq: number } }>(
      who,
      'POST',
      `/v1/conversations/${conv}/messages`,
      {
        body,
        ...(mentions ? { mentions } : {}),
      },
    );
    expect(res.status).toBe(201);
    return res.body.message;
  };
  const subscribe = async (
    who: TokenPair,
    name: string,
  ): Promise<{ device: Device; sub: BrowserSubscription }> => {
    const sub = svc.subscribe(name);
    const res = await call<{ device: Device }>(who, 'POST', '/v1/devices', {
      platform: 'webpush',
      subscription: { endpoint: sub.endpoint, keys: sub.keys },
    });
    expect(res.status).toBe(201);
    return { device: res.body.device, sub };
  };
  const pushesTo = (sub: BrowserSubscription) => svc.received.filter((r) => sub.endpoint.endsWith(r.path));
  const log = async (who: TokenPair, device: string) =>
    (await call<{ deliveries: PushDelivery[] }>(who, 'GET', `/v1/devices/${device}/deliveries?limit=200`))
      .body.deliveries;
  const users = async (tenant: string, ...names: string[]) =>
    Promise.all(names.map((n) => t.mintUser(tenant, n)));
  /** Another node's dispatcher on the same store (optionally with other push settings). */
  const dispatcher = async (push: Partial<PushConfig> = {}) =>
    (
      await createPush({
        db: t.db,
        config: { ...t.herald.config, push: { ...t.herald.config.push, ...push } },
        policy: new AddressPolicy(t.herald.config.webhooks.allowHosts),
        connections: t.herald.adapters.connections,
        metrics: new Registry(),
        onError: () => {},
      })
    ).dispatcher;

  it('a user with no open socket gets exactly one coalesced push per conversation after the delay', async () => {
    const { tenant_id } = await t.createTenant();
    const [alice, bob] = await users(tenant_id, 'alice', 'bob');
    const { device, sub } = await subscribe(bob, 'bob');
    const one = await group(alice, 'Team', ['bob']);
    const two = await group(alice, 'Other', ['bob']);
    // Under load one send can take longer than the delay: the dispatcher is held during the
    // burst so that it is one burst whatever the machine's speed (each pending row still waits
    // out its own delay from its commit).
    await t.herald.push.dispatcher.stop();
    const sentAt = Date.now();
    const m1 = await send(alice, one, 'first');
    const m2 = await send(alice, one, 'second');
    const m3 = await send(alice, one, 'third');
    await send(alice, two, 'elsewhere');
    await t.herald.push.dispatcher.start();
    await until(() => pushesTo(sub).length >= 2, 20_000, 'two pushes');
    // Not before the delay: the recipient had that long to read.
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(DELAY_MS);
    await settled(t.db, tenant_id);
    const got = pushesTo(sub);
    expect(got).toHaveLength(2);
    const { body: vapid } = await call<{ public_key: string }>(bob, 'GET', '/v1/push/vapid-key');
    for (const r of got) {
      expect(r.vapidProblem).toBeNull();
      expect(r.vapidKey).toBe(vapid.public_key);
      expect(r.headers['content-encoding']).toBe('aes128gcm');
      expect(r.headers.urgency).toBe('high');
      expect(Number(r.headers.ttl)).toBeGreaterThan(0);
    }
    const first = got.find(
      (r) => (r.payload?.data as Record<string, string> | undefined)?.conversation_id === one,
    );
    expect(first?.headers.topic).toBe(webPushTopic(one));
    // The newest message, the conversation's unread count, and the user's total badge.
    expect(first?.payload).toMatchObject({
      kind: 'message',
      title: 'Team',
      body: 'alice: third',
      badge: 4,
      tag: one,
      data: { type: 'message', conversation_id: one, seq: String(m3.seq), message_id: m3.id, unread: '3' },
    });
    const rows = await log(bob, device.id);
    expect(rows.filter((d) => d.status === 'sent')).toHaveLength(2);
    const row = rows.find((d) => d.conversation === one);
    expect(row).toMatchObject({
      status: 'sent',
      kind: 'message',
      provider_status: 201,
      attempts: 1,
      reason: null,
    });
    expect(row?.push_id).toBe(first?.payload?.push_id);
    expect(row?.latency_ms).toBeGreaterThanOrEqual(0);
    expect([row?.first_seq, row?.last_seq]).toEqual([m1.seq, m3.seq]);
    for (const m of [m1, m2, m3])
      expect(await pushSummaryForMessage(t.db, tenant_id, one, m.seq)).toEqual({
        sent: 1,
        pending: 0,
        failed: 0,
        invalid_token: 0,
        skipped: {},
      });
    // A later message is a new push, under the same collapse key.
    await send(alice, one, 'fourth');
    await until(() => pushesTo(sub).length === 3, 20_000, 'third push');
    expect(pushesTo(sub)[2].headers.topic).toBe(webPushTopic(one));
  });

  it('a connected reader, a reader who read in time, the sender and a muted conversation get none', async () => {
    const { tenant_id, api_key } = await t.createTenant();
    const [alice, bob, carol, dave] = await users(tenant_id, 'alice', 'bob', 'carol', 'dave');
    const subs = {
      alice: await subscribe(alice, 'alice'),
      bob: await subscribe(bob, 'bob'),
      carol: await subscribe(carol, 'carol'),
      dave: await subscribe(dave, 'dave'),
    };
    const conv = await group(alice, 'Quiet', ['bob', 'carol', 'dave']);
    // Carol is connected (a real WebSocket); dave muted the conversation.
    const ws = new WebSocket(`${t.url?.replace('http', 'ws')}/v1/ws?access_token=${carol.access_token}`);
    await new Promise<void>((ok, fail) => {
      ws.on('message', (raw) => {
        if (JSON.parse(String(raw)).type === 'welcome') ok();
      });
      ws.on('error', fail);
    });
    expect((await call(dave, 'PATCH', `/v1/inbox/${conv}`, { muted: true })).status).toBe(200);
    try {
      const m = await send(alice, conv, 'hello all');
      // Bob reads within the delay.
      expect((await call(bob, 'POST', `/v1/conversations/${conv}/read`, { seq: m.seq })).status).toBe(200);
      // The pending decision was committed with the message: settled waits out the delay.
      await settled(t.db, tenant_id);
      for (const s of Object.values(subs)) expect(pushesTo(s.sub)).toEqual([]);
      // The log says why carol's and dave's phones stayed silent; the reader and the sender have no row.
      expect((await log(carol, subs.carol.device.id)).map((d) => [d.status, d.reason])).toEqual([
        ['skipped', 'online'],
      ]);
      expect((await log(dave, subs.dave.device.id)).map((d) => [d.status, d.reason])).toEqual([
        ['skipped', 'muted'],
      ]);
      expect(await log(bob, subs.bob.device.id)).toEqual([]);
      expect(await log(alice, subs.alice.device.id)).toEqual([]);
      const summary = { sent: 0, pending: 0, failed: 0, invalid_token: 0, skipped: { online: 1, muted: 1 } };
      expect(await pushSummaryForMessage(t.db, tenant_id, conv, m.seq)).toEqual(summary);
      // The tenant backend reads the same in the message's delivery log.
      const delivery = await t.call<{ push: unknown }>({
        method: 'GET',
        url: `/v1/conversations/${conv}/messages/${m.id}/delivery`,
        headers: { authorization: `Bearer ${api_key}` },
      });
      expect(delivery.status).toBe(200);
      expect(delivery.body.push).toEqual(summary);
    } finally {
      ws.close();
    }
    // Once carol's socket is gone, her next unread message rings.
    let open = true;
    while (open) {
      open = (await t.herald.adapters.connections.ofUser(tenant_id, 'carol', Date.now())).length > 0;
      if (open) await new Promise((r) => setTimeout(r, 20));
    }
    await send(alice, conv, 'now you are away');
    await settled(t.db, tenant_id);
    expect(pushesTo(subs.carol.sub)).toHaveLength(1);
    expect(pushesTo(subs.dave.sub)).toEqual([]);
  });

  it('a message a client of the user acknowledged (delivered) within the delay is not pushed', async () => {
    const { tenant_id } = await t.createTenant();
    const [alice, bob] = await users(tenant_id, 'alice', 'bob');
    const { device, sub } = await subscribe(bob, 'bob-delivered');
    const conv = await group(alice, 'Seen elsewhere', ['bob']);
    const m = await send(alice, conv, 'on your laptop already');
    // What bob's SDK's coalesced `delivered` frame does (the frame itself: test/delivery).
    await markDelivered(t.herald.deps, tenant_id, 'bob', conv, m.seq);
    await settled(t.db, tenant_id);
    expect(pushesTo(sub)).toEqual([]);
    expect((await log(bob, device.id)).map((d) => [d.status, d.reason])).toEqual([['skipped', 'delivered']]);
    // A later message nobody acknowledged rings.
    await send(alice, conv, 'and now?');
    await settled(t.db, tenant_id);
    expect(pushesTo(sub)).toHaveLength(1);
  });

  it('a message deleted within the delay is not pushed', async () => {
    const { tenant_id } = await t.createTenant();
    const [alice, bob] = await users(tenant_id, 'alice', 'bob');
    const { device, sub } = await subscribe(bob, 'bob-deleted');
    const conv = await group(alice, 'Oops', ['bob']);
    const m = await send(alice, conv, 'wrong chat');
    const del = await t.call({
      method: 'DELETE',
      url: `/v1/conversations/${conv}/messages/${m.id}`,
      headers: t.bearer(alice),
    });
    expect(del.status).toBeLessThan(300);
    await settled(t.db, tenant_id);
    expect(pushesTo(sub)).toEqual([]);
    expect(await log(bob, device.id)).toEqual([]);
  });

  it('a mention is pushed at once; the others wait for the delay', async () => {
    const { tenant_id } = await t.createTenant();
    const [alice, bob, dave] = await users(tenant_id, 'alice', 'bob', 'dave');
    const b = await subscribe(bob, 'bob');
    const d = await subscribe(dave, 'dave');
    const conv = await group(alice, 'Mentions', ['bob', 'dave']);
    // A dispatcher whose delay is a minute: only the mention can be decided while it runs.
    await t.herald.push.dispatcher.stop();
    const slow = await dispatcher({ delayMs: 60_000 });
    await slow.start();
    try {
      const m = await send(alice, conv, '@dave look', ['dave']);
      await until(() => pushesTo(d.sub).length === 1, 20_000, 'the mention push');
      let forDave = (await log(dave, d.device.id))[0];
      while (forDave?.status !== 'sent') {
        await new Promise((r) => setTimeout(r, 20));
        forDave = (await log(dave, d.device.id))[0];
      }
      expect(forDave).toMatchObject({ status: 'sent', first_seq: m.seq, last_seq: m.seq });
      expect(await log(bob, b.device.id)).toEqual([]);
      const { rows } = await t.db.query('SELECT mentions_done FROM push_pending WHERE tenant_id = $1', [
        tenant_id,
      ]);
      expect(rows).toEqual([{ mentions_done: true }]);
    } finally {
      await slow.stop();
      await t.herald.push.dispatcher.start();
    }
    // The node's own dispatcher (delay 600 ms) decides the rest; dave's decision stands.
    await until(() => pushesTo(b.sub).length === 1, 20_000, 'the delayed push');
    await settled(t.db, tenant_id);
    expect(pushesTo(d.sub)).toHaveLength(1);
    expect((await log(bob, b.device.id)).map((r) => r.status)).toEqual(['sent']);
  });

  it('a dead subscription is removed; a failing push service is retried; the log shows both', async () => {
    const { tenant_id } = await t.createTenant();
    const [alice, bob, carol] = await users(tenant_id, 'alice', 'bob', 'carol');
    const dead = await subscribe(bob, 'bob-dead');
    const flaky = await subscribe(carol, 'carol-flaky');
    let failures = 2;
    svc.mode = (path) => {
      if (dead.sub.endpoint.endsWith(path)) return 'gone';
      if (flaky.sub.endpoint.endsWith(path) && failures > 0) {
        failures--;
        return 'down';
      }
      return 'ok';
    };
    try {
      const conv = await group(alice, 'Faults', ['bob', 'carol']);
      const m = await send(alice, conv, 'anyone?');
      await settled(t.db, tenant_id);
      const [gone] = await log(bob, dead.device.id);
      expect(gone).toMatchObject({ status: 'invalid_token', provider_status: 410, attempts: 1 });
      const { body } = await call<{ device: Device }>(bob, 'GET', `/v1/devices/${dead.device.id}`);
      expect(body.device.removed_at).not.toBeNull();
      expect(body.device.removed_reason).toMatch(/^webpush: /);
      expect((await call<{ devices: Device[] }>(bob, 'GET', '/v1/devices')).body.devices).toEqual([]);
      const [retried] = await log(carol, flaky.device.id);
      expect(retried).toMatchObject({ status: 'sent', provider_status: 201, attempts: 3 });
      expect(pushesTo(flaky.sub).map((r) => r.payload?.push_id)).toEqual([
        retried.push_id,
        retried.push_id,
        retried.push_id,
      ]);
      expect(await pushSummaryForMessage(t.db, tenant_id, conv, m.seq)).toMatchObject({
        sent: 1,
        invalid_token: 1,
      });
      // The removed device gets nothing more; a test push to it is refused.
      const test = await call<{ error: { code: string } }>(bob, 'POST', `/v1/devices/${dead.device.id}/test`);
      expect([test.status, test.body.error.code]).toEqual([409, 'CONFLICT']);
      await send(alice, conv, 'again');
      await settled(t.db, tenant_id);
      expect(await log(bob, dead.device.id)).toHaveLength(1);
      // Registering the same subscription again brings it back.
      const back = await call<{ device: Device }>(bob, 'POST', '/v1/devices', {
        platform: 'webpush',
        subscription: { endpoint: dead.sub.endpoint, keys: dead.sub.keys },
      });
      expect([back.status, back.body.device.id, back.body.device.removed_at]).toEqual([
        200,
        dead.device.id,
        null,
      ]);
    } finally {
      svc.mode = () => 'ok';
    }
    const metrics = await t.call<string>({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(
      /herald_push_outcomes_total\{provider="webpush",outcome="invalid_token"\} [1-9]/,
    );
    expect(metrics.body).toMatch(/herald_push_outcomes_total\{provider="webpush",outcome="retry"\} [1-9]/);
    expect(metrics.body).toMatch(/herald_push_outcomes_total\{provider="webpush",outcome="sent"\} [1-9]/);
  });

  it('a push still being retried when the user reads the conversation is dropped (skipped: read)', async () => {
    const { tenant_id } = await t.createTenant();
    const [alice, bob] = await users(tenant_id, 'alice', 'bob');
    const { device, sub } = await subscribe(bob, 'bob-reads');
    svc.mode = (path) => (sub.endpoint.endsWith(path) ? 'down' : 'ok');
    try {
      const conv = await group(alice, 'Catch-up', ['bob']);
      const m = await send(alice, conv, 'are you there');
      await until(() => pushesTo(sub).length >= 1, 20_000, 'a failed attempt');
      expect((await call(bob, 'POST', `/v1/conversations/${conv}/read`, { seq: m.seq })).status).toBe(200);
      // Still down: the first attempt that starts after the read drops the push.
      await settled(t.db, tenant_id);
      const [row] = await log(bob, device.id);
      expect(row).toMatchObject({ status: 'skipped', reason: 'read' });
      expect(row.attempts).toBeGreaterThanOrEqual(1);
      expect(pushesTo(sub).every((r) => r.payload?.push_id === row.push_id)).toBe(true);
      expect(await pushSummaryForMessage(t.db, tenant_id, conv, m.seq)).toMatchObject({
        skipped: { read: 1 },
      });
    } finally {
      svc.mode = () => 'ok';
    }
  });

  it('an endpoint that no longer passes the address policy is refused at send time, not retried', async () => {
    const { tenant_id } = await t.createTenant();
    const [alice, bob] = await users(tenant_id, 'alice', 'bob');
    // Registered behind the API's back (as if the allow-list shrank since): 127.0.0.2 is loopback
    // but not allowed, so no connection is ever made to it.
    const sub = svc.subscribe('bob-refused');
    const endpoint = sub.endpoint.replace('127.0.0.1', '127.0.0.2');
    await t.db.query(
      `INSERT INTO push_devices (tenant_id, id, user_id, platform, token, keys)
       VALUES ($1, 'dev_refused', 'bob', 'webpush', $2, $3::jsonb)`,
      [tenant_id, endpoint, JSON.stringify(sub.keys)],
    );
    const conv = await group(alice, 'Refused', ['bob']);
    await send(alice, conv, 'to nowhere');
    await settled(t.db, tenant_id);
    const [row] = await log(bob, 'dev_refused');
    expect(row).toMatchObject({ status: 'failed', attempts: 1, provider_status: null });
    expect(row.reason).toMatch(/^refused: 127\.0\.0\.2 is a private, loopback or link-local address/);
    expect(pushesTo(sub)).toEqual([]);
  });

  it('a test push goes out now and its log row says what the push service answered', async () => {
    const { tenant_id } = await t.createTenant();
    const [erin] = await users(tenant_id, 'erin');
    const { device, sub } = await subscribe(erin, 'erin');
    const res = await call<{ delivery: PushDelivery }>(erin, 'POST', `/v1/devices/${device.id}/test`);
    expect(res.status).toBe(200);
    expect(res.body.delivery).toMatchObject({
      kind: 'test',
      status: 'sent',
      provider_status: 201,
      attempts: 1,
    });
    expect(pushesTo(sub).map((r) => r.payload?.kind)).toEqual(['test']);
    expect((await log(erin, device.id)).map((d) => d.id)).toEqual([res.body.delivery.id]);
    const again = await call<{ error: { code: string } }>(erin, 'POST', `/v1/devices/${device.id}/test`);
    expect([again.status, again.body.error.code]).toEqual([429, 'RATE_LIMITED']);
    expect(Number(again.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(pushesTo(sub)).toHaveLength(1);
  });

  it('a dispatcher that dies mid-way loses nothing: decisions and sends resume on another', async () => {
    const { tenant_id } = await t.createTenant();
    const [alice, bob] = await users(tenant_id, 'alice', 'bob');
    const { device, sub } = await subscribe(bob, 'bob-crash');
    const conv = await group(alice, 'Crash', ['bob']);
    // 1. No dispatcher while the message waits: the pending decision is a committed row.
    await t.herald.push.dispatcher.stop({ abandon: true });
    const next = () => dispatcher();
    let second = await next();
    try {
      const m = await send(alice, conv, 'while down');
      const { rows } = await t.db.query('SELECT seq FROM push_pending WHERE tenant_id = $1', [tenant_id]);
      expect(rows.map((r) => Number(r.seq))).toEqual([m.seq]);
      // 2. The next dispatcher sends into a push service that hangs, and dies holding the lease.
      svc.mode = () => 'hang';
      await second.start();
      await until(() => pushesTo(sub).length === 1, 20_000, 'the hung attempt');
      await second.stop({ abandon: true });
      const [held] = await log(bob, device.id);
      expect(held).toMatchObject({ status: 'pending', attempts: 0 });
      // 3. A third takes the push over once the lease has expired, with the same push_id.
      svc.mode = () => 'ok';
      second = await next();
      await second.start();
      await until(() => pushesTo(sub).length === 2, 30_000, 'the retried push');
      await settled(t.db, tenant_id);
      const [done] = await log(bob, device.id);
      expect(done).toMatchObject({ status: 'sent', attempts: 1 });
      expect(pushesTo(sub).map((r) => r.payload?.push_id)).toEqual([done.push_id, done.push_id]);
      expect(await pushSummaryForMessage(t.db, tenant_id, conv, m.seq)).toMatchObject({ sent: 1 });
    } finally {
      svc.mode = () => 'ok';
      await second.stop();
      await t.herald.push.dispatcher.start();
    }
  }, 60_000);
});
