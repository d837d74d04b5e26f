// startTestHerald: a whole Herald node (store, relay, HTTP app) for tests.
//
//   const t = await startTestHerald({ backend: 'pglite' });      // in beforeAll
//   const { tenant_id } = await t.createTenant();
//   const alice = await t.mintUser(tenant_id, 'alice');          // { access_token, … }
//   const res = await t.app.inject({ method: 'GET', url: '/v1/inbox', headers: t.bearer(alice) });
//   await t.close();                                              // in afterAll
//
// - Opens its own migrated store (PGlite in memory, or a fresh PostgreSQL
//   database) unless given `db`; one per test file — isolate tests by tenant.
// - `env` overrides Herald's environment (see src/config.ts); logs are silent,
//   demo and dev tokens are off, secrets are random.
// - `listen: true` also listens on 127.0.0.1, port 0, and sets `url`.
import { randomBytes } from 'node:crypto';
import type { InjectOptions } from 'fastify';
import type { ApiPlugin } from '../../src/api/app.ts';
import type { App } from '../../src/api/context.ts';
import type { TokenPair } from '../../src/auth/service.ts';
import { loadConfig } from '../../src/config.ts';
import { type Herald, startHerald } from '../../src/host/herald.ts';
import { createLogger } from '../../src/host/logger.ts';
import type { Db } from '../../src/store/db.ts';
import { type Backend, openTestStore, type TestStore } from './stores.ts';

export interface TestHeraldOptions {
  backend?: Backend;
  /** Environment overrides, e.g. { HERALD_SEND_RATE_MAX: '3' }. */
  env?: Record<string, string>;
  /** Share a store opened elsewhere (not closed by this helper). */
  db?: Db;
  listen?: boolean;
  plugins?: ApiPlugin[];
}

export interface TestHerald {
  herald: Herald;
  app: App;
  db: Db;
  /** Set with listen: true. */
  url: string | null;
  adminToken: string;
  /** POST /v1/tenants as the operator. */
  createTenant(tenantId?: string): Promise<{ tenant_id: string; api_key: string }>;
  /** Registers the user in the tenant (if new) and returns a token pair. */
  mintUser(tenant: string, user: string): Promise<TokenPair>;
  /** `{ authorization: 'Bearer …' }` for a token pair or a raw token. */
  bearer(who: TokenPair | string): { authorization: string };
  /** app.inject returning the parsed JSON body alongside status and headers. */
  call<T = Record<string, unknown>>(
    opts: InjectOptions,
  ): Promise<{ status: number; body: T; headers: Record<string, unknown> }>;
  close(): Promise<void>;
}

export async function startTestHerald(opts: TestHeraldOptions = {}): Promise<TestHerald> {
  let store: TestStore | null = null;
  let db = opts.db;
  if (!db) {
    store = await openTestStore(opts.backend ?? 'pglite');
    db = store.db;
  }
  const adminToken = randomBytes(24).toString('hex');
  const config = loadConfig({
    HERALD_ADMIN_TOKEN: adminToken,
    HERALD_JWT_SECRET: randomBytes(32).toString('hex'),
    LOG_LEVEL: 'silent',
    HERALD_DEMO: 'false',
    HERALD_DEV_TOKENS: 'false',
    HERALD_RELAY_POLL_MS: '50',
    PORT: '0',
    HOST: '127.0.0.1',
    ...(store?.url ? { DATABASE_URL: store.url } : {}),
    ...opts.env,
  });
  const herald = await startHerald(config, { db, log: createLogger('silent'), plugins: opts.plugins });
  const app = herald.app;
  const url = opts.listen ? await app.listen({ port: 0, host: '127.0.0.1' }) : null;
  const bearer = (who: TokenPair | string) => ({
    authorization: `Bearer ${typeof who === 'string' ? who : who.access_token}`,
  });
  const t: TestHerald = {
    herald,
    app,
    db,
    url,
    adminToken,
    async createTenant(tenantId) {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/tenants',
        headers: bearer(adminToken),
        payload: tenantId ? { tenant_id: tenantId } : {},
      });
      if (res.statusCode !== 201) throw new Error(`createTenant: ${res.statusCode} ${res.body}`);
      return res.json();
    },
    mintUser: (tenant, user) => herald.auth.issue(tenant, user),
    bearer,
    async call(o) {
      const res = await app.inject(o);
      let body: unknown = res.body;
      try {
        body = res.json();
      } catch {
        // Not JSON (e.g. /metrics): leave the text.
      }
      return { status: res.statusCode, body: body as never, headers: res.headers };
    },
    async close() {
      await herald.close();
      await store?.close();
    },
  };
  return t;
}
