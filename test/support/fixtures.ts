// Seed data written straight to the store: tests of the write path should
// not depend on the HTTP layer.
import { randomUUID } from 'node:crypto';
import type { Sql } from '../../src/domain/ports.ts';

/** A fresh tenant (isolation between tests sharing one store) with the given users. */
export async function seedTenant(db: Sql, users: string[] = []): Promise<string> {
  const tenant = `t_${randomUUID().slice(0, 8)}`;
  await db.query('INSERT INTO tenants (id, name) VALUES ($1, $1)', [tenant]);
  if (users.length) await seedUsers(db, tenant, users);
  return tenant;
}

export async function seedUsers(db: Sql, tenant: string, users: string[]): Promise<void> {
  await db.query(
    'INSERT INTO users (tenant_id, id) SELECT $1, u FROM unnest($2::text[]) AS u ON CONFLICT DO NOTHING',
    [tenant, users],
  );
}

/** Counts rows of a table for a tenant (asserting "nothing changed"). */
export async function countRows(db: Sql, table: string, tenant: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${table} WHERE tenant_id = $1`,
    [tenant],
  );
  return rows[0].n;
}

/** A snapshot of every tenant-scoped table's row count. */
export async function snapshot(db: Sql, tenant: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of [
    'conversations',
    'members',
    'messages',
    'events',
    'inbox_entries',
    'notices',
    'notice_entries',
    'outbox',
  ]) {
    out[t] = await countRows(db, t, tenant);
  }
  const { rows } = await db.query<{ s: number }>(
    'SELECT COALESCE(sum(last_seq), 0)::int AS s FROM conversations WHERE tenant_id = $1',
    [tenant],
  );
  out.seq_sum = rows[0].s;
  return out;
}
