import pg from 'pg';
import { counted, type Db, type Row, type Sql } from './db.ts';

const typeParsers = {
  getTypeParser(oid: number, format?: string) {
    // int8 (20) and numeric (1700) as numbers; seqs and counts stay below 2^53.
    if (oid === 20 || oid === 1700) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

export async function openPostgres(url: string, opts: { max?: number } = {}): Promise<Db> {
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10, types: typeParsers });
  let hook: ((text: string) => void) | null = null;
  let listener: pg.Client | null = null;
  const handlers = new Map<string, Set<() => void>>();
  const base: Sql = {
    async query<T extends Row>(text: string, params?: unknown[]) {
      const res = await pool.query(text, params);
      return { rows: res.rows as T[] };
    },
    async exec(text: string) {
      await pool.query(text);
    },
  };
  const db: Db = {
    kind: 'postgres',
    ...counted(base, () => hook),
    async transaction(fn) {
      const client = await pool.connect();
      const tx = counted(
        {
          async query<T extends Row>(text: string, params?: unknown[]) {
            const res = await client.query(text, params);
            return { rows: res.rows as T[] };
          },
          async exec(text: string) {
            await client.query(text);
          },
        },
        () => hook,
      );
      try {
        await client.query('BEGIN');
        const out = await fn(tx);
        await client.query('COMMIT');
        return out;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    async listen(channel, onNotify) {
      if (!listener) {
        listener = new pg.Client({ connectionString: url, types: typeParsers });
        listener.on('notification', (n) => {
          for (const h of handlers.get(n.channel) ?? []) h();
        });
        // A dead listener must not crash the process; the relay also polls.
        listener.on('error', () => {});
        await listener.connect();
      }
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
        await listener.query(`LISTEN ${pg.Client.prototype.escapeIdentifier(channel)}`);
      }
      set.add(onNotify);
      return async () => {
        set.delete(onNotify);
      };
    },
    onQuery(h) {
      hook = h;
    },
    async close() {
      await listener?.end().catch(() => {});
      await pool.end();
    },
  };
  return db;
}
