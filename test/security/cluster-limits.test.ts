// Limits hold across the cluster (issue 9, defect 8): two nodes sharing one
// store and one Redis prefix give a user one send budget, an API key one call
// budget, a user and an IP one handshake budget, and a user (and a tenant) one
// socket cap — not one per node. A single node without Redis enforces the
// same caps in process; with Redis down the limits fall back to per node.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenPair } from '../../src/auth/service.ts';
import { redisSlots } from '../../src/limits/redis.ts';
import type { Client } from '../gateway/harness.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { REDIS_URL, redisAvailable, ThrowawayRedis, testPrefix, waitFor } from '../support/redis.ts';
import { openTestStore, type TestStore } from '../support/stores.ts';
import { freezableProxy, openSse, securityBackend, settleWs } from './support.ts';

/** Two nodes on one store and one Redis prefix; `env` tightens the limit under test. */
async function twoNodes(store: TestStore, env: Record<string, string>, redisUrl = REDIS_URL) {
  const { prefix, cleanup } = testPrefix();
  const common = {
    // One signing secret: a token minted on one node works on the other.
    HERALD_JWT_SECRET: randomBytes(32).toString('hex'),
    REDIS_URL: redisUrl,
    HERALD_REDIS_PREFIX: prefix,
    // Only the limit under test is tight.
    HERALD_HANDSHAKE_BURST_PER_IP: '1000',
    HERALD_HANDSHAKE_BURST_PER_USER: '1000',
    HERALD_MAX_SOCKETS_PER_USER: '1000',
    ...env,
  };
  const a = await startTestHerald({ db: store.db, env: common, listen: true });
  const b = await startTestHerald({ db: store.db, env: common, listen: true });
  // Until a node's Redis client is connected its limits are decided in process (fail open, by
  // design): a call in those first milliseconds would count on one node only.
  await waitFor(
    () => a.herald.adapters.healthy() && b.herald.adapters.healthy(),
    10_000,
    'both nodes connected to Redis',
  );
  return {
    a,
    b,
    async close() {
      await a.close();
      await b.close();
      await cleanup();
    },
  };
}

async function groupOf(t: TestHerald, owner: string, members: string[]) {
  const { tenant_id, api_key } = await t.createTenant();
  for (const m of members) await t.mintUser(tenant_id, m);
  const pair = await t.mintUser(tenant_id, owner);
  const res = await t.call<{ conversation: { id: string } }>({
    method: 'POST',
    url: '/v1/conversations',
    headers: t.bearer(pair),
    payload: { kind: 'group', title: 'g', members },
  });
  expect(res.status).toBe(201);
  return { tenant_id, api_key, pair, conversation: res.body.conversation.id };
}

const sendVia = (t: TestHerald, who: TokenPair, conversation: string, body: string) =>
  t.call({
    method: 'POST',
    url: `/v1/conversations/${conversation}/messages`,
    headers: t.bearer(who),
    payload: { body },
  });

const welcomed = (c: Client) => c.of('welcome').length > 0;

