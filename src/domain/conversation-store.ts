// Conversations and their membership as the domain writes them. Implemented in
// src/store/pg/conversation-store.ts.

// biome-ignore lint/suspicious/noEmptyInterface: filled as the membership SQL moves out of the domain.
export interface ConversationStore {}
