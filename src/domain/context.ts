// The shapes every part of the domain passes around: what a handler runs with, what a send
// carries, a conversation row as the write path reads it. Types only, below everything else
// in src/domain, so kind descriptors and the write path can share them without importing
// each other.
import type { MessageInputFields } from '../protocol/schema.ts';
import type { ProjectionStore } from './inbox-projection.ts';
import type { Limits } from './limits.ts';
import type { Sql, Transactor, ViewingRegistry } from './ports.ts';
import type { ReadStore } from './read-ports.ts';
import type { WriteStore, Writes } from './write-ports.ts';

/** What the use cases run the domain with. */
export interface DomainDeps {
  db: Transactor;
  /**
   * Connections of the send path's own (group commit, send-batcher.ts), when the host has
   * them: a burst of reads — a reconnect storm's subscribes — then queues in `db`'s pool,
   * not in front of the sends. Without it, sends use `db`.
   */
  sendDb?: Transactor;
  /** The store's read side (src/store/pg), injected by the host: `reads(db)`, or `reads(tx)` in one. */
  reads: ReadStore;
  /** The store's recipient-state writes (src/store/pg), bound the same way: `projection(tx)`. */
  projection: ProjectionStore;
  /** The store's other writes (the message log, membership, kinds), bound the same way. */
  writes: WriteStore;
  limits: Limits;
  viewing: ViewingRegistry;
}

/** What a handler needs besides its command. */
export interface ComposeContext {
  tx: Sql;
  /** The store's write ports bound to `tx`. */
  writes: Writes;
  tenant: string;
  limits: Limits;
  viewing: ViewingRegistry;
  traceId?: string;
}

/**
 * What a kind sends: the protocol's message input (its one schema, src/protocol/schema.ts)
 * plus what only the system writes (a system event's structured data).
 */
export type MessageInput = MessageInputFields & { data?: Record<string, unknown> | null };

export type { ConversationRow } from './message-log.ts';
