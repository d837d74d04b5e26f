import pg from 'pg';
import { counted, type Db, type QueryOptions, type Row, type Sql } from './db.ts';
import { asStoreError } from './unavailable.ts';

const typeParsers = {
  getTypeParser(oid: number, format?: string) {
    // int8 (20) and numeric (1700) as numbers; seqs and counts stay below 2^53.
    if (oid === 20 || oid === 1700) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

export interface PostgresOptions {
  max?: number;
  /** Connection errors of idle, checked-out and LISTEN clients (logged by the host; never thrown). */
  onError?: (err: Error) => void;
  /**
   * How long a query waits for a connection (a new one, or a free pool slot) before it fails
   * with STORE_UNAVAILABLE: while the database is down requests fail fast instead of hanging.
   */
  connectTimeoutMs?: number;
  /**
   * The server ends a session that sits idle inside a transaction this long
   * (`idle_in_transaction_session_timeout`). The relay's connections set it: a relay process
   * frozen mid-batch (SIGSTOP, a VM pause) would otherwise keep its partitions' advisory locks
   * while its connection stays open, and the other relays would skip those partitions until it
   * woke. Ending the session releases them; its unmarked rows are published again (at least once).
   */
  idleInTransactionTimeoutMs?: number;
}

/** Default bound on waiting for a connection (ms). */
export const CONNECT_TIMEOUT_MS = 5_000;

export async function openPostgres(url: string, opts: PostgresOptions = {}): Promise<Db> {
  const connection = {
    connectionString: url,
    types: typeParsers,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
    // A peer that vanished without a FIN (network partition) is noticed by TCP keepalive:
    // probes start after 10 s of silence (then at the OS's probe interval).
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    ...(opts.idleInTransactionTimeoutMs
      ? { idle_in_transaction_session_timeout: opts.idleInTransactionTimeoutMs }
      : {}),
  };
  const onError = (err: Error) => opts.onError?.(err);
  const pool = new pg.Pool({ ...connection, max: opts.max ?? 10 });
  // An idle client that loses its connection (server restart, admin kill) is emitted on the
  // pool; without a listener that 'error' event would crash the process. The pool drops it.
  pool.on('error', onError);
  // pool.end() resolves before its clients have finished closing; close() waits for them so a
  // caller that drops the database right after does not kill half-closed connections.
  const open = new Set<pg.PoolClient>();
  pool.on('connect', (client) => {
    // Every client listens for 'error' for as long as it lives. The pool's own listeners
    // cover a client only while it is idle or once during pool.query: a backend killed
    // mid-query emits twice ("terminating connection", then "Connection terminated"), and
    // the second 'error' without a listener took the process down (test/fault, under load).
    client.on('error', onError);
    open.add(client);
    client.once('end', () => open.delete(client));
  });
  let hook: ((text: string) => void) | null = null;
  let listener: pg.Client | null = null;
  let connecting: Promise<pg.Client> | null = null;
  let closed = false;
  const handlers = new Map<string, Set<() => void>>();

  // The LISTEN connection is long-lived: when it drops (server restart, idle kill) it is
  // re-established with backoff and every handler is woken once, since notifications sent
  // meanwhile are lost. Without this the relay would silently fall back to polling forever.
  const wakeAll = () => {
    for (const set of handlers.values()) for (const h of set) h();
  };
  const connectListener = async (): Promise<pg.Client> => {
    const client = new pg.Client(connection);
    client.on('notification', (n) => {
      for (const h of handlers.get(n.channel) ?? []) h();
    });
    // 'end' follows an error; reconnecting happens there. The error must not crash the process.
    client.on('error', onError);
    client.on('end', () => {
      if (listener !== client) return;
      listener = null;
      if (!closed) reconnect(0);
    });
    await client.connect();
    try {
      for (const channel of handlers.keys()) {
        await client.query(`LISTEN ${pg.Client.prototype.escapeIdentifier(channel)}`);
      }
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
    listener = client;
    return client;
  };
  const ensureListener = (): Promise<pg.Client> => {
    if (listener) return Promise.resolve(listener);
    connecting ??= connectListener().finally(() => {
      connecting = null;
    });
    return connecting;
  };
  const reconnect = (attempt: number) => {
    const timer = setTimeout(
      () => {
        if (closed) return;
        ensureListener().then(wakeAll, () => reconnect(attempt + 1));
      },
      Math.min(100 * 2 ** attempt, 5_000),
    );
    timer.unref();
  };
  // Every statement's connection failure leaves the store as STORE_UNAVAILABLE (retryable);
  // SQL errors pass through as they are.
  const base: Sql = {
    async query<T extends Row>(text: string, params?: unknown[], o?: QueryOptions) {
      const res = await pool.query({ text, values: params, name: o?.name }).catch(rethrow);
      return { rows: res.rows as T[] };
    },
    async exec(text: string) {
      await pool.query(text).catch(rethrow);
    },
  };
  const db: Db = {
    kind: 'postgres',
    ...counted(base, () => hook),
    async transaction(fn) {
      // The client's 'error' listener is set on connect (above); a failed statement rejects on
      // its own, and a broken client is destroyed on release below.
      const client = await pool.connect().catch(rethrow);
      const tx = counted(
        {
          async query<T extends Row>(text: string, params?: unknown[], o?: QueryOptions) {
            const res = await client.query({ text, values: params, name: o?.name }).catch(rethrow);
            return { rows: res.rows as T[] };
          },
          async exec(text: string) {
            await client.query(text).catch(rethrow);
          },
        },
        () => hook,
      );
      let broken = false;
      try {
        await client.query('BEGIN');
        const out = await fn(tx);
        await client.query('COMMIT');
        return out;
      } catch (err) {
        // A connection that cannot even roll back is broken: destroy it rather than pool it.
        broken = await client.query('ROLLBACK').then(
          () => false,
          () => true,
        );
        // A COMMIT cut off by a lost connection may or may not have committed: the client's
        // retry with the same idempotency key finds out without writing twice.
        throw asStoreError(err);
      } finally {
        client.release(broken || undefined);
      }
    },
    async listen(channel, onNotify) {
      let set = handlers.get(channel);
      const fresh = !set;
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
      }
      set.add(onNotify);
      if (!listener) {
        // LISTENs on every channel, this one included. When the server is unreachable now,
        // keep trying in the background: the caller polls meanwhile.
        await ensureListener().catch((err) => {
          reconnect(0);
          throw asStoreError(err);
        });
      } else if (fresh) await listener.query(`LISTEN ${pg.Client.prototype.escapeIdentifier(channel)}`);
      return async () => {
        set.delete(onNotify);
      };
    },
    onQuery(h) {
      hook = h;
    },
    async close() {
      closed = true;
      await connecting?.catch(() => {});
      await listener?.end().catch(() => {});
      const closing = [...open].map((c) => new Promise<void>((resolve) => c.once('end', () => resolve())));
      await pool.end();
      await Promise.all(closing);
    },
  };
  return db;
}

function rethrow(err: unknown): never {
  throw asStoreError(err);
}
