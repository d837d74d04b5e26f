// Shared pieces of the fault suite: a throwaway PostgreSQL with real
// `herald serve` nodes on it, a tenant to talk in, senders that retry the way
// a client must (same Idempotency-Key, after Retry-After), a follower that
// repairs over HTTP through an outage, and the after-fault checks.
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { expect } from 'vitest';
import { Follower } from '../cluster/follower.ts';
import { type NodeProcess, startNode } from '../support/cluster.ts';
import {
  assertCommittedOnce,
  counterDrift,
  type Queryable,
  recountedEntries,
} from '../support/invariants.ts';
import { ThrowawayPostgres } from '../support/pg-server.ts';
import { waitFor } from '../support/redis.ts';

export interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & { error?: { code: string; message: string } };
}

export async function api(
  base: string,
  method: string,
  path: string,
  auth: string | null,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(auth ? { authorization: `Bearer ${auth}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let parsed: Reply['body'] = {};
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { text };
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

async function ok(r: Promise<Reply>): Promise<Reply['body']> {
  const res = await r;
  if (res.status >= 300) throw new Error(`${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** A 503 a client may retry: STORE_UNAVAILABLE (or NOT_READY) with a Retry-After header. */
export function expectRetryable(res: Reply): void {
  expect(res.status).toBe(503);
  expect(['STORE_UNAVAILABLE', 'NOT_READY']).toContain(res.body.error?.code);
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
}

/** A throwaway PostgreSQL cluster, one database on it, and the env for nodes that use it. */
export class PgFaultBed {
  readonly nodes: NodeProcess[] = [];
  private readonly killed = new Set<NodeProcess>();
  private admin: pg.Client | null = null;

  private constructor(
    readonly pg: ThrowawayPostgres,
    readonly database: string,
    readonly env: Record<string, string>,
  ) {}

  static async start(extraEnv: Record<string, string> = {}): Promise<PgFaultBed> {
    const server = await ThrowawayPostgres.start();
    const database = `herald_fault_${randomUUID().replaceAll('-', '').slice(0, 8)}`;
    const url = await server.createDatabase(database);
    return new PgFaultBed(server, database, {
      DATABASE_URL: url,
      HERALD_JWT_SECRET: randomBytes(32).toString('hex'),
      HERALD_ADMIN_TOKEN: randomBytes(16).toString('hex'),
      HERALD_RELAY_POLL_MS: '100',
      HERALD_SEND_RATE_MAX: '100000',
      HERALD_PING_INTERVAL_MS: '1000',
      ...extraEnv,
    });
  }

  async node(env: Record<string, string> = {}): Promise<NodeProcess> {
    const n = await startNode({ ...this.env, ...env });
    this.nodes.push(n);
    return n;
  }

  /** Kills a node on purpose (it is then not reported as having exited on its own). */
  async kill(n: NodeProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.killed.add(n);
    await n.kill(signal);
  }

  /** No node died unless a test killed it. */
  expectNoneExited(): void {
    for (const n of this.nodes) {
      if (this.killed.has(n)) continue;
      const exited = n.proc.exitCode !== null || n.proc.signalCode !== null;
      expect(
        exited,
        `a node exited on its own (${n.proc.exitCode ?? n.proc.signalCode}):\n${n.output()}`,
      ).toBe(false);
    }
  }

  /** A direct connection to the database, for the invariant queries (reconnects after faults). */
  async db(): Promise<Queryable> {
    if (!this.admin) {
      const c = new pg.Client({ connectionString: this.env.DATABASE_URL });
      c.on('error', () => {
        if (this.admin === c) this.admin = null;
      });
      await c.connect();
      this.admin = c;
    }
    const c = this.admin;
    return { query: async (text, params) => ({ rows: (await c.query(text, params)).rows }) };
  }

  async close(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.kill('SIGKILL')));
    await this.admin?.end().catch(() => {});
    await this.pg.destroy();
  }
}

export interface World {
  tenant: string;
  token: Record<'alice' | 'bob' | 'carol', string>;
  group: string;
}

/** A tenant with alice, bob and carol in one group. */
export async function world(base: string, adminToken: string): Promise<World> {
  const t = await ok(api(base, 'POST', '/v1/tenants', adminToken, { name: 'fault test' }));
  const tenant = t.tenant_id as string;
  const token = {} as World['token'];
  for (const u of ['alice', 'bob', 'carol'] as const) {
    token[u] = (await ok(api(base, 'POST', '/v1/tokens', t.api_key as string, { user_id: u })))
      .access_token as string;
  }
  const g = await ok(
    api(base, 'POST', '/v1/conversations', token.alice, {
      kind: 'group',
      title: 'g',
      members: ['bob', 'carol'],
    }),
  );
  return { tenant, token, group: (g.conversation as { id: string }).id };
}

/**
 * Senders that keep sending until stopped, each send retried with the same Idempotency-Key
 * after a retryable 503 until it is acknowledged — what a well-behaved client does. Any other
 * failure is recorded and fails the test.
 */
export class Traffic {
  readonly acked = new Map<string, number>();
  readonly unavailable: Reply[] = [];
  readonly failures: string[] = [];
  private stopping = false;
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly base: () => string,
    private readonly token: string,
    private readonly conversation: string,
  ) {}

  start(senders = 2, max = 5_000): this {
    let n = 0;
    for (let s = 0; s < senders; s++) {
      this.loops.push(
        (async () => {
          while (!this.stopping && n < max) {
            n++;
            await this.sendOne(`s${s}-${randomUUID().slice(0, 8)}`);
          }
        })().catch(() => {}), // recorded in failures
      );
    }
    return this;
  }

  /** Sends until acknowledged; the whole outage long if need be. */
  async sendOne(clientId: string): Promise<number> {
    for (;;) {
      let res: Reply;
      try {
        res = await api(
          this.base(),
          'POST',
          `/v1/conversations/${this.conversation}/messages`,
          this.token,
          { body: `m ${clientId}` },
          { 'idempotency-key': clientId },
        );
      } catch (err) {
        this.failures.push(`${clientId}: ${String(err)}`);
        throw err;
      }
      if (res.status === 200 || res.status === 201) {
        const seq = (res.body.message as { seq: number }).seq;
        this.acked.set(clientId, seq);
        return seq;
      }
      if (
        res.status === 503 &&
        res.headers.get('retry-after') &&
        res.body.error?.code === 'STORE_UNAVAILABLE'
      ) {
        this.unavailable.push(res);
        await new Promise((r) => setTimeout(r, 100)); // a client's retry pacing, shortened
        continue;
      }
      this.failures.push(`${clientId}: ${res.status} ${JSON.stringify(res.body)}`);
      throw new Error(`send failed: ${res.status} ${JSON.stringify(res.body)}`);
    }
  }

  /** Waits until at least n more sends are acknowledged than now. */
  async progress(n: number, timeoutMs = 20_000): Promise<void> {
    const target = this.acked.size + n;
    await waitFor(() => this.acked.size >= target || this.failures.length > 0, timeoutMs, `${n} more acks`);
    expect(this.failures).toEqual([]);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled(this.loops);
    expect(this.failures).toEqual([]);
  }

  head(): number {
    return Math.max(0, ...this.acked.values());
  }
}

/** A Follower whose gap repair waits out a store outage (503) instead of giving up. */
export class PatientFollower extends Follower {
  override async repair(conversation: string, upTo: number, httpUrl: string): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        return await super.repair(conversation, upTo, httpUrl);
      } catch (err) {
        if (!/failed: 503/.test(String(err)) || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }
}

/** Waits until GET /readyz answers `status`. */
export async function readyz(base: string, status: 200 | 503, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    async () => (await fetch(`${base}/readyz`).catch(() => null))?.status === status,
    timeoutMs,
    `/readyz ${status}`,
  );
}

/** The after-fault checks: committed once, every follower holds 1..head once in order, counters recount. */
export async function expectInvariants(
  bed: PgFaultBed,
  w: World,
  traffic: Traffic,
  followers: Follower[],
): Promise<void> {
  const db = await bed.db();
  const head = await assertCommittedOnce(db, w.tenant, w.group, traffic.acked);
  expect(head).toBeGreaterThanOrEqual(traffic.head());
  for (const f of followers) {
    await f.caughtUp({ [w.group]: head }, 30_000);
    expect(f.applied.get(w.group)).toEqual(Array.from({ length: head }, (_, i) => i + 1));
  }
  expect(await recountedEntries(db, w.tenant)).toBeGreaterThan(0);
  expect(await counterDrift(db, w.tenant)).toEqual([]);
  bed.expectNoneExited();
}
