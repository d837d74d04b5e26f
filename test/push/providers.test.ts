// FCM HTTP v1 and APNs (HTTP/2, token auth) behind the same port as Web Push, each against a
// local fake that checks the exact request: the OAuth2 service-account assertion and the
// bearer token (FCM), the ES256 provider token, topic and headers (APNs), the payload and
// the collapse key. Dead tokens (UNREGISTERED, 410 Unregistered, BadDeviceToken) remove
// the device; both stores.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenPair } from '../../src/auth/service.ts';
import type { PushDelivery } from '../../src/push/deliveries.ts';
import type { Device } from '../../src/push/devices.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { type Backend, backends } from '../support/stores.ts';
import {
  type ApnsService,
  apnsToken,
  type FcmService,
  fcmToken,
  settled,
  startApnsService,
  startFcmService,
  until,
} from './fakes.ts';

describe.each(backends())('FCM and APNs providers (%s)', (backend: Backend) => {
  let t: TestHerald;
  let fcm: FcmService;
  let apns: ApnsService;
  beforeAll(async () => {
    fcm = await startFcmService();
    apns = await startApnsService();
    t = await startTestHerald({
      backend,
      env: {
        HERALD_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
        HERALD_PUSH_DELAY_MS: '200',
        HERALD_PUSH_POLL_MS: '50',
        HERALD_PUSH_TIMEOUT_MS: '2000',
        HERALD_PUSH_RETRY_BASE_MS: '20',
        HERALD_PUSH_RETRY_MAX_MS: '60',
        HERALD_FCM_SERVICE_ACCOUNT: fcm.serviceAccount,
        HERALD_FCM_URL: fcm.url,
        ...apns.env,
      },
    });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await fcm?.close();
    await apns?.close();
  });

  const call = <T>(who: TokenPair, method: 'GET' | 'POST', url: string, payload?: object) =>
    t.call<T>({ method, url, headers: t.bearer(who), ...(payload ? { payload } : {}) });
  const register = async (who: TokenPair, platform: 'fcm' | 'apns', token: string) => {
    const res = await call<{ device: Device }>(who, 'POST', '/v1/devices', {
      platform,
      token,
      locale: 'en-GB',
    });
    expect(res.status).toBe(201);
    return res.body.device;
  };
  const log = async (who: TokenPair, device: string) =>
    (await call<{ deliveries: PushDelivery[] }>(who, 'GET', `/v1/devices/${device}/deliveries`)).body
      .deliveries;
  const scene = async () => {
    const { tenant_id } = await t.createTenant();
    const alice = await t.mintUser(tenant_id, 'alice');
    const bob = await t.mintUser(tenant_id, 'bob');
    const conv = (
      await call<{ conversation: { id: string } }>(alice, 'POST', '/v1/conversations', {
        kind: 'group',
        title: 'Ops',
        members: ['bob'],
      })
    ).body.conversation.id;
    const send = async (body: string) =>
      (
        await call<{ message: { id: string; seq: number } }>(
          alice,
          'POST',
          `/v1/conversations/${conv}/messages`,
          { body },
        )
      ).body.message;
    return { tenant_id, alice, bob, conv, send };
  };

  it('FCM: one coalesced push per conversation, the exact v1 request, the token cached', async () => {
    const s = await scene();
    const token = fcmToken();
    const device = await register(s.bob, 'fcm', token);
    // Held during the burst: under load one send can outlast the delay (see push.test.ts).
    await t.herald.push.dispatcher.stop();
    await s.send('one');
    const m = await s.send('two');
    await t.herald.push.dispatcher.start();
    await until(() => fcm.received.some((r) => r.body.message.token === token), 20_000, 'an FCM push');
    await settled(t.db, s.tenant_id);
    const mine = fcm.received.filter((r) => r.body.message.token === token);
    expect(mine).toHaveLength(1);
    expect(fcm.problems).toEqual([]);
    const [row] = await log(s.bob, device.id);
    expect(row).toMatchObject({
      status: 'sent',
      provider_status: 200,
      first_seq: m.seq - 1,
      last_seq: m.seq,
    });
    expect(row.provider_response).toMatch(/^projects\/herald-test\/messages\//);
    expect(mine[0].headers['content-type']).toBe('application/json; charset=utf-8');
    expect(mine[0].body).toEqual({
      message: {
        token,
        notification: { title: 'Ops', body: 'alice: two' },
        data: {
          type: 'message',
          conversation_id: s.conv,
          seq: String(m.seq),
          message_id: m.id,
          unread: '2',
          push_id: row.push_id,
        },
        android: {
          collapse_key: s.conv,
          priority: 'high',
          ttl: '86400s',
          notification: { tag: s.conv, notification_count: 2 },
        },
        apns: {
          headers: { 'apns-collapse-id': s.conv, 'apns-priority': '10' },
          payload: { aps: { badge: 2, 'thread-id': s.conv, sound: 'default' } },
        },
      },
    });
    // A test push reuses the cached access token.
    const issued = fcm.tokensIssued;
    const test = await call<{ delivery: PushDelivery }>(s.bob, 'POST', `/v1/devices/${device.id}/test`);
    expect(test.body.delivery).toMatchObject({ status: 'sent', kind: 'test', provider_status: 200 });
    expect(fcm.tokensIssued).toBe(issued);
    expect(fcm.tokensIssued).toBeGreaterThanOrEqual(1);
  });

  it('FCM: UNREGISTERED removes the device; 503 is retried', async () => {
    const s = await scene();
    const dead = fcmToken();
    const device = await register(s.bob, 'fcm', dead);
    fcm.dead.add(dead);
    await s.send('hello?');
    await settled(t.db, s.tenant_id);
    const [row] = await log(s.bob, device.id);
    expect(row).toMatchObject({ status: 'invalid_token', provider_status: 404 });
    expect(row.reason).toContain('UNREGISTERED');
    const { body } = await call<{ device: Device }>(s.bob, 'GET', `/v1/devices/${device.id}`);
    expect(body.device.removed_reason).toMatch(/^fcm: UNREGISTERED/);

    const live = fcmToken();
    const second = await register(s.bob, 'fcm', live);
    fcm.down = true;
    await s.send('later');
    await until(
      () => fcm.received.filter((r) => r.body.message.token === live).length >= 2,
      20_000,
      'retries',
    );
    fcm.down = false;
    await settled(t.db, s.tenant_id);
    const [retried] = await log(s.bob, second.id);
    expect(retried.status).toBe('sent');
    expect(retried.attempts).toBeGreaterThanOrEqual(3);
    const ids = new Set(
      fcm.received
        .filter((r) => r.body.message.token === live)
        .map((r) => (r.body.message.data as { push_id: string }).push_id),
    );
    expect([...ids]).toEqual([retried.push_id]);
  });

  it('APNs: one coalesced push over HTTP/2 with the exact headers and payload', async () => {
    const s = await scene();
    const token = apnsToken();
    const device = await register(s.bob, 'apns', token);
    await t.herald.push.dispatcher.stop();
    await s.send('a');
    await s.send('b');
    const m = await s.send('c');
    await t.herald.push.dispatcher.start();
    await until(() => apns.received.some((r) => r.token === token), 20_000, 'an APNs push');
    await settled(t.db, s.tenant_id);
    const mine = apns.received.filter((r) => r.token === token);
    expect(mine).toHaveLength(1);
    expect(apns.problems).toEqual([]);
    const [row] = await log(s.bob, device.id);
    expect(row).toMatchObject({ status: 'sent', provider_status: 200, provider_response: row.push_id });
    const h = mine[0].headers;
    expect(h[':path']).toBe(`/3/device/${token}`);
    expect({
      topic: h['apns-topic'],
      type: h['apns-push-type'],
      priority: h['apns-priority'],
      id: h['apns-id'],
      collapse: h['apns-collapse-id'],
    }).toEqual({
      topic: 'com.example.herald',
      type: 'alert',
      priority: '10',
      id: row.push_id,
      collapse: s.conv,
    });
    expect(Number(h['apns-expiration'])).toBeGreaterThan(Date.now() / 1000);
    expect(mine[0].body).toEqual({
      aps: { alert: { title: 'Ops', body: 'alice: c' }, badge: 3, sound: 'default', 'thread-id': s.conv },
      herald: {
        type: 'message',
        conversation_id: s.conv,
        seq: String(m.seq),
        message_id: m.id,
        unread: '3',
        push_id: row.push_id,
      },
    });
  });

  it('APNs: 410 Unregistered and 400 BadDeviceToken remove the device', async () => {
    const s = await scene();
    const gone = apnsToken();
    const bad = apnsToken();
    apns.unregistered.add(gone);
    apns.bad.add(bad);
    const d1 = await register(s.bob, 'apns', gone);
    const d2 = await register(s.bob, 'apns', bad);
    await s.send('ping');
    await settled(t.db, s.tenant_id);
    expect((await log(s.bob, d1.id))[0]).toMatchObject({
      status: 'invalid_token',
      provider_status: 410,
      reason: 'Unregistered',
    });
    expect((await log(s.bob, d2.id))[0]).toMatchObject({
      status: 'invalid_token',
      provider_status: 400,
      reason: 'BadDeviceToken',
    });
    expect((await call<{ devices: Device[] }>(s.bob, 'GET', '/v1/devices')).body.devices).toEqual([]);
    const metrics = await t.call<string>({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(
      /herald_push_outcomes_total\{provider="apns",outcome="invalid_token"\} [2-9]/,
    );
    expect(metrics.body).toMatch(/herald_push_outcomes_total\{provider="fcm",outcome="sent"\} [1-9]/);
  });
});
