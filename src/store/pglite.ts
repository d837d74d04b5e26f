import { mkdirSync } from 'node:fs';
import { PGlite, types } from '@electric-sql/pglite';
import { counted, type Db, type Row, type Sql } from './db.ts';

// int8 and numeric as JS numbers: seqs, counts and versions stay far below 2^53.
const parsers = { [types.INT8]: (v: string) => Number(v), [types.NUMERIC]: (v: string) => Number(v) };

/** Embedded PostgreSQL in WASM. `dataDir` undefined → in memory (tests). */
export async function openPglite(dataDir?: string): Promise<Db> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const pg = await PGlite.create(dataDir, { parsers });
  let hook: ((text: string) => void) | null = null;
  const base: Sql = {
    async query<T extends Row>(text: string, params?: unknown[]) {
      const res = await pg.query<T>(text, params);
      return { rows: res.rows };
    },
    async exec(text: string) {
      await pg.exec(text);
    },
  };
  const db: Db = {
    kind: 'pglite',
    ...counted(base, () => hook),
    async transaction(fn) {
      return pg.transaction(async (tx) =>
        fn(
          counted(
            {
              async query<T extends Row>(text: string, params?: unknown[]) {
                const res = await tx.query<T>(text, params);
                return { rows: res.rows };
              },
              async exec(text: string) {
                await tx.exec(text);
              },
            },
            () => hook,
          ),
        ),
      );
    },
    async listen(channel, onNotify) {
      const unsub = await pg.listen(channel, () => onNotify());
      return async () => unsub();
    },
    onQuery(h) {
      hook = h;
    },
    async close() {
      await pg.close();
    },
  };
  return db;
}
