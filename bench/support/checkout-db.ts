// A throwaway PostgreSQL database migrated by the migrations of the checkout in `dir` (a
// before/after of SQL needs each side's own), and the domain's deps over it.
import type { DomainDeps } from '../../src/domain/context.ts';
import { defaultLimits } from '../../src/domain/limits.ts';
import { nobodyViewing } from '../../src/domain/ports.ts';
import type { Db } from '../../src/store/db.ts';
import { pgStore } from '../../src/store/pg/index.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import { createTestDatabase } from '../../test/support/stores.ts';

export async function checkoutDatabase(
  dir: string,
  pool: number,
): Promise<{ tdb: { url: string; drop(): Promise<void> }; db: Db; deps: DomainDeps }> {
  const tdb = await createTestDatabase();
  const db = await openPostgres(tdb.url, { max: pool });
  const { migrate } = await import(`${dir}/src/store/migrate.ts`);
  await migrate(db);
  return { tdb, db, deps: { db, ...pgStore, limits: defaultLimits, viewing: nobodyViewing } };
}
