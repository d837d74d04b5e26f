// The store port: the domain's Sql plus what hosts need (transactions,
// LISTEN, statement hooks). PGlite (embedded) and pg.Pool implement it.
import type { QueryOptions, Row, Sql } from '../domain/ports.ts';

export type { QueryOptions, Row, Sql };

export interface Db extends Sql {
  readonly kind: 'pglite' | 'postgres';
  /** Runs fn in one transaction; rolls back when fn throws. */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  /** LISTEN on a channel; returns an unsubscribe function. */
  listen(channel: string, onNotify: () => void): Promise<() => Promise<void>>;
  /** Observe every statement (tests count statements with it). */
  onQuery(hook: ((text: string) => void) | null): void;
  close(): Promise<void>;
}

/** Wraps a connection so the hook sees every statement, in or out of a transaction. */
export function counted(sql: Sql, hook: () => ((text: string) => void) | null): Sql {
  return {
    query<T extends Row = Row>(text: string, params?: unknown[], opts?: QueryOptions) {
      hook()?.(text);
      return sql.query<T>(text, params, opts);
    },
    exec(text: string) {
      hook()?.(text);
      return sql.exec(text);
    },
  };
}
