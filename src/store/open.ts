import { join, resolve } from 'node:path';
import type { Db } from './db.ts';
import { migrate } from './migrate.ts';

/** Opens the configured store: a PostgreSQL server, or PGlite in dataDir. Migrates unless told not to. */
export async function openStore(opts: {
  databaseUrl: string | null;
  dataDir: string;
  migrate?: boolean;
  /** Pool size on a PostgreSQL server. */
  maxConnections?: number;
}): Promise<Db> {
  const db = opts.databaseUrl
    ? await (await import('./postgres.ts')).openPostgres(opts.databaseUrl, { max: opts.maxConnections })
    : await (await import('./pglite.ts')).openPglite(join(resolve(opts.dataDir), 'pgdata'));
  if (opts.migrate !== false) await migrate(db);
  return db;
}
