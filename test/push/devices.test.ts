// The devices API on both stores: register per platform (idempotent per token), list, get,
// delete, the per-user cap, typed errors for bad input (nothing written), SSRF refusal of a
// subscription endpoint, and isolation between users and tenants.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenPair } from '../../src/auth/service.ts';
import type { Device } from '../../src/push/devices.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { type Backend, backends } from '../support/stores.ts';
import { apnsToken, browserSubscription, type FcmService, fcmToken, startFcmService } from './fakes.ts';

describe.each(backends())('devices API (%s)', (backend: Backend) => {
  let t: TestHerald;
  let fcm: FcmService;
  beforeAll(async () => {
    fcm = await startFcmService();
    t = await startTestHerald({
      backend,
      env: {
        HERALD_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
        HERALD_FCM_SERVICE_ACCOUNT: fcm.serviceAccount,
        HERALD_PUSH_MAX_DEVICES_PER_USER: '3',
      },
    });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await fcm?.close();
  });

  const register = (who: TokenPair, payload: object) =>
    t.call<{ device: Device; error?: { code: string; message: string } }>({
      method: 'POST',
      url: '/v1/devices',
      headers: t.bearer(who),
      payload,
    });
  const list = async (who: TokenPair) =>
    (await t.call<{ devices: Device[] }>({ method: 'GET', url: '/v1/devices', headers: t.bearer(who) })).body
      .devices;
  const webpush = (endpoint = 'http://127.0.0.1:9/push/x') => {
    const s = browserSubscription(endpoint);
    return { platform: 'webpush', subscription: { endpoint: s.endpoint, keys: s.keys } };
  };

  it('registers each platform; the same token again is the same device', async () => {
    const { tenant_id } = await t.createTenant();
    const alice = await t.mintUser(tenant_id, 'alice');
    const w = webpush();
    const a = await register(alice, { ...w, locale: 'de-CH' });
    expect(a.status).toBe(201);
    expect(a.body.device).toMatchObject({
      platform: 'webpush',
      token: w.subscription.endpoint,
      locale: 'de-CH',
    });
    expect(a.body.device.id).toMatch(/^dev_/);
    const again = await register(alice, w);
    expect(again.status).toBe(200);
    expect(again.body.device.id).toBe(a.body.device.id);
    expect(again.body.device.locale).toBe('de-CH');
    const f = await register(alice, { platform: 'fcm', token: fcmToken() });
    expect(f.status).toBe(201);
    expect((await list(alice)).map((d) => d.id).sort()).toEqual([a.body.device.id, f.body.device.id].sort());
    // The key pair is never echoed back.
    expect(JSON.stringify(a.body)).not.toContain(w.subscription.keys.auth);
    const one = await t.call<{ device: Device }>({
      method: 'GET',
      url: `/v1/devices/${f.body.device.id}`,
      headers: t.bearer(alice),
    });
    expect(one.body.device.platform).toBe('fcm');
    const del = await t.call({
      method: 'DELETE',
      url: `/v1/devices/${f.body.device.id}`,
      headers: t.bearer(alice),
    });
    expect(del.status).toBe(204);
    const gone = await t.call<{ error: { code: string } }>({
      method: 'DELETE',
      url: `/v1/devices/${f.body.device.id}`,
      headers: t.bearer(alice),
    });
    expect([gone.status, gone.body.error.code]).toEqual([404, 'DEVICE_NOT_FOUND']);
  });

  it('refuses bad input with typed errors and writes nothing', async () => {
    const { tenant_id } = await t.createTenant();
    const bob = await t.mintUser(tenant_id, 'bob');
    const w = webpush();
    const cases: [object, number, string][] = [
      [{ platform: 'webpush', token: 'abc' }, 400, 'VALIDATION_FAILED'],
      [{ ...w, token: 'x' }, 400, 'VALIDATION_FAILED'],
      [{ platform: 'fcm', subscription: w.subscription }, 400, 'VALIDATION_FAILED'],
      [{ platform: 'fcm' }, 400, 'VALIDATION_FAILED'],
      [{ platform: 'fcm', token: 'short' }, 400, 'VALIDATION_FAILED'],
      [{ platform: 'sms', token: fcmToken() }, 400, 'VALIDATION_FAILED'],
      [{ platform: 'fcm', token: fcmToken(), locale: 'not a locale' }, 400, 'VALIDATION_FAILED'],
      [{ platform: 'fcm', token: fcmToken(), extra: 1 }, 400, 'VALIDATION_FAILED'],
      [
        {
          platform: 'webpush',
          subscription: { ...w.subscription, keys: { ...w.subscription.keys, p256dh: 'AAAA' } },
        },
        400,
        'VALIDATION_FAILED',
      ],
      [
        {
          platform: 'webpush',
          subscription: { ...w.subscription, keys: { ...w.subscription.keys, auth: 'AAAA' } },
        },
        400,
        'VALIDATION_FAILED',
      ],
      // APNs has no credentials on this node.
      [{ platform: 'apns', token: apnsToken() }, 400, 'PUSH_NOT_CONFIGURED'],
      // SSRF: loopback addresses other than the allowed 127.0.0.1, and other schemes.
      [webpush('http://127.0.0.2:9/push'), 400, 'PUSH_ENDPOINT_REFUSED'],
      [webpush('http://[::1]:9/push'), 400, 'PUSH_ENDPOINT_REFUSED'],
      [webpush('http://localhost:9/push'), 400, 'PUSH_ENDPOINT_REFUSED'],
      [webpush('ftp://127.0.0.1/push'), 400, 'PUSH_ENDPOINT_REFUSED'],
    ];
    for (const [payload, status, code] of cases) {
      const res = await register(bob, payload);
      expect([res.status, res.body.error?.code], JSON.stringify(payload)).toEqual([status, code]);
    }
    expect(await list(bob)).toEqual([]);
    const { rows } = await t.db.query('SELECT count(*)::int AS n FROM push_devices WHERE tenant_id = $1', [
      tenant_id,
    ]);
    expect(rows[0].n).toBe(0);
    expect((await t.call({ method: 'GET', url: '/v1/devices' })).status).toBe(401);
  });

  it('keeps at most the configured number of devices per user, dropping the oldest', async () => {
    const { tenant_id } = await t.createTenant();
    const carol = await t.mintUser(tenant_id, 'carol');
    const ids: string[] = [];
    for (let i = 0; i < 4; i++)
      ids.push((await register(carol, { platform: 'fcm', token: fcmToken() })).body.device.id);
    expect((await list(carol)).map((d) => d.id)).toEqual([ids[3], ids[2], ids[1]]);
  });

  it('another user or tenant cannot see, test, delete or read the log of a device', async () => {
    const acme = await t.createTenant();
    const globex = await t.createTenant();
    const alice = await t.mintUser(acme.tenant_id, 'alice');
    const mallory = await t.mintUser(acme.tenant_id, 'mallory');
    const otherAlice = await t.mintUser(globex.tenant_id, 'alice');
    const id = (await register(alice, { platform: 'fcm', token: fcmToken() })).body.device.id;
    for (const who of [mallory, otherAlice]) {
      for (const [method, url] of [
        ['GET', `/v1/devices/${id}`],
        ['DELETE', `/v1/devices/${id}`],
        ['POST', `/v1/devices/${id}/test`],
        ['GET', `/v1/devices/${id}/deliveries`],
      ] as const) {
        const res = await t.call<{ error: { code: string } }>({ method, url, headers: t.bearer(who) });
        expect([res.status, res.body.error.code], `${method} ${url}`).toEqual([404, 'DEVICE_NOT_FOUND']);
      }
      expect(await list(who)).toEqual([]);
    }
    // The same token registered by another user of the tenant (a shared phone) moves to them.
    const token = fcmToken();
    const mine = (await register(alice, { platform: 'fcm', token })).body.device.id;
    const moved = await register(mallory, { platform: 'fcm', token });
    expect([moved.status, moved.body.device.id]).toEqual([200, mine]);
    expect((await list(alice)).map((d) => d.id)).not.toContain(mine);
  });

  it('serves the VAPID public key, the same on every start (kept in the store)', async () => {
    const { tenant_id } = await t.createTenant();
    const dave = await t.mintUser(tenant_id, 'dave');
    const res = await t.call<{ public_key: string }>({
      method: 'GET',
      url: '/v1/push/vapid-key',
      headers: t.bearer(dave),
    });
    expect(res.status).toBe(200);
    expect(Buffer.from(res.body.public_key, 'base64url')).toHaveLength(65);
    const second = await startTestHerald({ db: t.db });
    try {
      expect(second.herald.push.vapidPublicKey).toBe(res.body.public_key);
    } finally {
      await second.close();
    }
  });
});