describe.skipIf(!redisAvailable())('limits across two nodes (Redis)', () => {
  let store: TestStore;
  beforeAll(async () => {
    store = await openTestStore(securityBackend());
  });
  afterAll(async () => store?.close());

  it('gives a user one send budget across nodes, HTTP and WebSocket together', async () => {
    const nodes = await twoNodes(store, {
      HERALD_SEND_RATE_MAX: '4',
      HERALD_SEND_RATE_WINDOW_SEC: '3600',
    });
    try {
      const { a, b } = nodes;
      const g = await groupOf(a, 'alice', ['bob']);
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        statuses.push((await sendVia(a, g.pair, g.conversation, `a${i}`)).status);
        statuses.push((await sendVia(b, g.pair, g.conversation, `b${i}`)).status);
      }
      expect(statuses.filter((s) => s === 201)).toHaveLength(4);
      expect(statuses.filter((s) => s === 429)).toHaveLength(2);
      // A `send` frame on either node meets the same empty budget.
      const ws = await settleWs(b, g.pair.access_token);
      expect(welcomed(ws)).toBe(true);
      ws.send({ type: 'send', conversation: g.conversation, client_id: 'ws-1', body: 'over' });
      const err = await ws.next('error');
      expect(err).toMatchObject({ code: 'RATE_LIMITED' });
      ws.close();
      const { rows } = await store.db.query<{ body: string }>(
        "SELECT body FROM messages WHERE tenant_id = $1 AND sender_id = 'alice' ORDER BY body",
        [g.tenant_id],
      );
      expect(rows.map((r) => r.body)).toEqual(['a0', 'a1', 'b0', 'b1']);
      // Another user of the tenant has a budget of their own.
      const bob = await a.mintUser(g.tenant_id, 'bob');
      expect((await sendVia(b, bob, g.conversation, 'bob')).status).toBe(201);
    } finally {
      await nodes.close();
    }
  });

  it('gives an API key one call budget across nodes', async () => {
    const nodes = await twoNodes(store, {
      HERALD_API_KEY_RATE_MAX: '3',
      HERALD_API_KEY_RATE_WINDOW_SEC: '3600',
    });
    try {
      const { a, b } = nodes;
      const { api_key } = await a.createTenant();
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        for (const node of [a, b]) {
          const res = await node.call({
            method: 'POST',
            url: '/v1/tokens',
            headers: node.bearer(api_key),
            payload: { user_id: `k${statuses.length}` },
          });
          statuses.push(res.status);
          if (res.status === 429) expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
        }
      }
      expect(statuses.filter((s) => s === 200)).toHaveLength(3);
      expect(statuses.filter((s) => s === 429)).toHaveLength(3);
    } finally {
      await nodes.close();
    }
  });

  it('gives a user one handshake budget across nodes (close 4402)', async () => {
    // 10 handshakes per 10 s per user on Redis (burst 10, refill 1/s).
    const nodes = await twoNodes(store, {
      HERALD_HANDSHAKE_BURST_PER_USER: '10',
      HERALD_HANDSHAKES_PER_USER_PER_SEC: '1',
    });
    try {
      const { a, b } = nodes;
      const { tenant_id } = await a.createTenant();
      const token = (await a.mintUser(tenant_id, 'flood')).access_token;
      const results: Client[] = [];
      for (let i = 0; i < 7; i++) {
        for (const node of [a, b]) {
          const c = await settleWs(node, token);
          results.push(c);
          if (welcomed(c)) c.close();
        }
      }
      const refused = results.filter((c) => !welcomed(c));
      expect(results.filter(welcomed)).toHaveLength(10);
      expect(refused).toHaveLength(4);
      for (const c of refused) {
        expect((await c.waitClosed()).code).toBe(4402);
        expect(c.of('error')[0]).toMatchObject({ code: 'RATE_LIMITED' });
      }
    } finally {
      await nodes.close();
    }
  });

  it('gives an IP one handshake budget across nodes, WebSocket and SSE together (429)', async () => {
    const nodes = await twoNodes(store, {
      HERALD_HANDSHAKE_BURST_PER_IP: '8',
      HERALD_HANDSHAKES_PER_IP_PER_SEC: '1',
    });
    try {
      const { a, b } = nodes;
      const { tenant_id } = await a.createTenant();
      let ok = 0;
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        for (const node of [a, b]) {
          // Distinct users: only the per-IP budget is shared.
          const c = await settleWs(node, (await a.mintUser(tenant_id, `ip${i}-${node.url}`)).access_token);
          if (welcomed(c)) {
            ok++;
            c.close();
          } else statuses.push(c.unexpected?.status ?? 0);
        }
      }
      const sse = await openSse(b, {}, b.bearer(await a.mintUser(tenant_id, 'sse-ip')));
      sse.close();
      expect(ok).toBe(8);
      expect(statuses).toEqual([429, 429]);
      expect(sse.status).toBe(429);
      expect(sse.events[0].data).toMatchObject({ error: { code: 'RATE_LIMITED' } });
    } finally {
      await nodes.close();
    }
  });

  it('caps the sockets of a user across nodes (WS 4004, SSE 429), and frees the slot on close', async () => {
    const nodes = await twoNodes(store, { HERALD_MAX_SOCKETS_PER_USER: '3' });
    try {
      const { a, b } = nodes;
      const { tenant_id } = await a.createTenant();
      const token = (await a.mintUser(tenant_id, 'many')).access_token;
      const open: Client[] = [];
      for (const node of [a, b, a]) open.push(await settleWs(node, token));
      expect(open.every(welcomed)).toBe(true);
      const fourth = await settleWs(b, token);
      expect(welcomed(fourth)).toBe(false);
      expect((await fourth.waitClosed()).code).toBe(4004);
      expect(fourth.of('error')[0]).toMatchObject({ code: 'TOO_MANY_CONNECTIONS' });
      const sse = await openSse(a, {}, a.bearer(token));
      expect(sse.status).toBe(429);
      expect(sse.events[0].data).toMatchObject({ error: { code: 'TOO_MANY_CONNECTIONS' } });
      // Another user of the tenant is not affected.
      const other = await settleWs(b, (await a.mintUser(tenant_id, 'other')).access_token);
      expect(welcomed(other)).toBe(true);
      other.close();
      // A socket that closes on node a frees a slot that node b can give out.
      open[0].close();
      let again: Client | null = null;
      await waitFor(
        async () => {
          const c = await settleWs(b, token);
          if (welcomed(c)) again = c;
          return welcomed(c);
        },
        10_000,
        'a freed slot',
      );
      for (const c of [...open, again as Client | null]) c?.close();
    } finally {
      await nodes.close();
    }
  });

  it('caps the sockets of a tenant across nodes, SSE streams included', async () => {
    const nodes = await twoNodes(store, { HERALD_MAX_SOCKETS_PER_TENANT: '3' });
    try {
      const { a, b } = nodes;
      const { tenant_id } = await a.createTenant();
      const tok = async (u: string) => (await a.mintUser(tenant_id, u)).access_token;
      const first = await settleWs(a, await tok('u1'));
      const sse = await openSse(b, {}, b.bearer(await tok('u2')));
      expect(sse.status).toBe(200);
      await waitFor(() => sse.events.some((e) => e.data.type === 'welcome'), 10_000, 'SSE welcome');
      const third = await settleWs(b, await tok('u3'));
      const fourth = await settleWs(a, await tok('u4'));
      expect([welcomed(first), welcomed(third), welcomed(fourth)]).toEqual([true, true, false]);
      expect((await fourth.waitClosed()).code).toBe(4004);
      // Another tenant is not affected.
      const other = await a.createTenant();
      const elsewhere = await settleWs(b, (await a.mintUser(other.tenant_id, 'u1')).access_token);
      expect(welcomed(elsewhere)).toBe(true);
      for (const c of [first, third, elsewhere]) c.close();
      sse.close();
    } finally {
      await nodes.close();
    }
  });

  it('falls back to per-node limits while Redis is down, and says so in a metric', async () => {
    const redis = await ThrowawayRedis.start();
    const nodes = await twoNodes(
      store,
      { HERALD_API_KEY_RATE_MAX: '2', HERALD_API_KEY_RATE_WINDOW_SEC: '3600' },
      redis.url,
    );
    try {
      const { a, b } = nodes;
      const { api_key } = await a.createTenant();
      await redis.down();
      await waitFor(() => !a.herald.adapters.healthy() && !b.herald.adapters.healthy(), 10_000, 'redis down');
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        for (const node of [a, b]) {
          const res = await node.call({
            method: 'POST',
            url: '/v1/tokens',
            headers: node.bearer(api_key),
            payload: { user_id: `f${statuses.length}` },
          });
          statuses.push(res.status);
        }
      }
      // Each node enforces the limit alone: 2 per node, never unlimited, never refused for Redis.
      expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
      const metrics = await a.call({ method: 'GET', url: '/metrics' });
      expect(String(metrics.body)).toMatch(/herald_limits_fallback_total\{limit="api_key"\} [1-9]/);
      // Socket slots fall back the same way: the cap holds per node while Redis is away.
      // (The handshake itself then fails later, in the connection registry: see the report.)
      const offline = new Redis(redis.url, { lazyConnect: true, retryStrategy: () => null });
      const fallbacks: string[] = [];
      const slots = redisSlots(offline, { prefix: 'unused:', onFallback: (what) => fallbacks.push(what) });
      const caps = { perUser: 1, perTenant: 0 };
      expect(await slots.acquire('t', 'u', 's1', caps, 60_000, Date.now())).toEqual({ ok: true });
      expect(await slots.acquire('t', 'u', 's2', caps, 60_000, Date.now())).toEqual({
        ok: false,
        over: 'user',
      });
      await slots.release('t', 'u', 's1');
      expect(await slots.acquire('t', 'u', 's3', caps, 60_000, Date.now())).toEqual({ ok: true });
      expect(fallbacks).toEqual(['socket_slots', 'socket_slots', 'socket_slots']);
      offline.disconnect();
    } finally {
      await nodes.close();
      await redis.stop();
    }
  });

  it('decides in process when Redis hangs, within the limiter timeout', async () => {
    const target = new URL(REDIS_URL);
    const proxy = await freezableProxy({ host: target.hostname, port: Number(target.port || 6379) });
    const nodes = await twoNodes(
      store,
      { HERALD_API_KEY_RATE_MAX: '2', HERALD_API_KEY_RATE_WINDOW_SEC: '3600' },
      proxy.url,
    );
    try {
      const { a } = nodes;
      const { api_key } = await a.createTenant();
      const call = (user: string) =>
        a.call({ method: 'POST', url: '/v1/tokens', headers: a.bearer(api_key), payload: { user_id: user } });
      await waitFor(() => a.herald.adapters.healthy(), 10_000, 'redis ready through the proxy');
      expect((await call('h1')).status).toBe(200); // counted in Redis
      proxy.freeze();
      const started = Date.now();
      const statuses = [(await call('h2')).status, (await call('h3')).status, (await call('h4')).status];
      const elapsed = Date.now() - started;
      // The in-process twin starts its own count: 2 more, then 429 — each after the 500 ms timeout.
      expect(statuses).toEqual([200, 200, 429]);
      expect(elapsed).toBeLessThan(10_000);
      const metrics = await a.call({ method: 'GET', url: '/metrics' });
      expect(String(metrics.body)).toMatch(/herald_limits_fallback_total\{limit="api_key"\} 3/);
    } finally {
      await proxy.close();
      await nodes.close();
    }
  });
});

