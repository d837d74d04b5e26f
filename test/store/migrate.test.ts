import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/store/db.ts';
import { migrate } from '../../src/store/migrate.ts';
import { openPglite } from '../../src/store/pglite.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import { seedTenant } from '../support/fixtures.ts';
import { backends, createTestDatabase } from '../support/stores.ts';

const TABLES = [
  'conversations',
  'events',
  'inbox_entries',
  'members',
  'messages',
  'notice_entries',
  'notices',
  'outbox',
  'tenants',
  'users',
];

async function tables(db: Db): Promise<string[]> {
  const { rows } = await db.query<{ t: string }>(
    `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`,
  );
  return rows.map((r) => r.t);
}

async function applied(db: Db): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name');
  return rows.map((r) => r.name);
}

describe('migrate on PGlite with a data directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-migrate-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('applies once, is idempotent, and the data survives close and reopen', async () => {
    const first = await openPglite(join(dir, 'pgdata'));
    let tenant: string;
    try {
      const done = await migrate(first);
      expect(done.length).toBeGreaterThan(0);
      expect(done[0]).toBe('001_init.sql');
      expect(await migrate(first)).toEqual([]);
      expect(await applied(first)).toEqual(done);
      expect(await tables(first)).toEqual(expect.arrayContaining(TABLES));
      tenant = await seedTenant(first, ['alice']);
      await first.query("INSERT INTO outbox (tenant_id, topic, payload) VALUES ($1, 't:x', '{}')", [tenant]);
    } finally {
      await first.close();
    }
    // Reopening takes a few seconds: done once.
    const again = await openPglite(join(dir, 'pgdata'));
    try {
      expect(await migrate(again)).toEqual([]);
      const { rows } = await again.query<{ id: string }>('SELECT id FROM users WHERE tenant_id = $1', [
        tenant,
      ]);
      expect(rows).toEqual([{ id: 'alice' }]);
      const { rows: out } = await again.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM outbox WHERE tenant_id = $1',
        [tenant],
      );
      expect(out[0].n).toBe(1);
      // Sequences survive too: the next inbox version continues, it does not restart.
      const { rows: v } = await again.query<{ v: number }>("SELECT nextval('inbox_version') AS v");
      expect(Number(v[0].v)).toBeGreaterThan(0);
    } finally {
      await again.close();
    }
  });
});

describe.runIf(backends().includes('postgres'))('migrate on PostgreSQL', () => {
  it('is idempotent, and concurrent migrators apply each migration exactly once', async () => {
    const tdb = await createTestDatabase();
    const a = await openPostgres(tdb.url, { max: 2 });
    const b = await openPostgres(tdb.url, { max: 2 });
    try {
      const [ra, rb] = await Promise.all([migrate(a), migrate(b)]);
      const all = [...ra, ...rb];
      expect(all).toEqual(await applied(a));
      expect(new Set(all).size).toBe(all.length);
      expect(all[0]).toBe('001_init.sql');
      expect(await migrate(a)).toEqual([]);
      expect(await migrate(b)).toEqual([]);
      expect(await tables(a)).toEqual(expect.arrayContaining(TABLES));
    } finally {
      await a.close();
      await b.close();
      await tdb.drop();
    }
  });
});
