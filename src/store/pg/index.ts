// The store's read side for PostgreSQL and PGlite (one SQL for both): the domain's read ports
// (src/domain/read-ports.ts) over a connection or a transaction. The host and the tests inject
// it as `DomainDeps.reads`; the domain and the use cases never import it.
import type { Sql } from '../../domain/ports.ts';
import type { ReadStore, Reads } from '../../domain/read-ports.ts';
import { PgConversationReader } from './conversations.ts';
import { PgDeliveryReader } from './delivery.ts';
import { PgLiveReader } from './live.ts';
import { PgRecipientStateReader } from './recipient-state.ts';
import { PgThreadReader } from './threads.ts';

export const pgReads: ReadStore = (sql: Sql): Reads => ({
  conversations: new PgConversationReader(sql),
  recipients: new PgRecipientStateReader(sql),
  threads: new PgThreadReader(sql),
  delivery: new PgDeliveryReader(sql),
  live: new PgLiveReader(sql),
});
