// The store for PostgreSQL and PGlite (one SQL for both), over a connection or a transaction:
// the domain's read ports (src/domain/read-ports.ts) and its recipient-state writes
// (src/domain/inbox-projection.ts) and the rest of its writes (src/domain/write-ports.ts). The
// host and the tests inject them as `DomainDeps.reads`, `DomainDeps.projection` and
// `DomainDeps.writes`; the domain and the use cases never import them.

import type { ProjectionStore } from '../../domain/inbox-projection.ts';
import type { Sql } from '../../domain/ports.ts';
import type { ReadStore, Reads } from '../../domain/read-ports.ts';
import type { WriteStore, Writes } from '../../domain/write-ports.ts';
import { PgConnectionReader } from './connection.ts';
import { PgConversationStore } from './conversation-store.ts';
import { PgConversationReader } from './conversations.ts';
import { PgDeliveryReader } from './delivery.ts';
import { PgInboxProjection } from './inbox-projection.ts';
import { PgKindStore } from './kind-store.ts';
import { PgLiveReader } from './live.ts';
import { PgMessageLog } from './message-log.ts';
import { PgNoticeStore } from './notice-store.ts';
import { PgRecipientStateReader } from './recipient-state.ts';
import { PgThreadReader } from './threads.ts';

export const pgReads: ReadStore = (sql: Sql): Reads => ({
  conversations: new PgConversationReader(sql),
  recipients: new PgRecipientStateReader(sql),
  threads: new PgThreadReader(sql),
  delivery: new PgDeliveryReader(sql),
  live: new PgLiveReader(sql),
  connection: new PgConnectionReader(sql),
});

export const pgProjection: ProjectionStore = (sql: Sql) => new PgInboxProjection(sql);

export const pgWrites: WriteStore = (sql: Sql): Writes => ({
  log: new PgMessageLog(sql),
  conversations: new PgConversationStore(sql),
  kinds: new PgKindStore(sql),
  notices: new PgNoticeStore(sql),
});

/** Every port of the store, for a DomainDeps: `{ db, ...pgStore, limits, viewing }`. */
export const pgStore = { reads: pgReads, projection: pgProjection, writes: pgWrites } as const;
