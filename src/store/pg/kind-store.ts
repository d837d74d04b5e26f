// What content kinds store, for PostgreSQL and PGlite (the domain's KindStore,
// src/domain/kind-store.ts).
import type { KindStore } from '../../domain/kind-store.ts';
import type { Sql } from '../../domain/ports.ts';

export class PgKindStore implements KindStore {
  constructor(readonly sql: Sql) {}
}
