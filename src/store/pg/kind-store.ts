// What content kinds store, for PostgreSQL and PGlite (the domain's KindStore,
// src/domain/kind-store.ts): each kind's own store half (src/store/pg/kinds/), bound to this
// connection or transaction.
import type { KindName, KindStore, KindStores } from '../../domain/kind-store.ts';
import type { Sql } from '../../domain/ports.ts';
import { pgKindStores } from './kinds/index.ts';

export class PgKindStore implements KindStore {
  constructor(private readonly sql: Sql) {}

  of<N extends KindName>(kind: N): KindStores[N] {
    return pgKindStores[kind](this.sql);
  }
}
