import { join, resolve } from 'node:path';
import { lockDataDir } from './data-dir-lock.ts';
import type { Db } from './db.ts';
import { migrate } from './migrate.ts';

export interface OpenStoreOptions {
  databaseUrl: string | null;
  dataDir: string;
  migrate?: boolean;
  /** Connection errors the store recovered from (PostgreSQL): for the log, never thrown. */
  onError?: (err: Error) => void;
  /** The embedded data directory's lock was taken over by another process: stop writing. */
  onLockLost?: (err: Error) => void;
}

/**
 * Opens the configured store: a PostgreSQL server, or PGlite in dataDir — locked to this
 * process first (DataDirLockedError when another process holds it). Migrates unless told not to.
 */
export async function openStore(opts: OpenStoreOptions): Promise<Db> {
  const db = opts.databaseUrl
    ? await (await import('./postgres.ts')).openPostgres(opts.databaseUrl, { onError: opts.onError })
    : await openEmbedded(resolve(opts.dataDir), opts.onLockLost);
  if (opts.migrate !== false) await migrate(db);
  return db;
}

async function openEmbedded(dataDir: string, onLost?: (err: Error) => void): Promise<Db> {
  const lock = await lockDataDir(dataDir, { onLost });
  try {
    const db = await (await import('./pglite.ts')).openPglite(join(dataDir, 'pgdata'));
    return {
      ...db,
      async close() {
        await db.close();
        await lock.release();
      },
    };
  } catch (err) {
    await lock.release();
    throw err;
  }
}
