// The store for PostgreSQL and PGlite (one SQL for both), over a connection or a transaction:
// the domain's read ports (src/domain/read-ports.ts) and its recipient-state writes
// (src/domain/inbox-projection.ts). The host and the tests inject them as `DomainDeps.reads`
// and `DomainDeps.projection`; the domain and the use cases never import them.

import type { ProjectionStore } from '../../domain/inbox-projection.ts';
import type { Sql } from '../../domain/ports.ts';
import type { ReadStore, Reads } from '../../domain/read-ports.ts';
import { PgConversationReader } from './conversations.ts';
import { PgDeliveryReader } from './delivery.ts';
import { PgInboxProjection } from './inbox-projection.ts';
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

export const pgProjection: ProjectionStore = (sql: Sql) => new PgInboxProjection(sql);
