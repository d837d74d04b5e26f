// What content kinds store, for PostgreSQL and PGlite (the domain's KindStore,
// src/domain/kind-store.ts): the actions' target message, and each kind's own store half
// (src/store/pg/kinds/), bound to this connection or transaction.
import type { KindName, KindStore, KindStores } from '../../domain/kind-store.ts';
import type { Sql } from '../../domain/ports.ts';
import type { Message } from '../../protocol/index.ts';
import { pgKindStores } from './kinds/index.ts';
import { toMessage } from './rows.ts';

export class PgKindStore implements KindStore {
  constructor(private readonly sql: Sql) {}

  async message(tenant: string, conversation: string, id: string): Promise<Message | null> {
    const { rows } = await this.sql.query(
      'SELECT * FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND id = $3',
      [tenant, conversation, id],
    );
    return rows[0] ? toMessage(rows[0]) : null;
  }

  of<N extends KindName>(kind: N): KindStores[N] {
    return pgKindStores[kind](this.sql);
  }
}
