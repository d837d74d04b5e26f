// Store backends for contract suites: every store test runs against PGlite
// and against this machine's PostgreSQL (an isolated database per file).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Db } from '../../src/store/db.ts';
import { migrate } from '../../src/store/migrate.ts';
import { openPglite } from '../../src/store/pglite.ts';
import { seedDataDir } from '../../src/store/pglite-template.ts';
import { openPostgres } from '../../src/store/postgres.ts';

export type Backend = 'pglite' | 'postgres';

export const PG_ADMIN_URL = process.env.HERALD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Backends available here. In CI both are required (global-setup fails otherwise). */
export function backends(): Backend[] {
  return process.env.HERALD_TEST_PG === '' ? ['pglite'] : ['pglite', 'postgres'];
}

export interface TestStore {
  db: Db;
  /** Connection URL (postgres backend only). */
  url: string | null;
  close(): Promise<void>;
}

/** Creates an empty database of a fresh name and returns its URL; drop() removes it. */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `herald_t_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  return {
    url,
    async drop() {
      const a = new pg.Client({ connectionString: PG_ADMIN_URL });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}

/** One migrated store per call: open it in beforeAll, share it across a file's tests. */
export async function openTestStore(backend: Backend): Promise<TestStore> {
  if (backend === 'pglite') {
    // A copy of the initdb'd template opens in a fraction of an in-memory create (which runs
    // initdb in WebAssembly every time): seconds saved per test file.
    const dir = mkdtempSync(join(tmpdir(), 'herald-pglite-'));
    await seedDataDir(join(dir, 'pgdata'));
    const db = await openPglite(join(dir, 'pgdata'));
    await migrate(db);
    return {
      db,
      url: null,
      async close() {
        await db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const tdb = await createTestDatabase();
  const db = await openPostgres(tdb.url, { max: 20 });
  await migrate(db);
  return {
    db,
    url: tdb.url,
    async close() {
      await db.close();
      await tdb.drop();
    },
  };
}