describe('socket caps on one node (in process)', () => {
  let t: TestHerald;
  beforeAll(async () => {
    t = await startTestHerald({
      backend: securityBackend(),
      listen: true,
      env: { HERALD_MAX_SOCKETS_PER_USER: '2', HERALD_HANDSHAKE_BURST_PER_USER: '1000' },
    });
  });
  afterAll(async () => t?.close());

  it('refuses the socket over the per-user cap with 4004 and the stream with 429', async () => {
    const { tenant_id } = await t.createTenant();
    const token = (await t.mintUser(tenant_id, 'capped')).access_token;
    const one = await settleWs(t, token);
    const sse = await openSse(t, {}, t.bearer(token));
    expect(welcomed(one)).toBe(true);
    expect(sse.status).toBe(200);
    const three = await settleWs(t, token);
    expect((await three.waitClosed()).code).toBe(4004);
    expect(three.of('error')[0]).toMatchObject({ code: 'TOO_MANY_CONNECTIONS' });
    const sse2 = await openSse(t, {}, t.bearer(token));
    expect(sse2.status).toBe(429);
    expect(sse2.events[0].data).toMatchObject({ error: { code: 'TOO_MANY_CONNECTIONS' } });
    expect(t.herald.gateway.metrics().handshakeFailures.too_many_connections).toBeGreaterThanOrEqual(2);
    // Closing the stream frees its slot.
    sse.close();
    await waitFor(async () => welcomed(await settleWs(t, token)), 10_000, 'the stream slot back');
    one.close();
  });
});
