// What store-backed commands share: the configuration, the migrated store
// and the auth service, closed again when the command is done.
import { Auth } from '../auth/service.ts';
import { type Config, loadConfig } from '../config.ts';
import type { Db } from '../store/db.ts';
import { openStore } from '../store/open.ts';

export interface CliContext {
  config: Config;
  db: Db;
  auth: Auth;
}

/** Runs fn against the configured store (the embedded one must not be in use by a running node). */
export async function withStore<T>(fn: (ctx: CliContext) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const db = await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    return await fn({ config, db, auth: await Auth.create(db, config) });
  } finally {
    await db.close();
  }
}

/** Prints a result: JSON with --json, else one `key: value` line per field. */
export function print(value: Record<string, unknown> | Record<string, unknown>[], json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    return;
  }
  for (const row of Array.isArray(value) ? value : [value]) {
    process.stdout.write(
      `${Object.entries(row)
        .map(([k, v]) => `${k}: ${v instanceof Date ? v.toISOString() : String(v)}`)
        .join('  ')}\n`,
    );
  }
}
