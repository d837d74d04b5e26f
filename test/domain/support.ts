// Helpers shared by the domain, relay and store suites: one store per backend
// per file (PGlite is expensive to open), read-back queries and error checks.
import { afterAll, beforeAll, expect } from 'vitest';
import { type DomainDeps, execute } from '../../src/domain/commands.ts';
import type { MessageInput } from '../../src/domain/compose.ts';
import { createConversation } from '../../src/domain/conversations.ts';
import { defaultLimits, type Limits } from '../../src/domain/limits.ts';
import { nobodyViewing, type ViewingRegistry } from '../../src/domain/ports.ts';
import { HeraldError } from '../../src/protocol/index.ts';
import type { Db } from '../../src/store/db.ts';
import { pgStore } from '../../src/store/pg/index.ts';
import { seedTenant } from '../support/fixtures.ts';
import { type Backend, openTestStore, type TestStore } from '../support/stores.ts';

/** Opens the backend's store in beforeAll and closes it in afterAll; call inside describe. */
export function useStore(backend: Backend): { readonly db: Db; readonly store: TestStore } {
  let store: TestStore | undefined;
  beforeAll(async () => {
    store = await openTestStore(backend);
  });
  afterAll(async () => {
    await store?.close();
  });
  return {
    get db() {
      if (!store) throw new Error('store not open');
      return store.db;
    },
    get store() {
      if (!store) throw new Error('store not open');
      return store;
    },
  };
}

export function depsOf(
  db: Db,
  opts: { limits?: Partial<Limits>; viewing?: ViewingRegistry } = {},
): DomainDeps {
  return {
    db,
    ...pgStore,
    limits: { ...defaultLimits, ...opts.limits },
    viewing: opts.viewing ?? nobodyViewing,
  };
}

/** Asserts the promise rejects with a HeraldError of this code. */
/**
 * A fresh tenant with `users` and a group of them created by the first, and `send`: a group
 * message of one of them, through the command path (group commit included).
 */
export async function groupOf(db: Db, users: [string, ...string[]]) {
  const deps = depsOf(db);
  const tenant = await seedTenant(db, users);
  const [creator, ...members] = users;
  const { id } = await createConversation(
    deps,
    tenant,
    { type: 'user', user_id: creator },
    { kind: 'group', title: 'g', members },
  );
  const send = async (sender: string, input: MessageInput) =>
    (await execute(deps, tenant, { kind: 'GroupMessage', sender, conversation: id, input })).message;
  return { deps, tenant, id, send };
}

export async function expectCode(p: Promise<unknown>, code: string): Promise<HeraldError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${code}`).toBeInstanceOf(HeraldError);
  expect((caught as HeraldError).code).toBe(code);
  return caught as HeraldError;
}

export interface OutboxRow {
  id: number;
  topic: string;
  // biome-ignore lint/suspicious/noExplicitAny: frames are inspected loosely in tests.
  payload: any;
  published: boolean;
}

/** Outbox rows of a tenant in id order, optionally those with id > after. */
export async function outboxOf(db: Db, tenant: string, after = 0): Promise<OutboxRow[]> {
  const { rows } = await db.query<{ id: number; topic: string; payload: unknown; published: boolean }>(
    `SELECT id, topic, payload, published_at IS NOT NULL AS published FROM outbox
      WHERE tenant_id = $1 AND id > $2 ORDER BY id`,
    [tenant, after],
  );
  return rows.map((r) => ({ ...r, id: Number(r.id) }));
}

/** The highest outbox id so far (to look only at what a step wrote). */
export async function outboxHead(db: Db): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT COALESCE(max(id), 0)::int AS n FROM outbox');
  return rows[0].n;
}

export interface InboxRow {
  user_id: string;
  last_read_seq: number;
  unread_count: number;
  mention_count: number;
  version: number;
}

export async function inboxOf(db: Db, tenant: string, conversation: string): Promise<InboxRow[]> {
  const { rows } = await db.query<InboxRow & Record<string, unknown>>(
    `SELECT user_id, last_read_seq, unread_count, mention_count, version FROM inbox_entries
      WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY user_id`,
    [tenant, conversation],
  );
  return rows.map((r) => ({ ...r, version: Number(r.version) }));
}

export async function eventsOf(
  db: Db,
  tenant: string,
  conversation: string,
): Promise<{ seq: number; type: string; message_id: string; payload: Record<string, unknown> }[]> {
  const { rows } = await db.query<{
    seq: number;
    type: string;
    message_id: string;
    payload: Record<string, unknown>;
  }>(
    'SELECT seq, type, message_id, payload FROM events WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY seq',
    [tenant, conversation],
  );
  return rows;
}

export async function messageRow(db: Db, tenant: string, id: string): Promise<Record<string, unknown>> {
  const { rows } = await db.query('SELECT * FROM messages WHERE tenant_id = $1 AND id = $2', [tenant, id]);
  expect(rows).toHaveLength(1);
  return rows[0];
}

export async function headSeq(db: Db, tenant: string, conversation: string): Promise<number> {
  const { rows } = await db.query<{ last_seq: number }>(
    'SELECT last_seq FROM conversations WHERE tenant_id = $1 AND id = $2',
    [tenant, conversation],
  );
  return rows[0].last_seq;
}

export const roomTopic = (tenant: string, conversation: string) => `t:${tenant}:c:${conversation}`;
export const userTopic = (tenant: string, user: string) => `t:${tenant}:u:${user}`;

/** Users u0..u{n-1} (padded so they sort by number). */
export function userNames(n: number, prefix = 'u'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);
}

/**
 * Resolves once check() holds; fails after `limitMs` (a bound on "never happens", not a
 * measurement: callers pick a limit far beyond the expected path, e.g. NOTIFY vs a 60 s poll).
 */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  limitMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
