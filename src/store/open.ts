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
  /** Told what a slow first start is doing (creating the embedded store). */
  progress?: (line: string) => void;
}): Promise<Db> {
  const started = Date.now();
  const db = opts.databaseUrl
    ? await (await import('./postgres.ts')).openPostgres(opts.databaseUrl, { max: opts.maxConnections })
    : await openEmbedded(join(resolve(opts.dataDir), 'pgdata'), opts.progress);
  if (opts.migrate !== false) {
    const applied = await migrate(db);
    if (applied.length) opts.progress?.(`applied migrations ${applied.join(', ')}`);
  }
  opts.progress?.(`store ready (${db.kind}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return db;
}

async function openEmbedded(dataDir: string, progress?: (line: string) => void): Promise<Db> {
  const { seedDataDir } = await import('./pglite-template.ts');
  await seedDataDir(dataDir, progress);
  return (await import('./pglite.ts')).openPglite(dataDir);
}
