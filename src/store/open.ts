import { join, resolve } from 'node:path';
import { lockDataDir } from './data-dir-lock.ts';
import type { Db } from './db.ts';
import { migrate } from './migrate.ts';

export interface OpenStoreOptions {
  databaseUrl: string | null;
  dataDir: string;
  migrate?: boolean;
  /** Pool size on a PostgreSQL server. */
  maxConnections?: number;
  /** PostgreSQL ends a session idle inside a transaction this long (see PostgresOptions). */
  idleInTransactionTimeoutMs?: number;
  /** Told what a slow first start is doing (creating the embedded store). */
  progress?: (line: string) => void;
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
  const started = Date.now();
  const db = opts.databaseUrl
    ? await (await import('./postgres.ts')).openPostgres(opts.databaseUrl, {
        max: opts.maxConnections,
        onError: opts.onError,
        idleInTransactionTimeoutMs: opts.idleInTransactionTimeoutMs,
      })
    : await openEmbedded(resolve(opts.dataDir), opts.onLockLost, opts.progress);
  if (opts.migrate !== false) {
    const applied = await migrate(db);
    if (applied.length) opts.progress?.(`applied migrations ${applied.join(', ')}`);
  }
  opts.progress?.(`store ready (${db.kind}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return db;
}

async function openEmbedded(
  dataDir: string,
  onLost?: (err: Error) => void,
  progress?: (line: string) => void,
): Promise<Db> {
  // The lock comes first: two processes must not even seed the directory at once.
  const lock = await lockDataDir(dataDir, { onLost });
  try {
    const pgdata = join(dataDir, 'pgdata');
    await (await import('./pglite-template.ts')).seedDataDir(pgdata, progress);
    const db = await (await import('./pglite.ts')).openPglite(pgdata);
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
