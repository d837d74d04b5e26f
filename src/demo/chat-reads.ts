// The demo's own HTTP reads beside the SDK's stores, and the entry it shows for a direct
// conversation just opened (before the server's first inbox entry for it arrives).
import type { HeraldClient, InboxEntry } from '@herald/client';

/** What the page knows of a conversation it just opened (GET/PUT /v1/direct/{user}). */
type Opened = Awaited<ReturnType<HeraldClient['http']['direct']>>['conversation'];

/** The conversation's members (first page: the demo's conversations are small). */
export async function memberIds(client: HeraldClient, id: string): Promise<string[]> {
  const page = await client.http.request<{ members: { user_id: string }[] }>(
    'GET',
    `/v1/conversations/${encodeURIComponent(id)}/members`,
    { query: { limit: 200 } },
  );
  return page.members.map((m) => m.user_id);
}

/** The other members' read positions (GET …/receipts); live `receipt` frames move them on. */
export async function readPositions(
  client: HeraldClient,
  id: string,
): Promise<{ user_id: string; seq: number }[]> {
  const { receipts } = await client.http.request<{ receipts: { user_id: string; seq: number }[] }>(
    'GET',
    `/v1/conversations/${encodeURIComponent(id)}/receipts`,
    {},
  );
  return receipts;
}

/** A just-opened direct conversation's entry: read to its head, version 0 (any real one wins). */
export function placeholderEntry(conversation: Opened): InboxEntry {
  return {
    conversation_id: conversation.id,
    kind: 'direct',
    title: null,
    last_seq: conversation.last_seq,
    last_read_seq: conversation.last_seq,
    unread_count: 0,
    mention_count: 0,
    archived: false,
    muted: false,
    pinned: false,
    last_activity_at: conversation.last_message?.created_at ?? new Date().toISOString(),
    last_message: conversation.last_message,
    version: 0,
  };
}
