// The write side of the store besides recipient state (inbox-projection.ts), in the domain's
// words: the message log (a conversation's lock and seq, sends, events, edits and deletes),
// conversations and their membership, and what content kinds store (reactions, votes). The
// domain decides who and whether — roles, kinds, bounds, what a missing row means — and the
// store decides how: src/store/pg implements these for PostgreSQL and PGlite with the same SQL,
// keeping the bulk statements the statement-count guards hold. The host and the tests inject
// them as `DomainDeps.writes`; a handler finds them bound to its transaction as `ctx.writes`.
import type { ConversationStore } from './conversation-store.ts';
import type { KindStore } from './kind-store.ts';
import type { MessageLog } from './message-log.ts';
import type { NoticeStore } from './notice-store.ts';
import type { Sql } from './ports.ts';

export interface Writes {
  log: MessageLog;
  conversations: ConversationStore;
  kinds: KindStore;
  /** System notices sent: stored once, an entry and a frame per recipient. */
  notices: NoticeStore;
}

/** The write ports over a connection or a transaction: `writes(tx)` inside one. */
export type WriteStore = (sql: Sql) => Writes;
