// Conversations and membership for PostgreSQL and PGlite (the domain's ConversationStore,
// src/domain/conversation-store.ts).
import type { ConversationStore } from '../../domain/conversation-store.ts';
import type { Sql } from '../../domain/ports.ts';

export class PgConversationStore implements ConversationStore {
  constructor(readonly sql: Sql) {}
}
