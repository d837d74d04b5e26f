// The push decision across nodes: on PostgreSQL + Redis, the dispatcher runs on a relay-only
// node while the user's socket is on a gateway node; the Redis connection registry tells the
// dispatcher that the socket exists (skipped: online), and a user without one is pushed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { PushDelivery } from '../../src/push/deliveries.ts';
import type { Device } from '../../src/push/devices.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { REDIS_URL, redisAvailable, testPrefix } from '../support/redis.ts';
import { backends } from '../support/stores.ts';
import { startWebPushService, until, type WebPushService } from './fakes.ts';

const run = backends().includes('postgres') && redisAvailable();

describe.runIf(run)('push decision with the Redis connection registry, two nodes', () => {
  let gateway: TestHerald;
  let relay: TestHerald;
  let svc: WebPushService;
  const redis = testPrefix();
  beforeAll(async () => {
    svc = await startWebPushService({ subject: 'mailto:push@herald.invalid' });
    const env = {
      REDIS_URL,
      HERALD_REDIS_PREFIX: redis.prefix,
      HERALD_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
      HERALD_PUSH_DELAY_MS: '300',
      HERALD_PUSH_POLL_MS: '50',
    };
    gateway = await startTestHerald({
      backend: 'postgres',
      env: { ...env, HERALD_ROLES: 'api,gateway' },
      listen: true,
    });
    relay = await startTestHerald({ db: gateway.db, env: { ...env, HERALD_ROLES: 'relay' } });
  }, 60_000);
  afterAll(async () => {
    await relay?.close();
    await gateway?.close();
    await svc?.close();
    await redis.cleanup();
  });

  it('a socket on another node suppresses the push; no socket, one push', async () => {
    const t = gateway;
    const { tenant_id } = await t.createTenant();
    const alice = await t.mintUser(tenant_id, 'alice');
    const bob = await t.mintUser(tenant_id, 'bob');
    const carol = await t.mintUser(tenant_id, 'carol');
    const devices: Record<string, { id: string; endpoint: string }> = {};
    for (const [name, who] of [
      ['bob', bob],
      ['carol', carol],
    ] as const) {
      const sub = svc.subscribe(name);
      const res = await t.call<{ device: Device }>({
        method: 'POST',
        url: '/v1/devices',
        headers: t.bearer(who),
        payload: { platform: 'webpush', subscription: { endpoint: sub.endpoint, keys: sub.keys } },
      });
      devices[name] = { id: res.body.device.id, endpoint: sub.endpoint };
    }
    const conv = (
      await t.call<{ conversation: { id: string } }>({
        method: 'POST',
        url: '/v1/conversations',
        headers: t.bearer(alice),
        payload: { kind: 'group', title: 'Nodes', members: ['bob', 'carol'] },
      })
    ).body.conversation.id;
    const ws = new WebSocket(`${t.url?.replace('http', 'ws')}/v1/ws?access_token=${carol.access_token}`);
    await new Promise<void>((ok, fail) => {
      ws.on('message', (raw) => JSON.parse(String(raw)).type === 'welcome' && ok());
      ws.on('error', fail);
    });
    try {
      await t.call({
        method: 'POST',
        url: `/v1/conversations/${conv}/messages`,
        headers: t.bearer(alice),
        payload: { body: 'across nodes' },
      });
      const log = async (who: typeof bob, id: string) =>
        (
          await t.call<{ deliveries: PushDelivery[] }>({
            method: 'GET',
            url: `/v1/devices/${id}/deliveries`,
            headers: t.bearer(who),
          })
        ).body.deliveries;
      await until(() => svc.received.some((r) => devices.bob.endpoint.endsWith(r.path)), 20_000, 'bob push');
      let carolLog: PushDelivery[] = [];
      while (carolLog.length === 0) {
        carolLog = await log(carol, devices.carol.id);
        if (carolLog.length === 0) await new Promise((r) => setTimeout(r, 25));
      }
      expect(carolLog.map((d) => [d.status, d.reason])).toEqual([['skipped', 'online']]);
      let bobLog = await log(bob, devices.bob.id);
      while (bobLog[0]?.status !== 'sent') {
        await new Promise((r) => setTimeout(r, 25));
        bobLog = await log(bob, devices.bob.id);
      }
      expect(bobLog.map((d) => [d.status, d.provider_status])).toEqual([['sent', 201]]);
      expect(svc.received.filter((r) => devices.carol.endpoint.endsWith(r.path))).toEqual([]);
    } finally {
      ws.close();
    }
  });
});
