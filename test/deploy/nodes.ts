// Shared by the deployment tests: one PostgreSQL database and one Redis key
// prefix for a set of real `herald serve` processes, a tenant with users, and
// SDK clients. Every process started here is killed by cleanup().
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import WebSocket from 'ws';
import { HeraldClient } from '../../src/client/index.ts';
import { type NodeProcess, startNode } from '../support/cluster.ts';
import { REDIS_URL, redisAvailable, testPrefix } from '../support/redis.ts';
import { createTestDatabase } from '../support/stores.ts';

export const clusterEnabled = redisAvailable() && process.env.HERALD_TEST_PG !== '';

export interface Deployment {
  env: Record<string, string>;
  nodes: NodeProcess[];
  clients: HeraldClient[];
  start(extra?: Record<string, string>): Promise<NodeProcess>;
  /** One query on the deployment's database. */
  sql<T>(text: string, params?: unknown[]): Promise<T[]>;
  cleanup(): Promise<void>;
}

export async function deployment(env: Record<string, string> = {}): Promise<Deployment> {
  const db = await createTestDatabase();
  const p = testPrefix();
  const d: Deployment = {
    env: {
      DATABASE_URL: db.url,
      REDIS_URL,
      HERALD_REDIS_PREFIX: p.prefix,
      HERALD_JWT_SECRET: randomBytes(32).toString('hex'),
      HERALD_ADMIN_TOKEN: randomBytes(16).toString('hex'),
      HERALD_RELAY_POLL_MS: '100',
      HERALD_SEND_RATE_MAX: '100000',
      ...env,
    },
    nodes: [],
    clients: [],
    async start(extra = {}) {
      const n = await startNode({ ...d.env, ...extra });
      d.nodes.push(n);
      return n;
    },
    async sql<T>(text: string, params?: unknown[]) {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        return (await c.query(text, params)).rows as T[];
      } finally {
        await c.end();
      }
    },
    async cleanup() {
      for (const c of d.clients) c.disconnect();
      await Promise.all(d.nodes.map((n) => n.kill('SIGKILL')));
      await db.drop();
      await p.cleanup();
    },
  };
  return d;
}

export async function http<T>(
  base: string,
  method: string,
  path: string,
  auth: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${auth}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

export interface Tenant {
  id: string;
  apiKey: string;
  token(user: string): Promise<string>;
}

/** A tenant created through `base` (an API node or the load balancer). */
export async function tenant(d: Deployment, base: string): Promise<Tenant> {
  const t = await http<{ tenant_id: string; api_key: string }>(
    base,
    'POST',
    '/v1/tenants',
    d.env.HERALD_ADMIN_TOKEN,
    {
      name: 'deploy test',
    },
  );
  return {
    id: t.tenant_id,
    apiKey: t.api_key,
    token: async (user) =>
      (await http<{ access_token: string }>(base, 'POST', '/v1/tokens', t.api_key, { user_id: user }))
        .access_token,
  };
}

/** An SDK client like a browser's: reconnects by itself and resumes from its last seq. */
export async function sdkClient(
  d: Deployment,
  base: string,
  t: Tenant,
  user: string,
  wsUrl?: string,
): Promise<HeraldClient> {
  const c = new HeraldClient({
    url: base,
    wsUrl,
    token: await t.token(user),
    getToken: () => t.token(user),
    WebSocket,
    // Prompt redials: a refused dial during a restart is retried within a second.
    backoff: { baseMs: 100, maxMs: 1_000 },
  });
  d.clients.push(c);
  c.connect();
  await c.ready();
  return c;
}

/** Sends SIGTERM (or another signal) and resolves with the exit code and how long the exit took. */
export async function stopTimed(
  n: NodeProcess,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  const code = await n.kill(signal);
  return { code, ms: Date.now() - started };
}
